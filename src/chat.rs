//! One chat's state machine: offered → accepted → bot conversation → escalating → handed over
//! or closed.
//!
//! Each chat runs as its own task fed by the dispatcher over a bounded channel, so a chat's
//! notifications are handled in order while chats run concurrently. The task owns everything
//! the bot knows about the chat: participants, attached data, the transcript cursor, which
//! messages it has already seen (so a message is never answered twice, even when a catch-up
//! repeats it), and the counters rules look at (`turn`, `unanswered`, rules already fired).

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::EscalationTexts;
use crate::decision_log::{Decision, DecisionLog};
use crate::event::{
    ChatId, ChatUpdate, Message, MessageKind, Participant, ParticipantKind, UpdateKind, UserData,
};
use crate::gws::{self, Operation};
use crate::responder::{Action, Chain, ChatView, Outcome, Response, Then, Trigger};
use crate::stats::Stats;

/// How long to wait for the transcript after Accept before asking for it explicitly.
pub const DEFAULT_HISTORY_TIMEOUT: Duration = Duration::from_secs(5);

fn trigger_name(trigger: &Trigger) -> &'static str {
    match trigger {
        Trigger::Accepted => "accepted",
        Trigger::Message { .. } => "message",
    }
}

/// The decision-log record of a response about to be carried out.
fn responded(trigger: &Trigger, response: &Response) -> Decision {
    let mut replies = Vec::new();
    let mut attached = Vec::new();
    for action in &response.actions {
        match action {
            Action::Reply(text) => replies.push(text.clone()),
            Action::Attach(data) => attached.extend(data.keys().cloned()),
            Action::Typing(_) => {}
        }
    }
    let then = match &response.then {
        Then::Stay => "stay".to_owned(),
        Then::Close => "close".to_owned(),
        Then::Escalate(team) => format!("escalate to team {}", team.name),
        Then::Transfer(skill) => format!("transfer to skill {skill}"),
    };
    Decision::Responded {
        trigger: trigger_name(trigger).into(),
        rules: response.acted.clone(),
        matched: response.matched,
        replies,
        attached,
        then,
    }
}

/// The decision-log record of a GWS operation's result.
fn gws_result(op: &Operation, error: Option<&gws::Error>) -> Decision {
    Decision::Gws {
        operation: op.label().into(),
        error: error.map(|e| e.to_string()),
    }
}

/// What the dispatcher feeds a chat task.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A notification about this chat (boxed: inboxes hold many of these).
    Update(Box<ChatUpdate>),
    /// The notification stream had a gap: ask for the transcript since the cursor.
    CatchUp,
}

/// Everything chats share: the GWS client, the responder chain and the texts.
pub struct Context {
    pub gws: gws::Client,
    pub chain: Chain,
    /// The nickname shown to customers.
    pub nickname: String,
    pub texts: EscalationTexts,
    /// Skill that takes chats the bot cannot go on with; without it such chats are closed
    /// politely.
    pub fallback_skill: Option<String>,
    pub history_timeout: Duration,
    pub stats: Arc<Stats>,
    /// What the bot decided in each chat and why (`gws-botd explain`).
    pub decisions: DecisionLog,
}

/// How a chat ended, from the bot's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The bot finished the chat (rule said close, customer left, nobody could take it).
    Closed { reason: String },
    /// The chat went to a human agent or a skill queue.
    HandedOver { to: String },
    /// The offer was not taken (Accept refused, offer withdrawn).
    NotAccepted { reason: String },
    /// GWS finished or took away the chat.
    Gone,
    /// The daemon stopped before the chat ended.
    Abandoned,
    /// Nothing worked, not even closing it: an operator must look at it.
    Stuck { reason: String },
}

impl End {
    /// A short stable name for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            End::Closed { .. } => "closed",
            End::HandedOver { .. } => "handed_over",
            End::NotAccepted { .. } => "not_accepted",
            End::Gone => "gone",
            End::Abandoned => "abandoned",
            End::Stuck { .. } => "stuck",
        }
    }
}

/// What the chat noticed while taking in an update.
#[derive(Debug, Default)]
pub struct Observed {
    /// Customer texts not seen before, in order.
    pub texts: Vec<String>,
    /// Participant ids of agents who joined (from the participant list or a join entry).
    pub joined: Vec<String>,
    pub customer_left: bool,
    /// GWS says the bot's part in the chat is over.
    pub finished: bool,
}

/// What waiting for the next input produced.
pub(crate) enum Next {
    Input(Input),
    Timeout,
    /// The dispatcher is gone: the daemon is stopping.
    Closed,
}

/// The state of one chat.
pub struct Chat {
    pub(crate) ctx: Arc<Context>,
    pub(crate) id: ChatId,
    inbox: mpsc::Receiver<Input>,
    memory: Memory,
    turn: u32,
    unanswered: u32,
    fired: HashSet<String>,
}

/// Run one chat from its offer to its end.
pub async fn run(ctx: Arc<Context>, offer: ChatUpdate, inbox: mpsc::Receiver<Input>) -> End {
    let mut chat = Chat {
        ctx,
        id: offer.id.clone(),
        inbox,
        memory: Memory::default(),
        turn: 0,
        unanswered: 0,
        fired: HashSet::new(),
    };
    chat.converse(offer).await
}

impl Chat {
    async fn converse(&mut self, offer: ChatUpdate) -> End {
        if !offer.has_capability("Accept") {
            return End::NotAccepted {
                reason: "the offer does not allow Accept".into(),
            };
        }
        let early = self.absorb(&offer);
        let accept = Operation::Accept {
            nickname: self.ctx.nickname.clone(),
        };
        if let Err(e) = self.ctx.gws.execute(&self.id, &accept).await {
            warn!(error = %e, "could not accept the chat");
            self.note(gws_result(&accept, Some(&e)));
            return End::NotAccepted {
                reason: e.to_string(),
            };
        }
        self.ctx.stats.chat_accepted();
        self.note(Decision::Accepted);
        info!(
            customer = self.memory.customer().unwrap_or("?"),
            "chat accepted"
        );

        let mut pending = early.texts;
        match self.await_history().await {
            Ok(texts) => pending.extend(texts),
            Err(end) => return end,
        }
        if let Some(end) = self.respond(Trigger::Accepted).await {
            return end;
        }
        for text in pending {
            if let Some(end) = self.on_customer_text(text).await {
                return end;
            }
        }
        loop {
            match self.next(None).await {
                Next::Input(Input::Update(update)) => {
                    if let Some(end) = self.on_update(&update).await {
                        return end;
                    }
                }
                Next::Input(Input::CatchUp) => self.catch_up().await,
                Next::Timeout => {}
                Next::Closed => return End::Abandoned,
            }
        }
    }

    /// After Accept the server sends the live state and then the transcript so far. Collect
    /// customer texts until the transcript arrived; ask for it once if it is late.
    async fn await_history(&mut self) -> Result<Vec<String>, End> {
        let mut texts = Vec::new();
        let mut asked = false;
        let mut deadline = Instant::now() + self.ctx.history_timeout;
        loop {
            match self.next(Some(deadline)).await {
                Next::Input(Input::Update(update)) => {
                    let seen = self.absorb(&update);
                    texts.extend(seen.texts);
                    if seen.finished {
                        return Err(End::Gone);
                    }
                    if seen.customer_left {
                        return Err(self.close("the customer left before the greeting").await);
                    }
                    if update.kind == UpdateKind::ChatHistory {
                        return Ok(texts);
                    }
                }
                Next::Input(Input::CatchUp) => {}
                Next::Timeout if !asked => {
                    warn!("no transcript after Accept; asking for it");
                    asked = true;
                    self.request_history(None).await;
                    deadline = Instant::now() + self.ctx.history_timeout;
                }
                Next::Timeout => {
                    warn!("no transcript after asking; greeting without it");
                    return Ok(texts);
                }
                Next::Closed => return Err(End::Abandoned),
            }
        }
    }

    async fn on_update(&mut self, update: &ChatUpdate) -> Option<End> {
        if update.kind == UpdateKind::Error {
            warn!(
                reference_id = update.reference_id,
                error = update.error.as_deref().unwrap_or(""),
                "GWS reported an error for this chat"
            );
        }
        let seen = self.absorb(update);
        if seen.finished {
            return Some(End::Gone);
        }
        for text in seen.texts {
            if let Some(end) = self.on_customer_text(text).await {
                return Some(end);
            }
        }
        if seen.customer_left {
            return Some(self.close("the customer left").await);
        }
        None
    }

    async fn on_customer_text(&mut self, text: String) -> Option<End> {
        self.turn += 1;
        self.ctx.stats.message_in();
        self.ctx.decisions.customer_said(&self.id, self.turn, &text);
        debug!(turn = self.turn, text = %text, "customer says");
        self.respond(Trigger::Message { text }).await
    }

    /// Ask the responder chain and carry out its answer. A failing or panicking responder
    /// hands the chat on instead of leaving the customer waiting.
    async fn respond(&mut self, trigger: Trigger) -> Option<End> {
        let view = ChatView {
            id: &self.id,
            customer: self.memory.customer(),
            bot: &self.ctx.nickname,
            user_data: &self.memory.user_data,
            turn: self.turn,
            unanswered: self.unanswered,
            fired: &self.fired,
        };
        let asked = AssertUnwindSafe(self.ctx.chain.respond(&view, &trigger))
            .catch_unwind()
            .await;
        let response = match asked {
            Ok(Ok(Outcome::Act(response))) => response,
            Ok(Ok(Outcome::Pass)) => {
                if matches!(trigger, Trigger::Message { .. }) {
                    self.unanswered += 1;
                    self.ctx.stats.no_match();
                    info!("no rule acted on the customer's message");
                }
                self.note(Decision::NoAnswer {
                    trigger: trigger_name(&trigger).into(),
                });
                return None;
            }
            Ok(Err(e)) => {
                error!(
                    error = format!("{e:#}"),
                    "responder failed; handing the chat on"
                );
                self.note(Decision::ResponderFailed {
                    error: format!("{e:#}"),
                });
                self.ctx.stats.responder_failure();
                return Some(self.bail("the responder failed").await);
            }
            Err(_) => {
                error!("responder panicked; handing the chat on");
                self.note(Decision::ResponderFailed {
                    error: "the responder panicked".into(),
                });
                self.ctx.stats.responder_failure();
                return Some(self.bail("the responder panicked").await);
            }
        };
        if matches!(trigger, Trigger::Message { .. }) {
            self.unanswered = if response.matched {
                0
            } else {
                self.ctx.stats.no_match();
                self.unanswered + 1
            };
        }
        self.note(responded(&trigger, &response));
        self.apply(response).await
    }

    async fn apply(&mut self, response: Response) -> Option<End> {
        for rule in &response.acted {
            info!(rule = %rule, "rule acted");
            self.ctx.stats.rule_hit(rule);
        }
        self.fired.extend(response.acted);
        for action in response.actions {
            let result = match action {
                Action::Typing(pause) => {
                    // Cosmetic: a failure is logged and the reply still goes out.
                    if let Err(e) = self.exec(Operation::Typing(true)).await {
                        warn!(error = %e, "typing indicator failed");
                    }
                    tokio::time::sleep(pause).await;
                    Ok(())
                }
                Action::Reply(text) => self.say(&text).await,
                Action::Attach(user_data) => {
                    self.memory
                        .user_data
                        .extend(user_data.iter().map(|(k, v)| (k.clone(), v.clone())));
                    self.exec(Operation::UpdateUserData { user_data }).await
                }
            };
            if let Err(e) = result {
                warn!(error = %e, "could not carry out the response");
                return Some(self.bail("an operation failed").await);
            }
        }
        match response.then {
            Then::Stay => None,
            Then::Close => Some(self.close("a rule closed the chat").await),
            Then::Escalate(team) => Some(crate::escalation::run(self, &team).await),
            Then::Transfer(skill) => Some(self.transfer_to_skill(&skill).await),
        }
    }

    /// Take in what an update says about the chat, and return what is new.
    pub(crate) fn absorb(&mut self, update: &ChatUpdate) -> Observed {
        self.memory.absorb(update)
    }

    /// Wait for the next input, until `deadline` if one is given.
    pub(crate) async fn next(&mut self, deadline: Option<Instant>) -> Next {
        let received = match deadline {
            Some(d) => match tokio::time::timeout_at(d, self.inbox.recv()).await {
                Ok(r) => r,
                Err(_) => return Next::Timeout,
            },
            None => self.inbox.recv().await,
        };
        match received {
            Some(input) => Next::Input(input),
            None => Next::Closed,
        }
    }

    pub(crate) async fn catch_up(&mut self) {
        info!(
            cursor = self.memory.cursor(),
            "catching up after a reconnect"
        );
        self.request_history(self.memory.cursor.clone()).await;
    }

    async fn request_history(&mut self, event_id: Option<String>) {
        if let Err(e) = self.exec(Operation::RequestChatHistory { event_id }).await {
            warn!(error = %e, "could not request the chat history");
        }
    }

    pub(crate) async fn exec(&self, op: Operation) -> Result<(), gws::Error> {
        let result = self.ctx.gws.execute(&self.id, &op).await.map(|_| ());
        self.note(gws_result(&op, result.as_ref().err()));
        result
    }

    /// Add to the chat's story in the decision log.
    pub(crate) fn note(&self, decision: Decision) {
        self.ctx.decisions.record(&self.id, decision);
    }

    /// Send a message to the customer.
    pub(crate) async fn say(&self, text: &str) -> Result<(), gws::Error> {
        self.exec(Operation::SendMessage {
            text: text.to_owned(),
        })
        .await?;
        self.ctx.stats.message_out();
        Ok(())
    }

    /// Finish the chat on purpose.
    pub(crate) async fn close(&mut self, reason: &str) -> End {
        match self.exec(Operation::StopProcessing).await {
            Ok(()) => {
                info!(reason, "chat closed");
                End::Closed {
                    reason: reason.to_owned(),
                }
            }
            Err(e) => {
                error!(error = %e, reason, "could not close the chat");
                End::Stuck {
                    reason: format!("StopProcessing failed: {e}"),
                }
            }
        }
    }

    /// Single-step transfer to a skill; if refused, tell the customer and close.
    pub(crate) async fn transfer_to_skill(&mut self, skill: &str) -> End {
        let op = Operation::TransferToSkill {
            skill: skill.to_owned(),
        };
        match self.exec(op).await {
            Ok(()) => {
                info!(skill, "chat transferred to a skill");
                End::HandedOver {
                    to: format!("skill {skill}"),
                }
            }
            Err(e) => {
                warn!(error = %e, skill, "transfer to the skill failed");
                let failed = self.ctx.texts.failed.clone();
                if let Err(e) = self.say(&failed).await {
                    warn!(error = %e, "could not tell the customer");
                }
                self.close("nobody could take the chat").await
            }
        }
    }

    /// The bot cannot go on: apologise, then hand the chat to the fallback skill or close it.
    async fn bail(&mut self, reason: &str) -> End {
        let text = self.ctx.texts.error.clone();
        if let Err(e) = self.say(&text).await {
            warn!(error = %e, "could not tell the customer");
        }
        match self.ctx.fallback_skill.clone() {
            Some(skill) => self.transfer_to_skill(&skill).await,
            None => self.close(reason).await,
        }
    }
}

/// What the bot remembers of a chat's notifications: participants, attached data, the
/// transcript cursor and which entries it has already seen.
#[derive(Debug, Default)]
pub struct Memory {
    customer: Option<String>,
    user_data: UserData,
    participants: Vec<Participant>,
    seen: HashSet<String>,
    cursor: Option<String>,
}

impl Memory {
    /// Take in what an update says about the chat, and return what is new.
    pub fn absorb(&mut self, update: &ChatUpdate) -> Observed {
        let mut seen = Observed::default();
        if let Some(data) = &update.user_data {
            self.user_data = data.clone();
        }
        if let Some(participants) = &update.participants {
            let had_customer = self.has_customer();
            self.participants = participants.clone();
            if self.customer.is_none() {
                self.customer = participants
                    .iter()
                    .find(|p| p.kind == ParticipantKind::Customer)
                    .and_then(|p| p.nickname.clone());
            }
            seen.joined.extend(
                participants
                    .iter()
                    .filter(|p| p.kind == ParticipantKind::Agent)
                    .filter_map(|p| p.participant_id.clone()),
            );
            if had_customer && !self.has_customer() {
                seen.customer_left = true;
            }
        }
        let state_done = update.state.as_deref().is_some_and(|s| {
            s.eq_ignore_ascii_case("Completed") || s.eq_ignore_ascii_case("Revoked")
        });
        let no_capabilities = update.capabilities.as_ref().is_some_and(|c| c.is_empty());
        seen.finished = state_done || no_capabilities;
        for message in &update.messages {
            if !self.first_sight(message) {
                continue;
            }
            if message.is_customer_text() {
                if let Some(text) = &message.text {
                    seen.texts.push(text.clone());
                }
            } else if message.kind == MessageKind::ParticipantLeft
                && message.from.kind == ParticipantKind::Customer
            {
                seen.customer_left = true;
            } else if message.kind == MessageKind::ParticipantJoined
                && message.from.kind == ParticipantKind::Agent
                && let Some(id) = &message.from.participant_id
            {
                seen.joined.push(id.clone());
            }
        }
        seen
    }

    /// Record a transcript entry; false if it was seen before.
    fn first_sight(&mut self, message: &Message) -> bool {
        let Some(id) = &message.event_id else {
            return true;
        };
        if !self.seen.insert(id.clone()) {
            return false;
        }
        self.cursor = Some(id.clone());
        true
    }

    fn has_customer(&self) -> bool {
        self.participants
            .iter()
            .any(|p| p.kind == ParticipantKind::Customer)
    }

    /// The customer's nickname, once known.
    pub fn customer(&self) -> Option<&str> {
        self.customer.as_deref()
    }

    /// The last transcript entry seen (the catch-up cursor).
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }
}

#[cfg(test)]
mod tests {
    // The whole state machine runs against the simulator in the integration tests; what
    // the chat remembers of notifications is tested here.
    use super::*;
    use crate::event::Visibility;

    fn person(kind: ParticipantKind, id: &str) -> Participant {
        Participant {
            kind,
            nickname: Some(format!("nick-{id}")),
            participant_id: Some(id.into()),
        }
    }

    fn entry(id: &str, kind: MessageKind, from: Participant, text: &str) -> Message {
        Message {
            event_id: Some(id.into()),
            kind,
            text: Some(text.into()),
            visibility: Visibility::All,
            from,
        }
    }

    fn update(kind: UpdateKind, messages: Vec<Message>) -> ChatUpdate {
        ChatUpdate {
            messages,
            ..ChatUpdate::new(ChatId::from("c1"), kind)
        }
    }

    #[test]
    fn customer_text_is_taken_once_and_moves_the_cursor() {
        let mut m = Memory::default();
        let customer = person(ParticipantKind::Customer, "p-1");
        let hello = entry("e-1", MessageKind::Text, customer.clone(), "hello");
        let first = m.absorb(&update(UpdateKind::NewMessages, vec![hello.clone()]));
        assert_eq!(first.texts, vec!["hello".to_string()]);
        assert_eq!(m.cursor(), Some("e-1"));
        // The same entry again, as a catch-up would deliver it: nothing new.
        let again = m.absorb(&update(UpdateKind::ChatHistory, vec![hello]));
        assert!(again.texts.is_empty());
    }

    #[test]
    fn the_bots_own_and_agent_only_messages_are_not_customer_text() {
        let mut m = Memory::default();
        let bot = person(ParticipantKind::Agent, "bot");
        let mut hidden = entry(
            "e-2",
            MessageKind::Text,
            person(ParticipantKind::Customer, "p"),
            "x",
        );
        hidden.visibility = Visibility::Agents;
        let seen = m.absorb(&update(
            UpdateKind::NewMessages,
            vec![entry("e-1", MessageKind::Text, bot, "Hi!"), hidden],
        ));
        assert!(seen.texts.is_empty());
        assert_eq!(m.cursor(), Some("e-2"));
    }

    #[test]
    fn participants_show_who_joined_and_who_left() {
        let mut m = Memory::default();
        let customer = person(ParticipantKind::Customer, "p-1");
        let agent = person(ParticipantKind::Agent, "agent-101");
        let mut u = ChatUpdate::new(ChatId::from("c1"), UpdateKind::ParticipantsUpdated);
        u.participants = Some(vec![customer.clone()]);
        assert!(!m.absorb(&u).customer_left);
        assert_eq!(m.customer(), Some("nick-p-1"));
        u.participants = Some(vec![customer, agent.clone()]);
        assert_eq!(m.absorb(&u).joined, vec!["agent-101".to_string()]);
        u.participants = Some(vec![agent]);
        assert!(m.absorb(&u).customer_left);
        let left = entry(
            "e-9",
            MessageKind::ParticipantLeft,
            person(ParticipantKind::Customer, "p-1"),
            "",
        );
        assert!(
            m.absorb(&update(UpdateKind::NewMessages, vec![left]))
                .customer_left
        );
    }

    #[test]
    fn completed_or_no_capabilities_means_finished() {
        let mut m = Memory::default();
        let mut u = ChatUpdate::new(ChatId::from("c1"), UpdateKind::StatusChange);
        u.state = Some("Chatting".into());
        u.capabilities = Some(vec!["SendMessage".into()]);
        assert!(!m.absorb(&u).finished);
        u.state = Some("Completed".into());
        assert!(m.absorb(&u).finished);
        u.state = None;
        u.capabilities = Some(vec![]);
        assert!(m.absorb(&u).finished);
    }

    #[test]
    fn end_labels_are_stable() {
        assert_eq!(End::Gone.label(), "gone");
        assert_eq!(End::HandedOver { to: "x".into() }.label(), "handed_over");
    }
}
