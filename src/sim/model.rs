//! The data of one chat in the simulated contact centre, the same model in both dialects: its
//! transcript, participants (each with an opaque `participantId`), consultation, human agents
//! and the bot's presence. What changes it is in `chats` (and `ops`, `customer`, `agents`);
//! what the bot sees of it is rendered by `wire`.

use std::collections::VecDeque;

use serde_json::{Map, Value};
use tokio::sync::watch;

use super::types::{ChatOutcome, ChatState, Entry, SimAgent, Step};

/// What a running customer script watches: bot texts so far and whether the chat left the bot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    pub bot_texts: u64,
    /// Human agents who have left the chat so far.
    pub agents_left: u64,
    pub ended: bool,
}

/// A consultation started by the bot.
pub(crate) struct Consult {
    pub agent: SimAgent,
    pub joined: bool,
}

/// Who a participant is. Each gets an opaque `participantId` the first time they are in the
/// chat and keeps it for the chat's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Person {
    Customer,
    /// A bot user, by user id.
    Bot(String),
    /// A human agent, by agent (user) id.
    Agent(String),
}

impl Person {
    /// The user id behind an agent participant (`uri` / `path` in the `named` form).
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Person::Customer => None,
            Person::Bot(id) | Person::Agent(id) => Some(id),
        }
    }
}

/// How a human agent is in the chat, which decides who sees what they write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Joined on the bot's consultation: hidden from the customer.
    Consulting,
    /// Joined unasked (a supervisor looking in): hidden from the customer.
    LookingIn,
    /// Conferenced in next to the bot: the customer sees them.
    Conference,
    /// The chat was transferred to them.
    Owner,
}

impl Role {
    /// The visibility of what an agent in this role writes.
    pub fn visibility(self) -> &'static str {
        match self {
            Role::Consulting | Role::LookingIn => "Agents",
            Role::Conference | Role::Owner => "All",
        }
    }
}

/// A human agent in the chat now.
pub(crate) struct Present {
    pub agent: SimAgent,
    pub role: Role,
}

pub(crate) struct Chat {
    pub id: String,
    pub state: ChatState,
    pub customer: String,
    pub customer_present: bool,
    /// The opaque `participantId` of everyone who has been in the chat.
    pub(crate) people: Vec<(Person, String)>,
    /// Human agents in the chat now, in joining order.
    pub agents: Vec<Present>,
    /// The agent the bot conferenced in, if any (kept after they leave).
    pub conference: Option<String>,
    pub owner: Option<String>,
    /// The bot left (`chats` `Leave`) but has not completed the chat yet (`LeftChat`).
    pub bot_left: bool,
    /// The bot's nickname from its Accept.
    pub nickname: Option<String>,
    pub user_data: Map<String, Value>,
    pub transcript: VecDeque<Entry>,
    pub(crate) next_event: u64,
    pub outcome: Option<ChatOutcome>,
    /// Event id of the message typed before anyone accepted.
    pub(crate) first_event: Option<String>,
    pub consult: Option<Consult>,
    pub consult_generation: u64,
    /// Taken when the bot first accepts.
    pub script: Option<Vec<Step>>,
    pub progress: watch::Sender<Progress>,
}
