//! What the bot sees of the one chat model, in either dialect (topics and the chat
//! collection's path are in `topics`): cursors, state names, capabilities, the chat object, transcript entries and the
//! notification shapes (`docs/gws-protocol.md` §6.1, §6.2 and §12). Operation names and
//! their state rules live in `ops`.

use rand::Rng;
use serde_json::{Value, json};

use super::clock::{gws_timestamp, iso8601, unix_millis};
use super::model::{Chat, Person};
use super::readings::{CapabilityOrder, EventIds, HandedOverState, Layout, ParticipantForm};
use super::state::State;
pub(crate) use super::topics::{chat_topic, collection, may_subscribe};
use super::types::{ChatOutcome, ChatState, Entry, SimDialect};

/// Capabilities of an offer (both dialects).
const OFFER_CAPABILITIES: [&str; 2] = ["Accept", "Reject"];
/// Capabilities of a live chat, `interactions` dialect.
const LIVE_INTERACTIONS: [&str; 7] = [
    "SendMessage",
    "SendNotification",
    "Transfer",
    "StopProcessing",
    "RequestChatHistory",
    "StartChatConsultation",
    "UpdateUserData",
];
/// Capabilities of a live chat, `chats` dialect.
const LIVE_CHATS: [&str; 10] = [
    "Transfer",
    "Consult",
    "Invite",
    "Complete",
    "Leave",
    "SendMessage",
    "SendStartTypingNotification",
    "SendStopTypingNotification",
    "UpdateUserData",
    "SendCustomNoticeToAgents",
];
/// Capabilities once the bot has left a chat (`chats` dialect).
const LEFT_CAPABILITIES: [&str; 1] = ["Complete"];

/// The cursor of the `n`-th transcript position: `eventId` `e-N` (or opaque, per
/// [`EventIds`]) or `index` `N`.
pub(crate) fn cursor(st: &State, n: u64) -> String {
    match (st.dialect, st.readings.event_ids) {
        (SimDialect::Interactions, EventIds::Sequential) => format!("e-{n}"),
        (SimDialect::Interactions, EventIds::Opaque) => {
            format!("{:016X}", rand::rng().random::<u64>())
        }
        (SimDialect::Chats, _) => n.to_string(),
    }
}

/// The `chats` index of an entry (its cursor is the decimal index).
pub(crate) fn index(entry: &Entry) -> u64 {
    entry.event_id.parse().unwrap_or(0)
}

/// The state name the bot sees.
fn state_name(st: &State, chat: &Chat) -> &'static str {
    let handed_over = match st.readings.handed_over {
        HandedOverState::Completed => "Completed",
        HandedOverState::Revoked => "Revoked",
    };
    match (chat.state, st.dialect) {
        (ChatState::Queued, _) => "Queued",
        (ChatState::Invited, _) => "Invited",
        (ChatState::Chatting, SimDialect::Chats) if chat.bot_left => "LeftChat",
        (ChatState::Chatting, _) => "Chatting",
        (ChatState::Ended, dialect) => match (&chat.outcome, dialect) {
            (Some(ChatOutcome::TransferredToAgent(_) | ChatOutcome::TransferredToSkill(_)), _) => {
                handed_over
            }
            (Some(ChatOutcome::Rejected | ChatOutcome::Abandoned), SimDialect::Chats) => "Revoked",
            _ => "Completed",
        },
    }
}

fn capabilities(st: &State, chat: &Chat) -> Vec<&'static str> {
    let mut list = match (chat.state, st.dialect) {
        (ChatState::Invited, _) => OFFER_CAPABILITIES.to_vec(),
        (ChatState::Chatting, SimDialect::Interactions) => LIVE_INTERACTIONS.to_vec(),
        (ChatState::Chatting, SimDialect::Chats) if chat.bot_left => LEFT_CAPABILITIES.to_vec(),
        (ChatState::Chatting, SimDialect::Chats) => LIVE_CHATS.to_vec(),
        (ChatState::Queued | ChatState::Ended, _) => Vec::new(),
    };
    if st.readings.capabilities == CapabilityOrder::Reversed {
        list.reverse();
    }
    list
}

/// A participant or an entry's `from`: `type`, `nickname`, `participantId`, and in the
/// `named` form an agent's `uri` and `path`.
fn participant(st: &State, chat: &Chat, kind: &str, nickname: &str, pid: &str) -> Value {
    let mut p = json!({"type": kind, "nickname": nickname, "participantId": pid});
    let user = chat.person_of(pid).and_then(Person::user_id);
    if let (ParticipantForm::Named, "Agent", Some(user)) = (st.participants, kind, user) {
        p["uri"] = json!(format!("{}/users/{user}", st.api_url));
        p["path"] = json!(format!("/users/{user}"));
    }
    p
}

/// Who is in the chat now: the customer, the bot (once it accepted and until it leaves), then
/// the human agents in joining order.
fn participants(st: &State, chat: &Chat) -> Vec<Value> {
    let mut list = Vec::new();
    if chat.customer_present {
        if let Some(pid) = chat.pid_of(&Person::Customer) {
            list.push(participant(st, chat, "Customer", &chat.customer, pid));
        }
    }
    if chat.state == ChatState::Chatting && !chat.bot_left {
        let bot = chat.owner.clone().map(Person::Bot);
        let pid = bot.as_ref().and_then(|b| chat.pid_of(b));
        if let (Some(pid), Some(nick)) = (pid, &chat.nickname) {
            list.push(participant(st, chat, "Agent", nick, pid));
        }
    }
    for present in &chat.agents {
        let person = Person::Agent(present.agent.id.clone());
        if let Some(pid) = chat.pid_of(&person) {
            list.push(participant(st, chat, "Agent", &present.agent.nickname, pid));
        }
    }
    list
}

/// The chat object: `data.interaction` / `data.chat`, and one element of the listing.
pub(crate) fn chat_json(st: &State, chat: &Chat) -> Value {
    let mut object = json!({
        "id": chat.id,
        "state": state_name(st, chat),
        "capabilities": capabilities(st, chat),
        "participants": participants(st, chat),
        "userData": chat.user_data,
    });
    match st.dialect {
        SimDialect::Interactions => object["channel"] = json!("chat"),
        SimDialect::Chats => object["uri"] = json!(format!("{}/chats/{}", st.api_url, chat.id)),
    }
    object
}

/// One transcript entry of `chat` as the bot sees it.
pub(crate) fn entry_json(st: &State, chat: &Chat, e: &Entry) -> Value {
    let wall = st.wall_clock(e.at);
    let mut m = json!({
        "type": e.kind,
        "visibility": e.visibility,
        "from": participant(st, chat, &e.from_type, &e.nickname, &e.participant_id),
    });
    match st.dialect {
        SimDialect::Interactions => {
            m["eventId"] = json!(e.event_id);
            m["timestamp"] = json!(iso8601(wall));
        }
        SimDialect::Chats => {
            m["index"] = json!(index(e));
            m["timestamp"] = json!(gws_timestamp(wall));
            m["timestampSeconds"] = json!(unix_millis(wall));
        }
    }
    if let Some(text) = &e.text {
        let field = match (st.dialect, e.kind.as_str()) {
            (SimDialect::Chats, "Notice" | "CustomNotice") => "noticeText",
            (SimDialect::Chats, "PushUrl") => "url",
            _ => "text",
        };
        m[field] = json!(text);
    }
    m
}

/// What happened to a chat, to be told to its owner.
pub(crate) enum Note<'a> {
    /// A new offer, with what the customer typed before it (`interactions` only shows that).
    Offer(&'a [Entry]),
    /// State or capabilities changed.
    Status,
    /// The transcript pushed after Accept or on request (`interactions` only).
    History(&'a [Entry]),
    /// New transcript entries.
    Messages(&'a [Entry]),
    Participants,
    /// User data changed.
    Properties,
    /// An operation accepted earlier (its `referenceId`) failed.
    Error(&'a str),
}

/// The notification `data` for `note`, or `None` when the dialect does not send one.
pub(crate) fn render(
    st: &State,
    chat: &Chat,
    note: Note<'_>,
    reference: Option<u64>,
) -> Option<Value> {
    let mut data = match st.dialect {
        SimDialect::Interactions => interactions(st, chat, &note),
        SimDialect::Chats => chats(st, chat, &note)?,
    };
    if let Note::Error(message) = note {
        data["errorMessage"] = json!(message);
    }
    let state_message = !matches!((st.dialect, &note), (SimDialect::Chats, Note::Messages(_)));
    if let Some(r) = reference.filter(|_| state_message) {
        data["referenceId"] = json!(r);
    }
    Some(data)
}

fn interactions(st: &State, chat: &Chat, note: &Note<'_>) -> Value {
    let (kind, entries) = match note {
        Note::Offer(e) => ("NewInteraction", Some(*e)),
        Note::Status => ("StatusChange", None),
        Note::History(e) => ("ChatHistory", Some(*e)),
        Note::Messages(e) => ("NewMessages", Some(*e)),
        Note::Participants => ("ParticipantsUpdated", None),
        Note::Properties => ("PropertiesUpdated", None),
        Note::Error(_) => ("Error", None),
    };
    let mut data = match st.readings.layout {
        Layout::Nested => json!({
            "messageType": "InteractionStateMessage",
            "notificationType": kind,
            "interaction": chat_json(st, chat),
        }),
        Layout::Flat => {
            let mut data = chat_json(st, chat);
            data["messageTypeName"] = json!("InteractionStateMessage");
            data["notificationType"] = json!(kind);
            data
        }
    };
    if let Some(entries) = entries {
        data["messages"] = entries.iter().map(|e| entry_json(st, chat, e)).collect();
    }
    data
}

fn chats(st: &State, chat: &Chat, note: &Note<'_>) -> Option<Value> {
    let kind = match note {
        Note::History(_) => return None,
        Note::Messages(entries) => {
            return Some(json!({
                "messageType": "MessageLogUpdated",
                "notificationType": "NewMessages",
                "chatUri": format!("{}/chats/{}", st.api_url, chat.id),
                "chatPath": format!("/chats/{}", chat.id),
                "messages": entries.iter().map(|e| entry_json(st, chat, e)).collect::<Vec<_>>(),
            }));
        }
        Note::Offer(_) | Note::Status => "StatusChange",
        Note::Participants => "ParticipantsUpdated",
        Note::Properties => "PropertiesUpdated",
        Note::Error(_) => "Error",
    };
    let object = match note {
        Note::Error(_) => json!({ "id": chat.id }),
        _ => chat_json(st, chat),
    };
    Some(json!({
        "messageType": "ChatStateChangeMessage",
        "notificationType": kind,
        "chat": object,
    }))
}
