//! Parsing of `interactions`-dialect notifications (`docs/gws-protocol.md` §6.2) and of its chat
//! listing.
//!
//! Tolerant by design: the payload may sit under `data.interaction` or at the top level of
//! `data`, the type may be `messageType` or `messageTypeName`, ids may be strings or numbers,
//! and every optional field may be missing. Bad input never panics; it becomes
//! [`Parsed::Ignored`] or [`Parsed::Unknown`] for the caller to log.

use super::json::Json;
use super::{
    CHANNEL_STATE_MESSAGE_TYPE, CHANNELS_TOPIC, ERROR_FIELDS, INTERACTIONS_TOPIC,
    LEGACY_INTERACTIONS_TOPIC, Parsed, entries, fill_chat, id_of, messages, parse_channel_state,
    str_of, u64_of, update_kind,
};
use crate::event::{ChatId, ChatUpdate, Event, UpdateKind};

/// `messageType` values that carry a chat interaction.
const CHAT_MESSAGE_TYPES: &[&str] = &["InteractionStateMessage"];

/// Parse one CometD message of the `interactions` dialect.
pub(crate) fn parse_interactions<J: Json>(channel: &str, data: &J) -> Parsed {
    if !data.is_object() {
        return Parsed::Ignored("notification payload is not a JSON object");
    }
    let message_type = str_of(data, &["messageType", "messageTypeName"]);
    match message_type {
        Some(t) if t == CHANNEL_STATE_MESSAGE_TYPE => parse_channel_state(data),
        Some(t) if CHAT_MESSAGE_TYPES.contains(&t) => parse_chat(data),
        Some(t) => Parsed::Unknown {
            message_type: t.to_owned(),
        },
        None if is_interactions_channel(channel)
            && (data.get("interaction").is_some() || data.get("notificationType").is_some()) =>
        {
            parse_chat(data)
        }
        None if channel == CHANNELS_TOPIC && data.get("channels").is_some() => {
            parse_channel_state(data)
        }
        None => Parsed::Unknown {
            message_type: String::new(),
        },
    }
}

/// The chats of a listing: `{"statusCode":0,"<key>":[…]}` or a bare array. Each entry is
/// reported as a `StatusChange` snapshot.
pub(crate) fn parse_listing<J: Json>(body: &J, key: &str) -> Vec<ChatUpdate> {
    entries(body, key)
        .iter()
        .filter_map(|entry| {
            let inter = interaction_of(entry);
            chat_update(inter, entry, Some(UpdateKind::StatusChange)).ok()
        })
        .collect()
}

fn is_interactions_channel(channel: &str) -> bool {
    channel == INTERACTIONS_TOPIC || channel == LEGACY_INTERACTIONS_TOPIC
}

fn parse_chat<J: Json>(data: &J) -> Parsed {
    match chat_update(interaction_of(data), data, None) {
        Ok(update) => Parsed::Event(Event::Chat(update)),
        Err(reason) => Parsed::Ignored(reason),
    }
}

/// `data.interaction` when it is an object, else `data` itself (older builds).
fn interaction_of<J: Json>(data: &J) -> &J {
    data.get("interaction")
        .filter(|v| v.is_object())
        .unwrap_or(data)
}

/// Build an update from the interaction object `inter` and its envelope `outer` (the same value
/// for top-level payloads). `kind` overrides `notificationType` (used for listings).
fn chat_update<J: Json>(
    inter: &J,
    outer: &J,
    kind: Option<UpdateKind>,
) -> Result<ChatUpdate, &'static str> {
    if !inter.is_object() {
        return Err("chat entry is not a JSON object");
    }
    if let Some(channel) = str_of(inter, &["channel"]) {
        if !channel.eq_ignore_ascii_case("chat") {
            return Err("interaction on another channel than chat");
        }
    }
    let id = id_of(inter, &["id", "interactionId"])
        .or_else(|| id_of(outer, &["interactionId"]))
        .ok_or("chat notification without an interaction id")?;
    let kind = kind.unwrap_or_else(|| {
        update_kind(str_of(outer, &["notificationType"]).or(str_of(inter, &["notificationType"])))
    });
    let mut update = ChatUpdate::new(ChatId(id), kind);
    update.reference_id = u64_of(outer.get("referenceId")).or(u64_of(inter.get("referenceId")));
    fill_chat(&mut update, inter);
    let list = [outer, inter]
        .into_iter()
        .find_map(|v| v.get("messages").and_then(J::as_array));
    update.messages = messages(list.unwrap_or_default());
    update.error = str_of(outer, &ERROR_FIELDS)
        .or(str_of(inter, &ERROR_FIELDS))
        .map(str::to_owned);
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{MessageKind, ParticipantKind, Visibility};
    use crate::gws::Capability;
    use serde_json::json;

    fn chat(parsed: Parsed) -> ChatUpdate {
        match parsed {
            Parsed::Event(Event::Chat(update)) => update,
            other => panic!("not a chat update: {other:?}"),
        }
    }

    #[test]
    fn new_interaction_from_the_protocol_notes() {
        let data = json!({"messageType":"InteractionStateMessage","notificationType":"NewInteraction",
            "referenceId":4,
            "interaction":{"id":"01AB23CD","channel":"chat","state":"Invited",
                "capabilities":["Accept","Reject"],
                "participants":[{"type":"Customer","nickname":"Pat","participantId":"p-1"}],
                "userData":{"Subject":"Billing question"}},
            "messages":[{"eventId":"e-17","type":"Text","text":"Hello?","visibility":"All",
                "from":{"type":"Customer","nickname":"Pat","participantId":"p-1"},
                "timestamp":"2026-11-24T09:12:03.120Z"}]});
        let u = chat(parse_interactions(INTERACTIONS_TOPIC, &data));
        assert_eq!(u.id, ChatId::from("01AB23CD"));
        assert_eq!(u.kind, UpdateKind::NewInteraction);
        assert_eq!(u.reference_id, Some(4));
        assert_eq!(u.state.as_deref(), Some("Invited"));
        assert!(u.has_capability(Capability::Accept));
        let ps = u.participants.as_ref().unwrap();
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].kind, ParticipantKind::Customer);
        assert_eq!(ps[0].participant_id.as_deref(), Some("p-1"));
        assert_eq!(
            u.user_data.as_ref().unwrap()["Subject"],
            json!("Billing question")
        );
        assert_eq!(u.messages.len(), 1);
        let m = &u.messages[0];
        assert_eq!(m.event_id.as_deref(), Some("e-17"));
        assert!(m.is_customer_text());
        assert_eq!(m.text.as_deref(), Some("Hello?"));
    }

    #[test]
    fn older_builds_put_fields_at_the_top_level() {
        let data = json!({"messageTypeName":"InteractionStateMessage","notificationType":"StatusChange",
            "id":77,"state":"Chatting","capabilities":["SendMessage"],"referenceId":"12"});
        let u = chat(parse_interactions(LEGACY_INTERACTIONS_TOPIC, &data));
        assert_eq!(u.id, ChatId::from("77"));
        assert_eq!(u.kind, UpdateKind::StatusChange);
        assert_eq!(u.reference_id, Some(12));
        assert!(u.has_capability(Capability::SendMessage));
        assert_eq!(u.participants, None, "absent means unchanged");
        assert_eq!(u.user_data, None);
        assert!(u.messages.is_empty());
    }

    #[test]
    fn missing_type_on_the_interactions_topic_is_still_a_chat() {
        let data = json!({"notificationType":"NewMessages","interaction":{"id":"c1"},
            "messages":[{"eventId":3,"type":"Text","text":"hi","visibility":"Agents",
                         "from":{"type":"Agent","nickname":"Sam"}}]});
        let u = chat(parse_interactions(INTERACTIONS_TOPIC, &data));
        assert_eq!(u.kind, UpdateKind::NewMessages);
        let m = &u.messages[0];
        assert_eq!(m.event_id.as_deref(), Some("3"));
        assert_eq!(m.visibility, Visibility::Agents);
        assert_eq!(m.from.kind, ParticipantKind::Agent);
        assert!(!m.is_customer_text());
    }

    #[test]
    fn chat_history_and_message_kinds() {
        let data = json!({"messageType":"InteractionStateMessage","notificationType":"ChatHistory",
            "interaction":{"id":"c1"},
            "messages":[
                {"eventId":"1","type":"ParticipantJoined","from":{"type":"Customer"}},
                {"eventId":"2","type":"PushUrl","url":"https://x.example","from":{"type":"Agent"}},
                {"eventId":"3","type":"CustomNotice","noticeText":"note","visibility":"Supervisors"},
                {"eventId":"4","type":"Shrug","visibility":"Secret","from":{"type":"Supervisor"}},
                "not an object",
                {"eventId":"5"}]});
        let u = chat(parse_interactions(INTERACTIONS_TOPIC, &data));
        assert_eq!(u.kind, UpdateKind::ChatHistory);
        let kinds: Vec<_> = u.messages.iter().map(|m| m.kind.clone()).collect();
        assert_eq!(
            kinds,
            [
                MessageKind::ParticipantJoined,
                MessageKind::PushUrl,
                MessageKind::CustomNotice,
                MessageKind::Other("Shrug".into()),
                MessageKind::Other(String::new()),
            ]
        );
        assert_eq!(u.messages[1].text.as_deref(), Some("https://x.example"));
        assert_eq!(u.messages[2].text.as_deref(), Some("note"));
        assert_eq!(u.messages[2].visibility, Visibility::Supervisors);
        assert_eq!(
            u.messages[3].visibility,
            Visibility::Agents,
            "unknown is restrictive"
        );
        assert_eq!(u.messages[3].from.kind, ParticipantKind::Other);
        assert_eq!(u.messages[4].visibility, Visibility::All);
        assert_eq!(u.messages[4].from.kind, ParticipantKind::Other);
    }

    #[test]
    fn error_notifications_keep_the_description() {
        let data = json!({"messageType":"InteractionStateMessage","notificationType":"Error",
            "referenceId":9,"errorMessage":"Agent not found","interaction":{"id":"c1"}});
        let u = chat(parse_interactions(INTERACTIONS_TOPIC, &data));
        assert_eq!(u.kind, UpdateKind::Error);
        assert_eq!(u.reference_id, Some(9));
        assert_eq!(u.error.as_deref(), Some("Agent not found"));
    }

    #[test]
    fn unusable_input_is_ignored_or_unknown() {
        let no_id = json!({"messageType":"InteractionStateMessage","notificationType":"StatusChange",
            "interaction":{"state":"Chatting"}});
        assert!(matches!(
            parse_interactions(INTERACTIONS_TOPIC, &no_id),
            Parsed::Ignored(_)
        ));
        let email = json!({"messageType":"InteractionStateMessage",
            "interaction":{"id":"e1","channel":"email"}});
        assert!(matches!(
            parse_interactions(INTERACTIONS_TOPIC, &email),
            Parsed::Ignored(_)
        ));
        assert!(matches!(
            parse_interactions(INTERACTIONS_TOPIC, &json!([1, 2])),
            Parsed::Ignored(_)
        ));
        assert_eq!(
            parse_interactions(
                INTERACTIONS_TOPIC,
                &json!({"messageType":"WorkbinContentChanged"})
            ),
            Parsed::Unknown {
                message_type: "WorkbinContentChanged".into()
            }
        );
        assert_eq!(
            parse_interactions("/v2/me/other", &json!({"x":1})),
            Parsed::Unknown {
                message_type: String::new()
            }
        );
        let odd_kind = json!({"messageType":"InteractionStateMessage","notificationType":"Merged",
            "interaction":{"id":"c1","capabilities":"Accept","participants":{"x":1},"userData":[1]}});
        let u = chat(parse_interactions(INTERACTIONS_TOPIC, &odd_kind));
        assert_eq!(u.kind, UpdateKind::Other("Merged".into()));
        assert_eq!(u.capabilities, None);
        assert_eq!(u.participants, None);
        assert_eq!(u.user_data, None);
    }

    #[test]
    fn channel_state() {
        let data = json!({"messageType":"ChannelStateChangeMessage","channels":[
            {"channel":"voice","userState":{"state":"NotReady"}},
            {"channel":"chat","userState":{"state":"Ready","displayName":"Ready","id":"x"}}]});
        assert_eq!(
            parse_interactions(CHANNELS_TOPIC, &data),
            Parsed::Event(Event::ChannelState {
                state: "Ready".into()
            })
        );
        let untyped = json!({"channels":[{"userState":{"displayName":"Not Ready"}}]});
        assert_eq!(
            parse_interactions(CHANNELS_TOPIC, &untyped),
            Parsed::Event(Event::ChannelState {
                state: "Not Ready".into()
            })
        );
        let empty = json!({"messageType":"ChannelStateChangeMessage","channels":[
            {"channel":"voice","userState":{"state":"Ready"}}]});
        assert!(matches!(
            parse_interactions(CHANNELS_TOPIC, &empty),
            Parsed::Ignored(_)
        ));
    }

    #[test]
    fn listing() {
        let body = json!({"statusCode":0,"interactions":[
            {"id":"c1","channel":"chat","state":"Chatting","capabilities":["SendMessage"]},
            {"channel":"chat"},
            {"id":"m1","channel":"email"},
            {"interaction":{"id":"c2","capabilities":["Accept"]}}]});
        let chats = parse_listing(&body, "interactions");
        let ids: Vec<_> = chats.iter().map(|c| c.id.0.as_str()).collect();
        assert_eq!(ids, ["c1", "c2"]);
        assert!(chats.iter().all(|c| c.kind == UpdateKind::StatusChange));
        assert!(chats[1].has_capability(Capability::Accept));
        assert_eq!(
            parse_listing(&json!([{"id":"c3"}]), "interactions").len(),
            1
        );
        assert!(parse_listing(&json!({"statusCode":0}), "interactions").is_empty());
        assert!(parse_listing(&json!("junk"), "interactions").is_empty());
    }
}
