//! The wire names of chat operations, in one table that configuration can override.
//!
//! The seed page spells some operations oddly (`StartChatConsultation` under the heading
//! InitiateConsultation, `LeaveChatConsultation` under CompleteConference, the field
//! `notifcation`). Real servers may differ, so every name lives here and nowhere else.

use std::collections::BTreeMap;

/// `(Operation::label(), default operationName)` for every chat operation.
const DEFAULT_OPERATION_NAMES: [(&str, &str); 13] = [
    ("accept", "Accept"),
    ("reject", "Reject"),
    ("send_message", "SendMessage"),
    ("typing_started", "SendNotification"),
    ("typing_stopped", "SendNotification"),
    ("transfer_agent", "Transfer"),
    ("transfer_skill", "Transfer"),
    ("stop_processing", "StopProcessing"),
    ("request_chat_history", "RequestChatHistory"),
    ("start_consultation", "StartChatConsultation"),
    ("complete_transfer", "CompleteTransfer"),
    ("complete_conference", "LeaveChatConsultation"),
    ("update_user_data", "UpdateUserData"),
];

/// Override key: the value sent for typing on.
pub const KEY_TYPING_STARTED_VALUE: &str = "typing_started_value";
/// Override key: the value sent for typing off.
pub const KEY_TYPING_STOPPED_VALUE: &str = "typing_stopped_value";
/// Override key: comma-separated field names that carry the typing value.
pub const KEY_TYPING_FIELDS: &str = "typing_fields";

/// Wire names of the chat operations of the `interactions` dialect (the `chats` dialect's
/// names are confirmed by public Genesys material and fixed in `dialect::chats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationNames {
    /// `operationName` per `Operation::label()`.
    names: BTreeMap<&'static str, String>,
    /// The value sent for typing on (`TypingStarted`).
    pub typing_started_value: String,
    /// The value sent for typing off (`TypingStopped`).
    pub typing_stopped_value: String,
    /// Fields that carry the typing value; the seed's `notifcation` and the plain spelling.
    pub typing_fields: Vec<String>,
}

impl Default for OperationNames {
    fn default() -> Self {
        OperationNames {
            names: DEFAULT_OPERATION_NAMES
                .iter()
                .map(|(label, name)| (*label, (*name).to_owned()))
                .collect(),
            typing_started_value: "TypingStarted".into(),
            typing_stopped_value: "TypingStopped".into(),
            typing_fields: vec!["notifcation".into(), "notification".into()],
        }
    }
}

impl OperationNames {
    /// The `operationName` for an operation label (`Operation::label()`).
    pub fn get<'a>(&'a self, label: &'a str) -> &'a str {
        self.names.get(label).map(String::as_str).unwrap_or(label)
    }

    /// Every key [`OperationNames::apply_overrides`] accepts.
    pub fn keys() -> Vec<&'static str> {
        let mut keys: Vec<_> = DEFAULT_OPERATION_NAMES.iter().map(|(k, _)| *k).collect();
        keys.extend([
            KEY_TYPING_STARTED_VALUE,
            KEY_TYPING_STOPPED_VALUE,
            KEY_TYPING_FIELDS,
        ]);
        keys
    }

    /// Override names from configuration. Keys are `Operation::label()` values (plus
    /// `typing_started_value`, `typing_stopped_value` and `typing_fields`, a comma-separated
    /// list). All problems are reported at once; on error nothing is changed.
    pub fn apply_overrides(&mut self, overrides: &BTreeMap<String, String>) -> Result<(), String> {
        let mut next = self.clone();
        let mut problems = Vec::new();
        for (key, value) in overrides {
            let value = value.trim();
            if value.is_empty() {
                problems.push(format!("operation name `{key}` is empty"));
                continue;
            }
            match key.as_str() {
                KEY_TYPING_STARTED_VALUE => next.typing_started_value = value.to_owned(),
                KEY_TYPING_STOPPED_VALUE => next.typing_stopped_value = value.to_owned(),
                KEY_TYPING_FIELDS => {
                    next.typing_fields = value
                        .split(',')
                        .map(str::trim)
                        .filter(|f| !f.is_empty())
                        .map(str::to_owned)
                        .collect();
                    if next.typing_fields.is_empty() {
                        problems.push(format!("`{key}` lists no field name"));
                    }
                }
                other => match DEFAULT_OPERATION_NAMES.iter().find(|(k, _)| *k == other) {
                    Some((label, _)) => {
                        next.names.insert(label, value.to_owned());
                    }
                    None => problems.push(format!(
                        "unknown operation `{other}` (known: {})",
                        Self::keys().join(", ")
                    )),
                },
            }
        }
        if problems.is_empty() {
            *self = next;
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gws::Operation;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_operation_label_has_a_default() {
        let names = OperationNames::default();
        let ops = [
            Operation::Accept {
                nickname: String::new(),
            },
            Operation::Reject,
            Operation::SendMessage {
                text: String::new(),
            },
            Operation::Typing(true),
            Operation::Typing(false),
            Operation::TransferToAgent {
                agent_id: String::new(),
            },
            Operation::TransferToSkill {
                skill: String::new(),
            },
            Operation::StopProcessing,
            Operation::RequestChatHistory { event_id: None },
            Operation::StartConsultation {
                agent_id: String::new(),
            },
            Operation::CompleteTransfer {
                agent_id: String::new(),
            },
            Operation::CompleteConference {
                agent_id: String::new(),
            },
            Operation::UpdateUserData {
                user_data: Default::default(),
            },
        ];
        for op in ops {
            assert!(
                names.names.contains_key(op.label()),
                "no default for {}",
                op.label()
            );
        }
        assert_eq!(names.get("start_consultation"), "StartChatConsultation");
        assert_eq!(names.get("complete_conference"), "LeaveChatConsultation");
    }

    #[test]
    fn overrides_replace_names() {
        let mut names = OperationNames::default();
        names
            .apply_overrides(&map(&[
                ("complete_conference", "CompleteConference"),
                ("typing_fields", "notification, "),
            ]))
            .unwrap();
        assert_eq!(names.get("complete_conference"), "CompleteConference");
        assert_eq!(names.typing_fields, ["notification"]);
    }

    #[test]
    fn bad_overrides_are_all_reported_and_change_nothing() {
        let mut names = OperationNames::default();
        let err = names
            .apply_overrides(&map(&[
                ("accept", "AcceptChat"),
                ("initiate_consultation", "X"),
                ("reject", "  "),
            ]))
            .unwrap_err();
        assert!(
            err.contains("unknown operation `initiate_consultation`"),
            "{err}"
        );
        assert!(err.contains("`reject` is empty"), "{err}");
        assert_eq!(names, OperationNames::default(), "no partial update");
    }
}
