//! API dialects: the only place that knows GWS wire shapes — request paths and bodies for every
//! [`Operation`] and [`SessionOperation`], the CometD topics, the chat listing, the transcript,
//! and the parsing of notifications into [`crate::event`] types.
//!
//! Two dialects: `interactions` (the seed's 8.5.0 pre-release API, operation names in
//! [`OperationNames`]) and `chats` (released GWS 8.5.2+, see `chats`). [`Choice::Auto`] lets
//! the client find out which one the server speaks ([`PROBE_PATH`]). Notification parsing
//! lives in [`notification`].

pub(crate) mod chats;
pub(crate) mod names;
pub mod notification;

use serde_json::{Map, Value, json};

use super::operation::{Operation, SessionOperation};
use crate::event::{ChatId, ChatUpdate};

pub use names::OperationNames;
pub use notification::Parsed;

/// The channel name used in session operations.
const CHAT_CHANNEL: &str = "chat";
/// Asked after login when the dialect is `auto`: `GET {api}/me/chats` answers the listing
/// (HTTP 200, `statusCode` 0) only on a server speaking `chats`.
pub const PROBE_PATH: &str = "/me/chats";

/// Which shape of the GWS agent API the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// `POST {api}/me/interactions/{id}`, topic `/v2/me/interactions`, cursor `eventId`.
    #[default]
    Interactions,
    /// `POST {api}/me/chats/{id}`, topic `/v2/me/chats`, cursor `index`, history by
    /// `GET {api}/me/chats/{id}/messages`.
    Chats,
}

/// The configured dialect (`gws.dialect`): one of them, or `auto` (probe after login).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    Fixed(Dialect),
    #[default]
    Auto,
}

impl std::str::FromStr for Dialect {
    type Err = String;

    /// Parse a dialect name (`interactions` or `chats`, any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "interactions" => Ok(Dialect::Interactions),
            "chats" => Ok(Dialect::Chats),
            other => Err(format!(
                "unknown GWS dialect `{other}` (known: interactions, chats)"
            )),
        }
    }
}

impl std::str::FromStr for Choice {
    type Err = String;

    /// Parse the `gws.dialect` value: `interactions`, `chats` or `auto` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(Choice::Auto);
        }
        s.parse().map(Choice::Fixed).map_err(|_| {
            format!(
                "unknown GWS dialect `{}` (known: interactions, chats, auto)",
                s.trim()
            )
        })
    }
}

impl Choice {
    /// The name used in configuration.
    pub fn name(&self) -> &'static str {
        match self {
            Choice::Fixed(d) => d.name(),
            Choice::Auto => "auto",
        }
    }
}

/// One POST of a chat operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub url: String,
    pub body: Value,
}

/// How the client carries out one chat operation: most are one POST; some `chats`
/// operations are not (see `chats`).
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// One POST.
    Post(Post),
    /// The POST, then (once accepted) `GET transcript`, delivered as a `ChatHistory` update.
    PostThenTranscript { post: Post, transcript: String },
    /// `Leave`, then `Complete`. A `Leave` refused with `statusCode` 2 (the bot has left
    /// already) is no error.
    LeaveThenComplete { leave: Post, complete: Post },
    /// `GET url`, delivered as a `ChatHistory` update.
    Transcript { url: String },
}

impl Dialect {
    /// The name used in configuration.
    pub fn name(&self) -> &'static str {
        match self {
            Dialect::Interactions => "interactions",
            Dialect::Chats => "chats",
        }
    }

    /// Whether the dialect has text only agents see ([`Operation::NoteToAgents`]): `chats`
    /// has `SendCustomNoticeToAgents`; the seed's `interactions` has nothing of the kind.
    pub fn agent_notes(&self) -> bool {
        matches!(self, Dialect::Chats)
    }

    /// Where chat operations are posted: `{api}/me/interactions/{id}` or `{api}/me/chats/{id}`.
    pub fn operation_path(&self, api: &str, chat: &ChatId) -> String {
        match self {
            Dialect::Interactions => format!("{api}/me/interactions/{}", encode_segment(&chat.0)),
            Dialect::Chats => chats::operation_path(api, chat),
        }
    }

    /// How `op` on `chat` is carried out. `names` (wire-name overrides) apply to the
    /// `interactions` dialect only.
    pub fn plan(&self, api: &str, chat: &ChatId, op: &Operation, names: &OperationNames) -> Plan {
        match self {
            Dialect::Interactions => Plan::Post(Post {
                url: self.operation_path(api, chat),
                body: interactions_body(op, names),
            }),
            Dialect::Chats => chats::plan(api, chat, op),
        }
    }

    /// For a listed chat the bot has left without finishing it (`chats`: a finish cut between
    /// `Leave` and `Complete`), the request that finishes it. The chat logic never sees such a
    /// chat: it allows neither `Accept` nor `SendMessage`.
    pub fn completion_of_left(&self, api: &str, chat: &ChatUpdate) -> Option<Post> {
        match self {
            Dialect::Interactions => None,
            Dialect::Chats => chats::completion_of_left(api, chat),
        }
    }

    /// Where a session operation is posted and with what body (the same in both dialects).
    pub fn session_request(&self, api: &str, op: &SessionOperation) -> (String, Value) {
        match op {
            SessionOperation::StartContactCenterSession { place } => {
                let mut body = json!({
                    "operationName": "StartContactCenterSession",
                    "channels": [CHAT_CHANNEL],
                });
                if let Some(place) = place {
                    body["place"] = place.as_str().into();
                }
                (format!("{api}/me"), body)
            }
            SessionOperation::Ready => (
                format!("{api}/me/channels/{CHAT_CHANNEL}"),
                json!({"operationName": "Ready"}),
            ),
            SessionOperation::NotReady => (
                format!("{api}/me/channels/{CHAT_CHANNEL}"),
                json!({"operationName": "NotReady"}),
            ),
            SessionOperation::EndContactCenterSession => (
                format!("{api}/me"),
                json!({"operationName": "EndContactCenterSession"}),
            ),
        }
    }

    /// The CometD topics to subscribe to: chat notifications and channel state.
    pub fn topics(&self) -> Vec<String> {
        let chats = match self {
            Dialect::Interactions => notification::INTERACTIONS_TOPIC,
            Dialect::Chats => notification::CHATS_TOPIC,
        };
        vec![chats.to_owned(), notification::CHANNELS_TOPIC.to_owned()]
    }

    /// Where the current chats are listed: `{api}/me/interactions?fields=*` or
    /// `{api}/me/chats?fields=*`.
    pub fn listing_path(&self, api: &str) -> String {
        match self {
            Dialect::Interactions => format!("{api}/me/interactions?fields=*"),
            Dialect::Chats => format!("{api}/me/chats?fields=*"),
        }
    }

    /// Turn one CometD message (`channel`, `data`) into an event, tolerantly.
    pub fn parse_notification(&self, channel: &str, data: &Value) -> Parsed {
        match self {
            Dialect::Interactions => notification::interactions::parse_interactions(channel, data),
            Dialect::Chats => notification::chats::parse_chats(channel, data),
        }
    }

    /// [`Dialect::parse_notification`] of a payload given as JSON text: the same result,
    /// read from a tree that borrows from `text` (no `Value` is built).
    pub fn parse_notification_text(&self, channel: &str, text: &str) -> Parsed {
        let Some(data) = notification::json::Node::parse(text) else {
            return Parsed::Ignored("notification payload is not JSON");
        };
        match self {
            Dialect::Interactions => notification::interactions::parse_interactions(channel, &data),
            Dialect::Chats => notification::chats::parse_chats(channel, &data),
        }
    }

    /// The chats of a listing response; entries without an id or on other channels are skipped.
    pub fn parse_listing(&self, body: &Value) -> Vec<ChatUpdate> {
        match self {
            Dialect::Interactions => {
                notification::interactions::parse_listing(body, "interactions")
            }
            Dialect::Chats => notification::chats::parse_listing(body),
        }
    }

    /// The `ChatHistory` update of `chat` from a transcript answer ([`Plan::Transcript`]).
    pub fn parse_transcript(&self, chat: &ChatId, body: &Value) -> ChatUpdate {
        notification::chats::parse_transcript(chat, body)
    }
}

/// The JSON body of a chat operation in the `interactions` dialect.
fn interactions_body(op: &Operation, names: &OperationNames) -> Value {
    let mut body = Map::new();
    body.insert("operationName".into(), names.get(op.label()).into());
    match op {
        Operation::Accept { nickname } => {
            body.insert("nickname".into(), nickname.as_str().into());
        }
        Operation::SendMessage { text } => {
            body.insert("text".into(), text.as_str().into());
        }
        Operation::Typing(on) => {
            let value = if *on {
                &names.typing_started_value
            } else {
                &names.typing_stopped_value
            };
            for field in &names.typing_fields {
                body.insert(field.clone(), value.as_str().into());
            }
        }
        Operation::TransferToAgent { agent_id } | Operation::StartConsultation { agent_id } => {
            body.insert("agentId".into(), agent_id.as_str().into());
        }
        Operation::TransferToSkill { skill } => {
            body.insert("skill".into(), skill.as_str().into());
        }
        Operation::RequestChatHistory { event_id } => {
            if let Some(id) = event_id {
                body.insert("eventId".into(), id.as_str().into());
            }
        }
        Operation::UpdateUserData { user_data } => {
            let data: Map<String, Value> = user_data
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            body.insert("userData".into(), Value::Object(data));
        }
        // Never planned: `agent_notes` is false for this dialect and the chat asks first.
        Operation::NoteToAgents { text } => {
            body.insert("noticeText".into(), text.as_str().into());
        }
        Operation::Reject
        | Operation::StopProcessing
        | Operation::CompleteTransfer { .. }
        | Operation::CompleteConference { .. } => {}
    }
    Value::Object(body)
}

/// Percent-encode a path segment (everything but RFC 3986 unreserved characters).
fn encode_segment(s: &str) -> String {
    /// Everything but RFC 3986 unreserved characters.
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, RESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::UserData;

    const API: &str = "http://gws/api/v2";

    fn body(op: Operation) -> Value {
        match Dialect::Interactions.plan(API, &ChatId::from("c1"), &op, &OperationNames::default())
        {
            Plan::Post(post) => post.body,
            other => panic!("not one POST: {other:?}"),
        }
    }

    #[test]
    fn names_round_trip() {
        for d in [Dialect::Interactions, Dialect::Chats] {
            assert_eq!(d.name().parse::<Dialect>(), Ok(d));
            assert_eq!(d.name().parse::<Choice>(), Ok(Choice::Fixed(d)));
        }
        assert_eq!(" Interactions ".parse(), Ok(Dialect::Interactions));
        assert_eq!("AUTO".parse(), Ok(Choice::Auto));
        assert_eq!(Choice::default().name(), "auto");
        assert!("auto".parse::<Dialect>().is_err());
        let err = "chat".parse::<Choice>().unwrap_err();
        assert!(err.contains("`chat`") && err.contains("auto"), "{err}");
    }

    #[test]
    fn paths() {
        let d = Dialect::Interactions;
        assert_eq!(
            d.operation_path(API, &ChatId::from("01AB23CD")),
            "http://gws/api/v2/me/interactions/01AB23CD"
        );
        assert_eq!(
            d.operation_path(API, &ChatId::from("a/b c")),
            "http://gws/api/v2/me/interactions/a%2Fb%20c"
        );
        assert_eq!(
            d.listing_path(API),
            "http://gws/api/v2/me/interactions?fields=*"
        );
        assert_eq!(d.topics(), ["/v2/me/interactions", "/v2/me/channels"]);
        let d = Dialect::Chats;
        assert_eq!(
            d.operation_path(API, &ChatId::from("a/b")),
            "http://gws/api/v2/me/chats/a%2Fb"
        );
        assert_eq!(d.listing_path(API), "http://gws/api/v2/me/chats?fields=*");
        assert_eq!(d.topics(), ["/v2/me/chats", "/v2/me/channels"]);
    }

    #[test]
    fn chat_operation_bodies_follow_the_seed() {
        assert_eq!(
            body(Operation::Accept {
                nickname: "Botty".into()
            }),
            json!({"operationName":"Accept","nickname":"Botty"})
        );
        assert_eq!(body(Operation::Reject), json!({"operationName":"Reject"}));
        assert_eq!(
            body(Operation::SendMessage { text: "Hi".into() }),
            json!({"operationName":"SendMessage","text":"Hi"})
        );
        assert_eq!(
            body(Operation::Typing(true)),
            json!({"operationName":"SendNotification","notifcation":"TypingStarted",
                   "notification":"TypingStarted"})
        );
        assert_eq!(
            body(Operation::Typing(false))["notifcation"],
            json!("TypingStopped")
        );
        assert_eq!(
            body(Operation::TransferToAgent {
                agent_id: "a1".into()
            }),
            json!({"operationName":"Transfer","agentId":"a1"})
        );
        assert_eq!(
            body(Operation::TransferToSkill {
                skill: "Billing".into()
            }),
            json!({"operationName":"Transfer","skill":"Billing"})
        );
        assert_eq!(
            body(Operation::StopProcessing),
            json!({"operationName":"StopProcessing"})
        );
        assert_eq!(
            body(Operation::RequestChatHistory {
                event_id: Some("e-3".into())
            }),
            json!({"operationName":"RequestChatHistory","eventId":"e-3"})
        );
        assert_eq!(
            body(Operation::RequestChatHistory { event_id: None }),
            json!({"operationName":"RequestChatHistory"})
        );
        assert_eq!(
            body(Operation::StartConsultation {
                agent_id: "a2".into()
            }),
            json!({"operationName":"StartChatConsultation","agentId":"a2"})
        );
        assert_eq!(
            body(Operation::CompleteTransfer {
                agent_id: "a2".into()
            }),
            json!({"operationName":"CompleteTransfer"})
        );
        assert_eq!(
            body(Operation::CompleteConference {
                agent_id: "a2".into()
            }),
            json!({"operationName":"LeaveChatConsultation"})
        );
        let mut data = UserData::new();
        data.insert("BotHandled".into(), json!(true));
        assert_eq!(
            body(Operation::UpdateUserData { user_data: data }),
            json!({"operationName":"UpdateUserData","userData":{"BotHandled":true}})
        );
    }

    #[test]
    fn session_requests() {
        let d = Dialect::Interactions;
        let (path, b) = d.session_request(
            API,
            &SessionOperation::StartContactCenterSession {
                place: Some("Place_1".into()),
            },
        );
        assert_eq!(path, "http://gws/api/v2/me");
        assert_eq!(
            b,
            json!({"operationName":"StartContactCenterSession","channels":["chat"],"place":"Place_1"})
        );
        let (_, b) = d.session_request(
            API,
            &SessionOperation::StartContactCenterSession { place: None },
        );
        assert!(b.get("place").is_none());
        let (path, b) = d.session_request(API, &SessionOperation::Ready);
        assert_eq!(path, "http://gws/api/v2/me/channels/chat");
        assert_eq!(b, json!({"operationName":"Ready"}));
        let (_, b) = d.session_request(API, &SessionOperation::NotReady);
        assert_eq!(b, json!({"operationName":"NotReady"}));
        let (path, b) = d.session_request(API, &SessionOperation::EndContactCenterSession);
        assert_eq!(path, "http://gws/api/v2/me");
        assert_eq!(b, json!({"operationName":"EndContactCenterSession"}));
    }
}
