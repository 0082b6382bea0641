//! Public data types of the simulator: configuration, chat scripts, snapshots, records and the
//! live event feed.
//!
//! Durations in JSON (control API) are written as milliseconds (integers); on input they may also
//! be humantime strings such as `"2s"` or `"1500ms"`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::readings::{JoinNotices, ParticipantForm, Readings};

/// How long a `/meta/connect` is held when nothing happens (`advice.timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Maximum queued notifications per CometD client before the oldest are dropped.
pub const DEFAULT_QUEUE_LIMIT: usize = 10_000;

/// Which form of the GWS chat API the simulator speaks (`docs/gws-protocol.md` §2). The
/// simulator's own enum: the referee does not share the client's dialect code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SimDialect {
    /// The 8.5.0 pre-release form: `/me/interactions/{id}`, `InteractionStateMessage`.
    #[default]
    Interactions,
    /// Released GWS 8.5.2+: `/me/chats/{id}`, `ChatStateChangeMessage`, `MessageLogUpdated`.
    Chats,
}

impl fmt::Display for SimDialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SimDialect::Interactions => "interactions",
            SimDialect::Chats => "chats",
        })
    }
}

/// Configuration of a simulated GWS server.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// The chat API dialect served; the other dialect's paths answer 404.
    pub dialect: SimDialect,
    /// Bot agent accounts that may log in.
    pub users: Vec<SimUser>,
    /// Simulated human agents for consultations and transfers.
    pub agents: Vec<SimAgent>,
    /// Skills that accept a single-step transfer.
    pub skills: Vec<String>,
    /// Enforce the CSRF header pair on every POST.
    pub csrf: bool,
    /// `advice.timeout`: how long `/meta/connect` is held.
    #[serde(with = "duration_ms")]
    pub connect_timeout: Duration,
    /// Max queued notifications per CometD client; beyond it the oldest is dropped and counted.
    pub queue_limit: usize,
    /// How participants are described (`minimal` by default).
    pub participants: ParticipantForm,
    /// How an agent joining is announced (`participants_first` by default).
    pub join_notices: JoinNotices,
    /// The other reading switches (§12's readings by default).
    pub readings: Readings,
    /// What each human agent (by id) does once conferenced in; kept apart from [`SimAgent`]
    /// so an agent stays a plain id, nickname and joining delay.
    pub conference_scripts: BTreeMap<String, Vec<AgentStep>>,
}

impl Default for SimConfig {
    fn default() -> Self {
        let agent = |id: &str, nickname: &str, join_after: Option<Duration>| SimAgent {
            id: id.to_owned(),
            nickname: nickname.to_owned(),
            join_after,
        };
        SimConfig {
            dialect: SimDialect::default(),
            users: vec![SimUser {
                username: "bot01".to_owned(),
                password: "bot-secret".to_owned(),
                id: "bot01".to_owned(),
            }],
            agents: vec![
                agent("agent-101", "Sam", Some(Duration::from_secs(2))),
                agent("agent-102", "Kim", Some(Duration::from_secs(2))),
                agent("agent-201", "Lee", None),
                agent("agent-301", "Ana", Some(Duration::from_secs(2))),
            ],
            skills: vec!["Billing".into(), "Sales".into(), "Support".into()],
            csrf: true,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            queue_limit: DEFAULT_QUEUE_LIMIT,
            participants: ParticipantForm::default(),
            join_notices: JoinNotices::default(),
            readings: Readings::default(),
            // The orders desk of the shipped rules: Ana answers, then hands the customer back.
            conference_scripts: BTreeMap::from([(
                "agent-301".to_owned(),
                vec![
                    AgentStep::Say {
                        after: Duration::from_millis(1000),
                        text: "Hi, I'm Ana from the orders desk. Your parcel left our \
                               warehouse this morning and arrives tomorrow."
                            .into(),
                    },
                    AgentStep::Leave {
                        after: Duration::from_millis(1500),
                    },
                ],
            )]),
        }
    }
}

/// A bot agent account. The password never appears in `Debug` output.
#[derive(Clone, Deserialize)]
pub struct SimUser {
    pub username: String,
    pub password: String,
    pub id: String,
}

impl fmt::Debug for SimUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimUser")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("id", &self.id)
            .finish()
    }
}

/// A simulated human agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimAgent {
    pub id: String,
    pub nickname: String,
    /// Delay between `StartChatConsultation` and the agent joining; `None`: never joins.
    #[serde(default, with = "duration_ms::option")]
    pub join_after: Option<Duration>,
}

/// A fault injected into the next REST operation POSTs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this HTTP status and a short text body (e.g. 503).
    Http(u16),
    /// Answer HTTP 200 `{"statusCode":N,"statusMessage":…}`.
    StatusCode(u32, String),
}

/// Damage done to the raw body of one CometD response, for testing tolerant clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Corruption {
    /// Send this text instead of the JSON body (e.g. truncated or invalid JSON).
    Body(String),
    /// Replace every `from` in the serialized JSON with `to`, e.g. a marker in a customer's
    /// text with `\\ud800` (a lone UTF-16 surrogate escape, as a Java server may send).
    Replace { from: String, to: String },
}

/// A chat to create: who the customer is and what they do once the bot accepts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatSpec {
    /// The customer's nickname.
    pub customer: String,
    pub user_data: Map<String, Value>,
    /// Typed before anyone accepted: offered with the invitation and in the history at Accept.
    pub first_message: Option<String>,
    /// Runs from the bot's first Accept; steps after the chat left the bot are dropped.
    pub script: Vec<Step>,
}

/// One step of a scripted customer. JSON: `{"say":{"after":"2s","text":"…"}}`, `"await_reply"`,
/// `{"leave":{"after":500}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Say `text`; `after` counts from the previous step.
    Say {
        #[serde(default, with = "duration_ms")]
        after: Duration,
        text: String,
    },
    /// Wait until a bot `Text` arrives after the previous step.
    AwaitReply,
    /// Wait until a human agent leaves the chat after the previous step (the end of a
    /// conference).
    AwaitAgentLeft,
    /// Leave the chat.
    Leave {
        #[serde(default, with = "duration_ms")]
        after: Duration,
    },
}

/// One step of a human agent's conference script. JSON: `{"say":{"after":"2s","text":"…"}}`,
/// `{"leave":{"after":500}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStep {
    /// Say `text` (visible to the customer); `after` counts from the previous step.
    Say {
        #[serde(default, with = "duration_ms")]
        after: Duration,
        text: String,
    },
    /// Leave the chat.
    Leave {
        #[serde(default, with = "duration_ms")]
        after: Duration,
    },
}

/// A chat as the simulator sees it (not the bot's view).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatSnapshot {
    pub id: String,
    pub state: ChatState,
    pub customer: String,
    pub customer_present: bool,
    /// The bot user the chat is offered to or owned by (the last one once ended).
    pub owner: Option<String>,
    pub transcript: Vec<Entry>,
    pub outcome: Option<ChatOutcome>,
    /// The human agent the bot conferenced in (`CompleteConference`, `LeaveChatConsultation`,
    /// `Invite`); stays set after that agent leaves.
    pub conference: Option<String>,
    /// Ids of the human agents in the chat now, in joining order.
    pub agents_present: Vec<String>,
}

/// Where a chat is in the contact centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatState {
    Queued,
    Invited,
    Chatting,
    Ended,
}

/// How a chat left the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatOutcome {
    /// `StopProcessing` (`interactions`) or `Complete` (`chats`), with no conference before.
    ClosedByBot,
    TransferredToAgent(String),
    TransferredToSkill(String),
    /// The bot's part ended — by its own `StopProcessing` / `Complete`, or because others
    /// finished the chat — after it had conferenced in this agent. A conference alone does
    /// not end the bot's part: until then the outcome is `None` and
    /// [`ChatSnapshot::conference`] names the agent.
    Conference(String),
    /// Others finished the chat ([`super::Control::close_chat`]) with no conference before.
    ClosedByOthers,
    Rejected,
    /// The customer left before any bot accepted the chat.
    Abandoned,
}

/// One transcript entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The cursor the bot sees, as a string: the `interactions` `eventId` (`e-N`, or opaque
    /// per [`super::Readings::event_ids`]) or the decimal `index` (`chats`).
    pub event_id: String,
    /// `Text`, `ParticipantJoined`, `ParticipantLeft`, `CustomNotice`, …
    pub kind: String,
    /// `Customer` or `Agent`.
    pub from_type: String,
    pub nickname: String,
    /// The opaque `participantId` (16 upper-case hex digits), never a user id.
    pub participant_id: String,
    /// The text, or a notice's `noticeText`.
    pub text: Option<String>,
    /// `All` or `Agents`.
    pub visibility: String,
    /// Since sim start.
    #[serde(with = "duration_ms")]
    pub at: Duration,
}

/// One HTTP request to `/api/v2/*` the simulator served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Arrival time since sim start.
    #[serde(with = "duration_ms")]
    pub at: Duration,
    pub method: String,
    pub path: String,
    /// `operationName`, or the Bayeux channels (comma separated) for `/notifications`.
    pub operation: Option<String>,
    /// The JSON body (`Null` for GET); strings longer than 64 KiB are shortened.
    pub body: Value,
    /// The authenticated user id.
    pub user: Option<String>,
    /// 0 while the request is still being served (e.g. a held connect).
    pub http_status: u16,
    pub status_code: Option<i64>,
}

/// A notification handed to a client in a `/meta/connect` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    #[serde(with = "duration_ms")]
    pub at: Duration,
    pub user: String,
    pub channel: String,
    pub data: Value,
}

/// Live feed of what happens to chats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SimEvent {
    Entry { chat: String, entry: Entry },
    State { chat: String, state: ChatState },
    Ended { chat: String, outcome: ChatOutcome },
}

/// Errors of the control API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("unknown chat {0}")]
    UnknownChat(String),
    #[error("chat {0} has ended")]
    ChatEnded(String),
    #[error("the customer has left chat {0}")]
    CustomerLeft(String),
    #[error("unknown agent {0}")]
    UnknownAgent(String),
    #[error("chat {0} has not been accepted by a bot")]
    NotAccepted(String),
    #[error("agent {agent} is not in chat {chat}")]
    AgentAbsent { chat: String, agent: String },
    #[error("agent {agent} is already in chat {chat}")]
    AgentPresent { chat: String, agent: String },
}

/// Serde for `Duration` as milliseconds; input may also be a humantime string.
pub mod duration_ms {
    use std::time::Duration;

    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Millis(u64),
        Text(String),
    }

    fn parse<E: Error>(raw: Raw) -> Result<Duration, E> {
        match raw {
            Raw::Millis(ms) => Ok(Duration::from_millis(ms)),
            Raw::Text(text) => humantime::parse_duration(text.trim()).map_err(E::custom),
        }
    }

    /// Writes whole milliseconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Reads milliseconds or a humantime string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parse(Raw::deserialize(d)?)
    }

    /// The same for `Option<Duration>` (`null` or absent is `None`).
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Option::<Raw>::deserialize(d)?.map(parse).transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_from_millis_and_humantime() {
        let steps: Vec<Step> = serde_json::from_str(
            r#"[{"say":{"after":"2s","text":"hi"}},"await_reply",{"leave":{"after":500}}]"#,
        )
        .unwrap();
        assert_eq!(
            steps,
            vec![
                Step::Say {
                    after: Duration::from_secs(2),
                    text: "hi".into()
                },
                Step::AwaitReply,
                Step::Leave {
                    after: Duration::from_millis(500)
                },
            ]
        );
        assert!(serde_json::from_str::<Step>(r#"{"leave":{"after":"soon"}}"#).is_err());
    }

    #[test]
    fn agent_join_after_is_optional() {
        let a: SimAgent = serde_json::from_str(r#"{"id":"a","nickname":"A"}"#).unwrap();
        assert_eq!(a.join_after, None);
        let b: SimAgent =
            serde_json::from_str(r#"{"id":"a","nickname":"A","join_after":"1s"}"#).unwrap();
        assert_eq!(b.join_after, Some(Duration::from_secs(1)));
        assert_eq!(serde_json::to_value(&b).unwrap()["join_after"], 1000);
    }

    #[test]
    fn user_debug_hides_password() {
        let text = format!("{:?}", SimConfig::default());
        assert!(!text.contains("bot-secret"), "{text}");
        assert!(text.contains("bot01"));
    }
}
