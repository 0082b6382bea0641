//! Parsing of notifications into dialect-free [`crate::event`] types: what both dialects share
//! (transcript entries, participants, channel state, tolerant field access) lives here, each
//! dialect's envelope in its own file (`interactions`, `chats`).
//!
//! Bad input never panics: it becomes [`Parsed::Ignored`] or [`Parsed::Unknown`] for the
//! caller to log.

pub(crate) mod chats;
pub(crate) mod interactions;
pub(crate) mod json;

use json::Json;

use crate::event::{
    ChatUpdate, Event, Message, MessageKind, Participant, ParticipantKind, UpdateKind, Visibility,
};

/// Chat notifications of the `interactions` dialect.
pub const INTERACTIONS_TOPIC: &str = "/v2/me/interactions";
/// The same topic on older builds.
pub const LEGACY_INTERACTIONS_TOPIC: &str = "/me/interactions";
/// Chat notifications of the `chats` dialect.
pub const CHATS_TOPIC: &str = "/v2/me/chats";
/// Agent channel state notifications (both dialects).
pub const CHANNELS_TOPIC: &str = "/v2/me/channels";

/// `messageType` of agent channel state changes.
const CHANNEL_STATE_MESSAGE_TYPE: &str = "ChannelStateChangeMessage";
/// Fields that may carry the description of an `Error` notification.
const ERROR_FIELDS: [&str; 3] = ["errorMessage", "statusMessage", "errorDescription"];

/// What one notification turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Something the daemon acts on.
    Event(Event),
    /// Understood but of no interest, or unusable (e.g. a chat notification without an id).
    Ignored(&'static str),
    /// A message type this build does not know: log once at WARN, raw JSON at DEBUG.
    Unknown { message_type: String },
}

/// Copy what a chat object says about the chat (state, capabilities, participants, user data)
/// into `update`. Fields that are missing or of the wrong type stay `None` ("unchanged").
fn fill_chat<J: Json>(update: &mut ChatUpdate, chat: &J) {
    update.state = str_of(chat, &["state"]).map(str::to_owned);
    update.capabilities = chat.get("capabilities").and_then(J::as_array).map(|caps| {
        caps.iter()
            .filter_map(J::as_str)
            .map(str::to_owned)
            .collect()
    });
    update.participants = chat
        .get("participants")
        .and_then(J::as_array)
        .map(|ps| ps.iter().filter_map(participant).collect());
    update.user_data = chat.get("userData").and_then(J::to_members);
}

fn parse_channel_state<J: Json>(data: &J) -> Parsed {
    let channels = data
        .get("channels")
        .and_then(J::as_array)
        .unwrap_or_default();
    let chat = channels
        .iter()
        .find(|c| str_of(*c, &["channel"]).is_some_and(|n| n.eq_ignore_ascii_case("chat")))
        .or_else(|| channels.iter().find(|c| c.get("channel").is_none()));
    let state = chat
        .and_then(|c| c.get("userState"))
        .and_then(|s| str_of(s, &["state", "displayName"]));
    match state {
        Some(state) => Parsed::Event(Event::ChannelState {
            state: state.to_owned(),
        }),
        None => Parsed::Ignored("channel state change without a chat channel state"),
    }
}

fn update_kind(name: Option<&str>) -> UpdateKind {
    match name {
        Some("NewInteraction") => UpdateKind::NewInteraction,
        Some("StatusChange") => UpdateKind::StatusChange,
        Some("ParticipantsUpdated") => UpdateKind::ParticipantsUpdated,
        Some("PropertiesUpdated") => UpdateKind::PropertiesUpdated,
        Some("NewMessages") => UpdateKind::NewMessages,
        Some("ChatHistory") => UpdateKind::ChatHistory,
        Some("Error") => UpdateKind::Error,
        Some(other) => UpdateKind::Other(other.to_owned()),
        None => UpdateKind::Other(String::new()),
    }
}

fn participant<J: Json>(v: &J) -> Option<Participant> {
    if !v.is_object() {
        return None;
    }
    let kind = match str_of(v, &["type", "participantType"]) {
        Some(t) if t.eq_ignore_ascii_case("Customer") => ParticipantKind::Customer,
        Some(t) if t.eq_ignore_ascii_case("Agent") => ParticipantKind::Agent,
        _ => ParticipantKind::Other,
    };
    Some(Participant {
        kind,
        nickname: str_of(v, &["nickname", "nickName"]).map(str::to_owned),
        participant_id: id_of(v, &["participantId", "id"]),
        user: id_of(v, &["userId", "agentId"]).or_else(|| {
            ["uri", "path"]
                .iter()
                .filter_map(|k| v.get(k).and_then(J::as_str))
                .find_map(user_in_uri)
        }),
    })
}

/// The user id a participant's `uri` (`{api}/users/{id}`) or `path` (`/users/{id}`) names;
/// `None` for any other resource (docs/gws-protocol.md, the readings section).
fn user_in_uri(uri: &str) -> Option<String> {
    let path = uri.split(['?', '#']).next()?.trim_end_matches('/');
    let (head, id) = path.rsplit_once('/')?;
    if !(head.ends_with("/users") || head == "users") || id.is_empty() {
        return None;
    }
    let id = percent_encoding::percent_decode_str(id)
        .decode_utf8()
        .ok()?;
    Some(id.into_owned())
}

/// The array under `key` of a response, or the response itself when it is a bare array;
/// empty when neither.
fn entries<'a, J: Json>(body: &'a J, key: &str) -> &'a [J] {
    match body.as_array() {
        Some(items) => items,
        None => array(body, key),
    }
}

/// The array under `key`; empty when there is none.
fn array<'a, J: Json>(v: &'a J, key: &str) -> &'a [J] {
    v.get(key).and_then(J::as_array).unwrap_or_default()
}

/// The transcript entries of an array; what is not an entry is skipped.
fn messages<J: Json>(entries: &[J]) -> Vec<Message> {
    entries.iter().filter_map(message).collect()
}

fn message<J: Json>(v: &J) -> Option<Message> {
    if !v.is_object() {
        return None;
    }
    let kind = match str_of(v, &["type", "messageType"]).unwrap_or_default() {
        "Text" => MessageKind::Text,
        "ParticipantJoined" => MessageKind::ParticipantJoined,
        "ParticipantLeft" => MessageKind::ParticipantLeft,
        "ParticipantRejoined" => MessageKind::ParticipantRejoined,
        "TypingStarted" => MessageKind::TypingStarted,
        "TypingStopped" => MessageKind::TypingStopped,
        "PushUrl" => MessageKind::PushUrl,
        "Notice" => MessageKind::Notice,
        "CustomNotice" => MessageKind::CustomNotice,
        "NicknameUpdated" => MessageKind::NicknameUpdated,
        other => MessageKind::Other(other.to_owned()),
    };
    let text_fields: &[&str] = match kind {
        MessageKind::PushUrl => &["url", "text"],
        MessageKind::Notice | MessageKind::CustomNotice => &["noticeText", "text"],
        _ => &["text"],
    };
    let from = v.get("from").and_then(participant).unwrap_or_default();
    Some(Message {
        event_id: id_of(v, &["eventId", "index"]),
        kind,
        text: str_of(v, text_fields).map(str::to_owned),
        visibility: visibility(str_of(v, &["visibility"])),
        from,
    })
}

/// Missing visibility means everyone; an unknown value is treated as agent-only, so that the
/// bot never answers something the customer may not have seen.
fn visibility(v: Option<&str>) -> Visibility {
    match v {
        None => Visibility::All,
        Some(s) if s.eq_ignore_ascii_case("All") || s.eq_ignore_ascii_case("Public") => {
            Visibility::All
        }
        Some(s) if s.eq_ignore_ascii_case("Supervisors") => Visibility::Supervisors,
        Some(_) => Visibility::Agents,
    }
}

/// The first of `keys` that holds a string.
fn str_of<'a, J: Json>(v: &'a J, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| v.get(k).and_then(J::as_str))
}

/// The first of `keys` that holds a non-empty string or a number, as a string.
fn id_of<J: Json>(v: &J, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| {
        let v = v.get(k)?;
        match (v.as_str(), v.as_number()) {
            (Some(s), _) if !s.trim().is_empty() => Some(s.to_owned()),
            (_, Some(n)) => Some(n.to_string()),
            _ => None,
        }
    })
}

/// A non-negative integer given as a number or a numeric string.
pub(crate) fn u64_of<J: Json>(v: Option<&J>) -> Option<u64> {
    let v = v?;
    match (v.as_number(), v.as_str()) {
        (Some(n), _) => n.as_u64(),
        (_, Some(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn numbers() {
        assert_eq!(u64_of(Some(&json!(5))), Some(5));
        assert_eq!(u64_of(Some(&json!(" 6 "))), Some(6));
        assert_eq!(u64_of(Some(&json!(-1))), None);
        assert_eq!(u64_of(Some(&json!("x"))), None);
        assert_eq!(u64_of::<Value>(None), None);
    }

    #[test]
    fn a_participant_names_its_user_only_by_uri_path_or_user_id() {
        let user = |v: Value| participant(&v).and_then(|p| p.user);
        let minimal = json!({"type":"Agent","nickname":"Sam","participantId":"00AF52FCF0C0002F"});
        assert_eq!(user(minimal.clone()), None);
        assert_eq!(
            participant(&minimal).unwrap().participant_id.as_deref(),
            Some("00AF52FCF0C0002F")
        );
        let named = json!({"type":"Agent","participantId":"00AF",
            "uri":"http://gws:8080/api/v2/users/agent%2D7","path":"/users/agent%2D7"});
        assert_eq!(user(named), Some("agent-7".into()));
        assert_eq!(
            user(json!({"type":"Agent","path":"/users/a7/"})),
            Some("a7".into())
        );
        assert_eq!(
            user(json!({"type":"Agent","userId":"a8"})),
            Some("a8".into())
        );
        assert_eq!(user(json!({"type":"Agent","agentId":9})), Some("9".into()));
        // A uri that names another resource is not a user.
        assert_eq!(
            user(json!({"type":"Agent","uri":"http://gws/api/v2/chats/c1"})),
            None
        );
        assert_eq!(
            user(json!({"type":"Agent","uri":"http://gws/api/v2/queues/x","path":"/users/a1"})),
            Some("a1".into())
        );
        assert_eq!(
            user(json!({"type":"Agent","uri":"http://gws/api/v2/users/"})),
            None
        );
    }
}
