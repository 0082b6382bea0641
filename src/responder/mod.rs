//! Responders decide what the bot does: given a read-only view of a chat and what just happened,
//! each returns actions or passes. They form an ordered chain chosen in configuration; the
//! first responder that acts wins. Built-ins are listed in `registry`.

mod chain;
pub(crate) mod registry;
pub mod rules;
pub mod webhook;

pub use chain::{Answer, Chain, Link, OnError, Verdict};
pub use registry::{BuildError, ResponderConfig, ResponderKind};

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;

use crate::event::{ChatId, UserData};

/// What happened in the chat that a responder may react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The bot has accepted the chat and received its history.
    Accepted,
    /// A customer text message (never the bot's own, never agent-only).
    Message { text: String },
    /// Nobody has said anything for `silent` (counted from the last customer or bot message).
    Idle { silent: Duration },
    /// A hand-over found nobody: no consulted agent joined and the transfer was refused.
    EscalationFailed,
}

/// How many transcript entries a chat keeps for [`ChatView::recent`].
pub const RECENT_LINES: usize = 10;

/// Who wrote a transcript entry of [`ChatView::recent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Customer,
    Bot,
}

/// One customer or bot text of the chat, as an external responder sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Line {
    pub from: Speaker,
    pub text: String,
}

/// Keep `line` as the newest of at most [`RECENT_LINES`] entries.
pub fn remember(recent: &mut Vec<Line>, line: Line) {
    if recent.len() >= RECENT_LINES {
        recent.remove(0);
    }
    recent.push(line);
}

/// A read-only view of a chat, as responders see it.
#[derive(Debug, Clone)]
pub struct ChatView<'a> {
    pub id: &'a ChatId,
    /// The transcript id of the customer message the trigger carries (`Message` only).
    pub message_id: Option<&'a str>,
    /// The last customer and bot texts, oldest first (at most [`RECENT_LINES`]); for a
    /// `Message` trigger the current message is the last one.
    pub recent: &'a [Line],
    /// The customer's nickname, when known.
    pub customer: Option<&'a str>,
    /// The bot's nickname shown in the chat.
    pub bot: &'a str,
    pub user_data: &'a UserData,
    /// Customer text messages so far, the current one included.
    pub turn: u32,
    /// Consecutive customer messages that no `message` rule matched, before this one.
    pub unanswered: u32,
    /// Names of rules that have acted in this chat so far (for `once`).
    pub fired: &'a HashSet<String>,
    /// What the bot's previous answer asked the customer for (a rule's `await`), until the
    /// next customer message.
    pub awaiting: Option<&'a str>,
    /// The current time (from the chat's injected clock), for schedules.
    pub now: jiff::Timestamp,
}

/// A team of human agents to escalate to, as defined in the rule files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub name: String,
    /// Agents consulted one after another.
    pub agents: Vec<String>,
    /// Skill for the single-step transfer when no agent joins.
    pub skill: Option<String>,
    /// How long each consultation waits for the agent to join.
    pub wait: Duration,
    /// What happens once the consulted agent has joined.
    pub mode: TeamMode,
    /// In a conference: answer the customer again after the human agent has left
    /// (`false`: say goodbye and close).
    pub resume: bool,
}

pub use crate::event::TeamMode;

/// What happens to the chat after the replies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Then {
    /// Keep chatting.
    #[default]
    Stay,
    /// Finish the chat.
    Close,
    /// Consult the team's agents, then transfer (see `escalation`).
    Escalate(Team),
    /// Single-step transfer to a skill.
    Transfer(String),
}

/// One step of a response, carried out in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Show the typing indicator for this long, then hide it.
    Typing(Duration),
    /// Send a message to the customer.
    Reply(String),
    /// Add to the interaction's attached data.
    Attach(UserData),
}

/// A responder's decision for one trigger.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    /// Actions in the order they are carried out.
    pub actions: Vec<Action>,
    /// What happens after the actions.
    pub then: Then,
    /// Names of the rules (or other named decisions) that acted, in order; for logs,
    /// metrics and `once`.
    pub acted: Vec<String>,
    /// For a `Message` trigger: whether a `message` rule matched (resets `unanswered`).
    pub matched: bool,
    /// What the answer asks the customer for (a rule's `await`): the chat keeps it for the
    /// next customer message ([`ChatView::awaiting`]).
    pub awaiting: Option<String>,
}

/// The outcome of asking one responder.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nothing to do here: ask the next responder in the chain.
    Pass,
    /// Act, and stop the chain.
    Act(Response),
}

/// A decision-maker behind one async trait. Implementations must be cheap to call
/// concurrently from many chats.
#[async_trait]
pub trait Responder: Send + Sync {
    /// The name used in logs and metrics (the configured type).
    fn name(&self) -> &str;

    /// Decide what to do about `trigger` in `chat`.
    async fn respond(&self, chat: &ChatView<'_>, trigger: &Trigger) -> anyhow::Result<Outcome>;

    /// Silences after which this responder wants a [`Trigger::Idle`], shortest first. Asked
    /// on every wait of every chat: return a shared list, never build one here.
    fn idle_timeouts(&self) -> Arc<[Duration]> {
        no_idle_timeouts()
    }
}

/// The empty list of [`Responder::idle_timeouts`], shared (no allocation per call).
pub fn no_idle_timeouts() -> Arc<[Duration]> {
    static NONE: LazyLock<Arc<[Duration]>> = LazyLock::new(|| Arc::from(Vec::new()));
    NONE.clone()
}
