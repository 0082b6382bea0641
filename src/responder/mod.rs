//! Responders decide what the bot does: given a read-only view of a chat and what just happened,
//! each returns actions or passes. They form an ordered chain chosen in configuration; the
//! first responder that acts wins. Built-ins are listed in `registry`.

pub(crate) mod registry;
pub mod rules;

pub use registry::ResponderConfig;

use std::collections::HashSet;
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

/// A read-only view of a chat, as responders see it.
#[derive(Debug, Clone)]
pub struct ChatView<'a> {
    pub id: &'a ChatId,
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

    /// Silences after which this responder wants a [`Trigger::Idle`], shortest first.
    fn idle_timeouts(&self) -> Vec<Duration> {
        Vec::new()
    }
}

/// The configured chain of responders, asked in order.
pub struct Chain {
    responders: Vec<Box<dyn Responder>>,
}

impl Chain {
    /// A chain asking `responders` in the given order.
    pub fn new(responders: Vec<Box<dyn Responder>>) -> Self {
        Chain { responders }
    }

    /// Ask each responder in turn; the first that acts wins. An error from any responder is
    /// returned as is: the caller treats it as "this chat needs a human".
    pub async fn respond(&self, chat: &ChatView<'_>, trigger: &Trigger) -> anyhow::Result<Outcome> {
        for responder in &self.responders {
            match responder.respond(chat, trigger).await? {
                Outcome::Pass => continue,
                act @ Outcome::Act(_) => return Ok(act),
            }
        }
        Ok(Outcome::Pass)
    }

    /// Silences after which any responder wants a [`Trigger::Idle`], shortest first.
    pub fn idle_timeouts(&self) -> Vec<Duration> {
        let mut all: Vec<Duration> = self
            .responders
            .iter()
            .flat_map(|r| r.idle_timeouts())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// Names of the responders, in order.
    pub fn names(&self) -> Vec<&str> {
        self.responders.iter().map(|r| r.name()).collect()
    }
}
