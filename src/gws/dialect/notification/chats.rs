//! Parsing of `chats`-dialect notifications (`docs/gws-protocol.md` §6.1, released GWS
//! 8.5.2+), of its chat listing and of its transcript (`GET …/me/chats/{id}/messages`).
//!
//! - `ChatStateChangeMessage`: the chat object under `data.chat` (state, capabilities,
//!   participants, user data); `notificationType` `Error` carries `errorMessage` and the
//!   `referenceId` of the request that failed.
//! - `MessageLogUpdated`: new transcript entries; the chat id is the last path segment of
//!   `chatPath` (else of `chatUri`); an entry's `index` becomes [`Message::event_id`] as a
//!   decimal string.
//!
//! Tolerant as the `interactions` parser is: ids may be strings or numbers, every optional
//! field may be missing or of the wrong type, a missing `messageType` on the chats topic is
//! guessed from the fields present.
//!
//! [`Message::event_id`]: crate::event::Message::event_id

use super::json::Json;
use super::{
    CHANNEL_STATE_MESSAGE_TYPE, CHANNELS_TOPIC, CHATS_TOPIC, ERROR_FIELDS, Parsed, array, entries,
    fill_chat, id_of, messages, parse_channel_state, str_of, u64_of, update_kind,
};
use crate::event::{ChatId, ChatUpdate, Event, UpdateKind};

/// `messageType` of chat state, capability, participant and user data changes.
const CHAT_STATE_MESSAGE_TYPE: &str = "ChatStateChangeMessage";
/// `messageType` of new transcript entries.
const MESSAGE_LOG_MESSAGE_TYPE: &str = "MessageLogUpdated";

/// Parse one CometD message of the `chats` dialect.
pub(crate) fn parse_chats<J: Json>(channel: &str, data: &J) -> Parsed {
    if !data.is_object() {
        return Parsed::Ignored("notification payload is not a JSON object");
    }
    match str_of(data, &["messageType", "messageTypeName"]) {
        Some(CHAT_STATE_MESSAGE_TYPE) => parse_chat_state(data),
        Some(MESSAGE_LOG_MESSAGE_TYPE) => parse_message_log(data),
        Some(CHANNEL_STATE_MESSAGE_TYPE) => parse_channel_state(data),
        Some(t) => Parsed::Unknown {
            message_type: t.to_owned(),
        },
        None if channel == CHATS_TOPIC && data.get("chat").is_some() => parse_chat_state(data),
        None if channel == CHATS_TOPIC && data.get("messages").is_some() => parse_message_log(data),
        None if channel == CHANNELS_TOPIC && data.get("channels").is_some() => {
            parse_channel_state(data)
        }
        None => Parsed::Unknown {
            message_type: String::new(),
        },
    }
}

/// The chats of a listing, `{"statusCode":0,"chats":[…]}` (or a bare array), each as a
/// `StatusChange` snapshot. Entries without an id are skipped.
pub(crate) fn parse_listing<J: Json>(body: &J) -> Vec<ChatUpdate> {
    entries(body, "chats")
        .iter()
        .filter_map(|entry| {
            let chat = chat_of(entry);
            let id = id_of(chat, &["id", "chatId"])?;
            let mut update = ChatUpdate::new(ChatId(id), UpdateKind::StatusChange);
            fill_chat(&mut update, chat);
            Some(update)
        })
        .collect()
}

/// The transcript of `chat` from a `GET …/messages` answer, `{"statusCode":0,"messages":[…]}`
/// (or a bare array), as the `ChatHistory` update the `interactions` server would push.
pub(crate) fn parse_transcript<J: Json>(chat: &ChatId, body: &J) -> ChatUpdate {
    let mut update = ChatUpdate::new(chat.clone(), UpdateKind::ChatHistory);
    update.messages = messages(entries(body, "messages"));
    update
}

fn parse_chat_state<J: Json>(data: &J) -> Parsed {
    let chat = chat_of(data);
    let Some(id) = id_of(chat, &["id", "chatId"]).or_else(|| id_from_paths(data)) else {
        return Parsed::Ignored("chat notification without a chat id");
    };
    // The chat object is a full snapshot: without a type it is a status change.
    let kind = match str_of(data, &["notificationType"]) {
        None => UpdateKind::StatusChange,
        name => update_kind(name),
    };
    let mut update = ChatUpdate::new(ChatId(id), kind);
    update.reference_id = u64_of(data.get("referenceId"));
    fill_chat(&mut update, chat);
    update.error = str_of(data, &ERROR_FIELDS)
        .or(str_of(chat, &ERROR_FIELDS))
        .map(str::to_owned);
    Parsed::Event(Event::Chat(update))
}

fn parse_message_log<J: Json>(data: &J) -> Parsed {
    let Some(id) = id_from_paths(data).or_else(|| id_of(chat_of(data), &["id", "chatId"])) else {
        return Parsed::Ignored("transcript notification without a chat path or uri");
    };
    let mut update = ChatUpdate::new(ChatId(id), UpdateKind::NewMessages);
    update.reference_id = u64_of(data.get("referenceId"));
    update.messages = messages(array(data, "messages"));
    Parsed::Event(Event::Chat(update))
}

/// `data.chat` when it is an object, else `data` itself.
fn chat_of<J: Json>(data: &J) -> &J {
    data.get("chat").filter(|v| v.is_object()).unwrap_or(data)
}

/// The chat id as the last path segment of `chatPath`, else of `chatUri`.
fn id_from_paths<J: Json>(data: &J) -> Option<String> {
    ["chatPath", "chatUri"].iter().find_map(|key| {
        let path = data.get(key)?.as_str()?;
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segment = path.trim_end_matches('/').rsplit('/').next()?;
        // `%XX` escapes decoded; an id that is not UTF-8 after decoding is kept as it was.
        let id = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_or_else(|_| segment.to_owned(), |id| id.into_owned());
        (!id.trim().is_empty()).then_some(id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{MessageKind, ParticipantKind, Visibility};
    use crate::gws::Capability;
    use serde_json::Value;
    use serde_json::json;

    fn chat(parsed: Parsed) -> ChatUpdate {
        match parsed {
            Parsed::Event(Event::Chat(update)) => update,
            other => panic!("not a chat update: {other:?}"),
        }
    }

    #[test]
    fn chat_state_change_from_the_protocol_notes() {
        let data = json!({"messageType":"ChatStateChangeMessage","notificationType":"StatusChange",
            "referenceId":17,
            "chat":{"id":"0000Na9B26EF002X","uri":"http://gws:8080/api/v2/chats/0000Na9B26EF002X",
                "state":"Chatting","capabilities":["Transfer","Complete","Leave","SendMessage"],
                "participants":[{"type":"Customer","nickname":"Pat","participantId":"009052C5E6D6004A"}],
                "userData":{"Subject":"Billing question"}}});
        let u = chat(parse_chats(CHATS_TOPIC, &data));
        assert_eq!(u.id, ChatId::from("0000Na9B26EF002X"));
        assert_eq!(u.kind, UpdateKind::StatusChange);
        assert_eq!(u.reference_id, Some(17));
        assert_eq!(u.state.as_deref(), Some("Chatting"));
        assert!(u.has_capability(Capability::SendMessage) && !u.has_capability(Capability::Accept));
        let ps = u.participants.as_ref().unwrap();
        assert_eq!(ps[0].kind, ParticipantKind::Customer);
        assert_eq!(ps[0].nickname.as_deref(), Some("Pat"));
        assert_eq!(
            u.user_data.as_ref().unwrap()["Subject"],
            json!("Billing question")
        );
        assert!(u.messages.is_empty());
    }

    #[test]
    fn an_offer_is_a_status_change_with_accept() {
        let data = json!({"messageType":"ChatStateChangeMessage","notificationType":"StatusChange",
            "chat":{"id":"c1","state":"Invited","capabilities":["Accept","Reject"]}});
        let u = chat(parse_chats(CHATS_TOPIC, &data));
        assert!(u.has_capability(Capability::Accept));
        for (kind, expected) in [
            ("ParticipantsUpdated", UpdateKind::ParticipantsUpdated),
            ("PropertiesUpdated", UpdateKind::PropertiesUpdated),
            ("Merged", UpdateKind::Other("Merged".into())),
        ] {
            let data = json!({"messageType":"ChatStateChangeMessage","notificationType":kind,
                "chat":{"id":"c1"}});
            assert_eq!(chat(parse_chats(CHATS_TOPIC, &data)).kind, expected);
        }
    }

    #[test]
    fn message_log_from_the_protocol_notes() {
        let data = json!({"messageType":"MessageLogUpdated","notificationType":"NewMessages",
            "chatUri":"http://gws:8080/api/v2/chats/0000Na9B26EF002X",
            "chatPath":"/chats/0000Na9B26EF002X",
            "messages":[{"index":3,"type":"Text","text":"Hi, I need a refund","visibility":"All",
                "from":{"nickname":"Pat","type":"Customer","participantId":"009052C5E6D6004A"},
                "timestamp":"2014-01-09 11:58:12.035+0200","timestampSeconds":1389261492035_u64},
                {"index":4,"type":"CustomNotice","noticeText":"vip","visibility":"Agents",
                 "from":{"type":"Agent","nickname":"Ava"}},
                {"index":"7","type":"PushUrl","url":"https://x.example"}]});
        let u = chat(parse_chats(CHATS_TOPIC, &data));
        assert_eq!(u.id, ChatId::from("0000Na9B26EF002X"));
        assert_eq!(u.kind, UpdateKind::NewMessages);
        let ids: Vec<_> = u.messages.iter().map(|m| m.event_id.clone()).collect();
        assert_eq!(ids, [Some("3".into()), Some("4".into()), Some("7".into())]);
        assert!(u.messages[0].is_customer_text());
        assert_eq!(u.messages[1].kind, MessageKind::CustomNotice);
        assert_eq!(u.messages[1].text.as_deref(), Some("vip"));
        assert_eq!(u.messages[1].visibility, Visibility::Agents);
        assert_eq!(u.messages[2].text.as_deref(), Some("https://x.example"));
    }

    #[test]
    fn the_chat_id_comes_from_the_path_else_the_uri() {
        let id = |data: Value| chat(parse_chats(CHATS_TOPIC, &data)).id.0;
        assert_eq!(
            id(json!({"messageType":"MessageLogUpdated",
                "chatUri":"http://gws/api/v2/chats/from-uri","chatPath":"/chats/from-path/"})),
            "from-path"
        );
        assert_eq!(
            id(json!({"messageType":"MessageLogUpdated","chatPath":7,
                "chatUri":"http://gws/api/v2/chats/a%2Fb%20c?x=1"})),
            "a/b c"
        );
        assert_eq!(
            id(json!({"messageType":"MessageLogUpdated","chatPath":"/chats/bad%zz%"})),
            "bad%zz%"
        );
        let no_id = json!({"messageType":"MessageLogUpdated","chatPath":"/","messages":[]});
        assert!(matches!(
            parse_chats(CHATS_TOPIC, &no_id),
            Parsed::Ignored(_)
        ));
    }

    #[test]
    fn error_notifications_carry_the_reference_id() {
        let data = json!({"messageType":"ChatStateChangeMessage","notificationType":"Error",
            "errorMessage":"Agent not logged in","referenceId":"12","chat":{"id":"c1"}});
        let u = chat(parse_chats(CHATS_TOPIC, &data));
        assert_eq!(u.kind, UpdateKind::Error);
        assert_eq!(u.reference_id, Some(12));
        assert_eq!(u.error.as_deref(), Some("Agent not logged in"));
        assert_eq!(
            u.capabilities, None,
            "an error changes nothing it does not say"
        );
    }

    #[test]
    fn odd_input_is_ignored_unknown_or_guessed() {
        assert!(matches!(
            parse_chats(CHATS_TOPIC, &json!("x")),
            Parsed::Ignored(_)
        ));
        assert!(matches!(
            parse_chats(
                CHATS_TOPIC,
                &json!({"messageType":"ChatStateChangeMessage","chat":{"state":"Chatting"}})
            ),
            Parsed::Ignored(_)
        ));
        assert_eq!(
            parse_chats(CHATS_TOPIC, &json!({"messageType":"WorkbinContentChanged"})),
            Parsed::Unknown {
                message_type: "WorkbinContentChanged".into()
            }
        );
        let untyped = chat(parse_chats(
            CHATS_TOPIC,
            &json!({"chat":{"id":5,"capabilities":"Accept","participants":{"x":1}}}),
        ));
        assert_eq!(untyped.id, ChatId::from("5"));
        assert_eq!(untyped.kind, UpdateKind::StatusChange);
        assert_eq!(untyped.capabilities, None);
        assert_eq!(untyped.participants, None);
        let log = chat(parse_chats(
            CHATS_TOPIC,
            &json!({"chatPath":"/chats/c2","messages":[1,{"index":-1,"type":"Text"}]}),
        ));
        assert_eq!(log.messages.len(), 1);
        assert_eq!(log.messages[0].event_id.as_deref(), Some("-1"));
        assert_eq!(
            parse_chats(
                CHANNELS_TOPIC,
                &json!({"channels":[{"userState":{"state":"Ready"}}]})
            ),
            Parsed::Event(Event::ChannelState {
                state: "Ready".into()
            })
        );
        assert!(matches!(
            parse_chats("/v2/me/other", &json!({"x":1})),
            Parsed::Unknown { .. }
        ));
    }

    #[test]
    fn listing_and_transcript() {
        let body = json!({"statusCode":0,"chats":[
            {"id":"c1","state":"Chatting","capabilities":["SendMessage"]},
            {"state":"Invited"},
            {"chat":{"id":"c2","capabilities":["Accept"]}},
            "junk"]});
        let chats = parse_listing(&body);
        let ids: Vec<_> = chats.iter().map(|c| c.id.0.as_str()).collect();
        assert_eq!(ids, ["c1", "c2"]);
        assert!(chats.iter().all(|c| c.kind == UpdateKind::StatusChange));
        assert!(chats[1].has_capability(Capability::Accept));
        assert!(parse_listing(&json!({"statusCode":0})).is_empty());
        assert_eq!(parse_listing(&json!([{"id":"c3"}])).len(), 1);

        let id = ChatId::from("c1");
        let t = parse_transcript(
            &id,
            &json!({"statusCode":0,"messages":[
                {"index":1,"type":"ParticipantJoined","from":{"type":"Customer"}},
                {"index":2,"type":"Text","text":"hello","from":{"type":"Customer"}}]}),
        );
        assert_eq!(t.id, id);
        assert_eq!(t.kind, UpdateKind::ChatHistory);
        assert_eq!(t.messages.len(), 2);
        assert_eq!(t.messages[1].event_id.as_deref(), Some("2"));
        assert!(parse_transcript(&id, &json!(null)).messages.is_empty());
    }
}
