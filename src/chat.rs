//! One chat's state machine: offered → accepted → bot conversation → escalating → handed over
//! or closed.
//!
//! Each chat runs as its own task fed by the dispatcher over a bounded channel, so a chat's
//! notifications are handled in order while chats run concurrently. The task owns everything
//! the bot knows about the chat: participants, attached data, the transcript cursor, which
//! messages it has already seen (so a message is never answered twice, even when a catch-up
//! repeats it), and the counters rules look at (`turn`, `unanswered`, rules already fired).

use std::collections::{HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::config::EscalationTexts;
use crate::decision_log::{Decision, DecisionLog};
use crate::event::{
    ChatId, ChatUpdate, Message, MessageKind, Participant, ParticipantKind, UpdateKind, UserData,
};
use crate::gws::{self, Operation};
use crate::responder::{Action, Chain, ChatView, Outcome, Response, Then, Trigger};
use crate::resume::resume;
use crate::schedule::Clock;
use crate::session;
use crate::state::{Finish, Record, Store};
use crate::stats::Stats;

/// How long to wait for the transcript after Accept before asking for it explicitly.
pub const DEFAULT_HISTORY_TIMEOUT: Duration = Duration::from_secs(5);

fn trigger_name(trigger: &Trigger) -> &'static str {
    match trigger {
        Trigger::Accepted => "accepted",
        Trigger::Message { .. } => "message",
        Trigger::Idle { .. } => "idle",
        Trigger::EscalationFailed => "escalation_failed",
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
    /// After a re-login GWS did not list the chat as a live chat of the bot's: it was queued
    /// again (a GWS restart) and may be offered again, or it is gone.
    Unlisted,
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
    /// The time rules see (schedules); injected so tests can fix it.
    pub clock: Clock,
    /// Per-chat state that survives restarts.
    pub store: Store,
    /// Customer texts are cut to this many characters before the responders see them.
    pub max_message_chars: usize,
    /// Where a chat reports a lost session and waits for the next one.
    pub session: session::Link,
    /// Cancelled at the end of the shutdown grace period: open chats are handed over now.
    pub hand_over: CancellationToken,
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

/// A customer text and its transcript entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    pub id: Option<String>,
    pub text: String,
}

/// What the chat noticed while taking in an update.
#[derive(Debug, Default)]
pub struct Observed {
    /// Customer texts not seen before, in order.
    pub texts: Vec<Said>,
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
    /// The shutdown grace period is over: hand the chat over now.
    Deadline,
}

/// After an ambiguous send that the transcript does not show: wait this long and look again.
const SECOND_LOOK: Duration = Duration::from_secs(1);
/// How long a chat waits for the daemon to log in again after its session was lost.
const RELOGIN_WAIT: Duration = Duration::from_secs(60);
/// How long a chat that GWS no longer knows (queued again after a server restart) waits to be
/// offered again.
const REOFFER_WAIT: Duration = Duration::from_secs(60);

/// The state of one chat.
pub struct Chat {
    pub(crate) ctx: Arc<Context>,
    pub(crate) id: ChatId,
    inbox: mpsc::Receiver<Input>,
    /// Inputs taken from the inbox while waiting for a re-offer, handled next.
    stash: VecDeque<Input>,
    memory: Memory,
    turn: u32,
    unanswered: u32,
    fired: HashSet<String>,
    /// The last customer or bot message, for `idle` rules.
    last_activity: Instant,
    /// How much of the current silence `idle` rules have already been asked about.
    idle_handled: Duration,
    /// What survives a restart; saved in the store whenever it changes.
    pub(crate) record: Record,
    /// A saved record was found: the chat is being resumed.
    resumed: bool,
}

/// Run one chat from its offer (or, after a restart, its listing) to its end.
pub async fn run(ctx: Arc<Context>, offer: ChatUpdate, inbox: mpsc::Receiver<Input>) -> End {
    let saved = ctx.store.load(&offer.id);
    let record = saved.clone().unwrap_or_default();
    let mut chat = Chat {
        ctx,
        id: offer.id.clone(),
        inbox,
        stash: VecDeque::new(),
        memory: Memory::default(),
        turn: record.turn,
        unanswered: record.unanswered,
        fired: record.fired.iter().cloned().collect(),
        record,
        resumed: saved.is_some(),
        last_activity: Instant::now(),
        idle_handled: Duration::ZERO,
    };
    let end = chat.converse(offer).await;
    if end != End::Abandoned {
        chat.ctx.store.remove(&chat.id);
    }
    end
}

impl Chat {
    async fn converse(&mut self, offer: ChatUpdate) -> End {
        let adopt = !offer.has_capability("Accept");
        if adopt && !offer.has_capability("SendMessage") {
            return End::NotAccepted {
                reason: "the chat allows neither Accept nor SendMessage".into(),
            };
        }
        let early = self.absorb(&offer);
        if adopt {
            info!(
                cursor = self.record.cursor.as_deref().unwrap_or(""),
                saved = self.resumed,
                "resuming a chat that is still the bot's"
            );
            self.ctx.stats.chat_accepted();
            self.request_history(self.record.cursor.clone()).await;
        } else {
            if self.resumed {
                info!("offered again a chat the bot had before; resuming it");
            }
            let accept = Operation::Accept {
                nickname: self.ctx.nickname.clone(),
            };
            if let Err(e) = self.exec(accept).await {
                warn!(error = %e, "could not accept the chat");
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
        }
        let since_cursor = adopt && self.record.cursor.is_some();
        let (pending, greeted) = match self.await_history(early.texts, since_cursor).await {
            Ok(found) => found,
            Err(end) => return end,
        };
        if !greeted {
            // Saved once the greeting went out: a greeting cut by a crash or a lost session is
            // given again after a restart unless the transcript shows it (see `resume`).
            if let Some(end) = self.respond(Trigger::Accepted).await {
                return end;
            }
            self.record.greeted = true;
            self.save();
        }
        match self.record.finish.clone() {
            Some(Finish::Close) => {
                info!("finishing the close decided before the restart");
                return self.close("a rule closed the chat").await;
            }
            Some(Finish::Transfer(skill)) => {
                info!("finishing the transfer decided before the restart");
                return self.transfer_to_skill(&skill).await;
            }
            None => {}
        }
        if let Some(step) = self.record.escalation.clone() {
            return crate::escalation::resume(self, step).await;
        }
        for said in pending {
            if let Some(end) = self.on_customer_text(said).await {
                return end;
            }
        }
        loop {
            let idle = self.idle_deadline();
            match self.next(idle).await {
                Next::Input(Input::Update(update)) => {
                    if let Some(end) = self.on_update(&update).await {
                        return end;
                    }
                }
                Next::Input(Input::CatchUp) => self.catch_up().await,
                Next::Input(Input::Unlisted) => debug!("not listed after a re-login"),
                Next::Timeout => {
                    let silent = Instant::now().saturating_duration_since(self.last_activity);
                    self.idle_handled = silent;
                    if let Some(end) = self.respond(Trigger::Idle { silent }).await {
                        return end;
                    }
                }
                Next::Closed => return End::Abandoned,
                Next::Deadline => return self.hand_over_at_deadline().await,
            }
        }
    }

    /// When the next `idle` rule wants to be asked: the shortest `after` longer than the part
    /// of the current silence already handled.
    fn idle_deadline(&self) -> Option<Instant> {
        let after = self
            .ctx
            .chain
            .idle_timeouts()
            .into_iter()
            .find(|after| *after > self.idle_handled)?;
        Some(self.last_activity + after)
    }

    /// A customer or bot message: the silence starts again.
    fn activity(&mut self) {
        self.last_activity = Instant::now();
        self.idle_handled = Duration::ZERO;
    }

    /// After Accept (or the history request of a resumed chat) the server sends the transcript
    /// so far. Collect customer texts until it arrived, then decide with [`resume`] which of
    /// them still need an answer and whether the customer was greeted; ask once if it is late.
    async fn await_history(
        &mut self,
        early: Vec<Said>,
        since_cursor: bool,
    ) -> Result<(Vec<Said>, bool), End> {
        let mut texts = early;
        let mut asked = since_cursor;
        let mut deadline = Instant::now() + self.ctx.history_timeout;
        loop {
            match self.next(Some(deadline)).await {
                Next::Input(Input::Update(update)) => {
                    let seen = self.absorb(&update);
                    if update.kind == UpdateKind::ChatHistory {
                        let found = self.pending_in_history(&update, texts, since_cursor);
                        if seen.finished {
                            return Err(End::Gone);
                        }
                        if seen.customer_left {
                            return Err(self.close("the customer left").await);
                        }
                        return Ok(found);
                    }
                    texts.extend(seen.texts);
                    if seen.finished {
                        return Err(End::Gone);
                    }
                    if seen.customer_left {
                        return Err(self.close("the customer left before the greeting").await);
                    }
                }
                Next::Input(Input::CatchUp | Input::Unlisted) => {}
                Next::Timeout if !asked => {
                    warn!("no transcript after Accept; asking for it");
                    asked = true;
                    self.request_history(None).await;
                    deadline = Instant::now() + self.ctx.history_timeout;
                }
                Next::Timeout => {
                    warn!("no transcript after asking; going on without it");
                    return Ok((texts, self.record.greeted));
                }
                Next::Closed => return Err(End::Abandoned),
                Next::Deadline => return Err(self.hand_over_at_deadline().await),
            }
        }
    }

    /// The customer texts of `history` the bot still has to answer (plus `earlier` ones that
    /// are not in it), and whether the customer was greeted.
    fn pending_in_history(
        &mut self,
        history: &ChatUpdate,
        earlier: Vec<Said>,
        since_cursor: bool,
    ) -> (Vec<Said>, bool) {
        let record = self.resumed.then_some(&self.record);
        let r = resume(&history.messages, record, &self.ctx.nickname, since_cursor);
        let skip = r.handled_through.map_or(0, |i| i + 1);
        let mut texts: Vec<Said> = history.messages[skip.min(history.messages.len())..]
            .iter()
            .filter(|m| m.is_customer_text())
            .filter_map(|m| {
                Some(Said {
                    id: m.event_id.clone(),
                    text: m.text.clone()?,
                })
            })
            .collect();
        let in_history: HashSet<&str> = history
            .messages
            .iter()
            .filter_map(|m| m.event_id.as_deref())
            .collect();
        texts.extend(
            earlier
                .into_iter()
                .filter(|s| s.id.as_deref().is_none_or(|id| !in_history.contains(id))),
        );
        let unanswered_cause = self
            .record
            .answering
            .as_deref()
            .is_some_and(|a| texts.iter().any(|t| t.id.as_deref() == Some(a)));
        if unanswered_cause {
            // The message that led to a decided end was never answered: answer it again,
            // which decides again, instead of ending without a word.
            self.record.finish = None;
            if self
                .record
                .escalation
                .as_ref()
                .is_some_and(|e| e.stage == crate::state::Stage::Decided)
            {
                self.record.escalation = None;
            }
        }
        if self.resumed || r.greeted {
            info!(
                pending = texts.len(),
                greeted = r.greeted,
                "picked up where the chat stopped"
            );
        }
        (texts, r.greeted)
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
        for said in seen.texts {
            if let Some(end) = self.on_customer_text(said).await {
                return Some(end);
            }
        }
        if seen.customer_left {
            return Some(self.close("the customer left").await);
        }
        None
    }

    async fn on_customer_text(&mut self, said: Said) -> Option<End> {
        self.turn += 1;
        self.activity();
        self.ctx.stats.message_in();
        let text = limit_text(said.text, self.ctx.max_message_chars);
        self.ctx.decisions.customer_said(&self.id, self.turn, &text);
        debug!(turn = self.turn, text = %text, "customer says");
        // Write-ahead: if the daemon dies while answering, the transcript shows on restart
        // whether the answer went out.
        self.record.answering = said.id.clone();
        self.save();
        let end = self.respond(Trigger::Message { text }).await;
        if end.is_none() {
            self.handled(said.id);
        }
        end
    }

    /// The customer message `id` is answered: move the saved cursor past it.
    pub(crate) fn handled(&mut self, id: Option<String>) {
        self.record.answering = None;
        if id.is_some() {
            self.record.cursor = id;
        }
        self.save();
    }

    /// Save the record with the current counters.
    pub(crate) fn save(&mut self) {
        self.record.turn = self.turn;
        self.record.unanswered = self.unanswered;
        self.record.fired = self.fired.iter().cloned().collect();
        self.ctx.store.save(&self.id, &self.record);
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
            now: self.ctx.clock.now(),
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
        // `once` and the decided end must hold across a crash in the middle of the actions.
        match &response.then {
            Then::Stay => {}
            Then::Close => self.record.finish = Some(Finish::Close),
            Then::Transfer(skill) => self.record.finish = Some(Finish::Transfer(skill.clone())),
            Then::Escalate(team) => {
                crate::escalation::mark(self, team, 0, crate::state::Stage::Decided);
            }
        }
        self.save();
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

    /// Whether agent `id` is in the chat (a consulted agent who joined).
    pub(crate) fn has_agent(&self, id: &str) -> bool {
        self.memory
            .participants
            .iter()
            .any(|p| p.kind == ParticipantKind::Agent && p.participant_id.as_deref() == Some(id))
    }

    /// Take in what an update says about the chat, and return what is new.
    pub(crate) fn absorb(&mut self, update: &ChatUpdate) -> Observed {
        self.memory.absorb(update)
    }

    /// Wait for the next input, until `deadline` if one is given. A re-offer of this chat
    /// (GWS queued it again after losing it) is accepted here, wherever the chat is waiting.
    pub(crate) async fn next(&mut self, deadline: Option<Instant>) -> Next {
        let input = match self.stash.pop_front() {
            Some(input) => Some(input),
            None => {
                let hand_over = self.ctx.hand_over.clone();
                let recv = async {
                    match deadline {
                        Some(d) => tokio::time::timeout_at(d, self.inbox.recv()).await.ok(),
                        None => Some(self.inbox.recv().await),
                    }
                };
                tokio::select! {
                    biased;
                    _ = hand_over.cancelled() => return Next::Deadline,
                    received = recv => match received {
                        Some(r) => r,
                        None => return Next::Timeout,
                    },
                }
            }
        };
        match input {
            Some(Input::Update(update)) => {
                if update.has_capability("Accept") {
                    self.accept_again().await;
                }
                Next::Input(Input::Update(update))
            }
            Some(input) => Next::Input(input),
            None => Next::Closed,
        }
    }

    /// The chat was offered again: take it back. A refusal (it is ours already, a stale or
    /// repeated notification) is harmless.
    async fn accept_again(&mut self) {
        let accept = Operation::Accept {
            nickname: self.ctx.nickname.clone(),
        };
        match self.ctx.gws.execute(&self.id, &accept).await {
            Ok(_) => info!("chat offered again; accepted it again"),
            Err(e) => debug!(error = %e, "re-offer not taken (already ours or stale)"),
        }
    }

    /// Move what waits in the inbox to the stash; if a re-offer is among it, accept the chat
    /// again (the re-offer itself is dropped). True if there was one.
    async fn take_reoffer(&mut self) -> bool {
        let mut reoffered = false;
        while let Ok(input) = self.inbox.try_recv() {
            match input {
                Input::Update(update) if update.has_capability("Accept") => reoffered = true,
                other => self.stash.push_back(other),
            }
        }
        if reoffered {
            self.accept_again().await;
        }
        reoffered
    }

    /// After a new session, before a request is tried again: take the chat back if it was
    /// offered again, and if GWS did not list it as the bot's, wait until it is offered again
    /// (sending on it before would act on a chat that is only queued or an invitation now).
    /// False when it was not offered again in time.
    async fn back_after_renewal(&mut self) -> bool {
        let (mut reoffered, mut unlisted) = (false, false);
        while let Ok(input) = self.inbox.try_recv() {
            match input {
                Input::Update(update) if update.has_capability("Accept") => reoffered = true,
                Input::Unlisted => unlisted = true,
                other => self.stash.push_back(other),
            }
        }
        if reoffered {
            self.accept_again().await;
            return true;
        }
        if !unlisted {
            return true;
        }
        warn!(
            "the chat is not the bot's since the new session; waiting for it to be offered again"
        );
        self.await_reoffer().await
    }

    /// After "not found": is it the chat that GWS does not know (rather than a skill or an
    /// agent the operation named)? Asked with a harmless history request.
    async fn chat_unknown(&self) -> bool {
        let probe = Operation::RequestChatHistory {
            event_id: self.memory.cursor.clone(),
        };
        matches!(
            self.ctx.gws.execute(&self.id, &probe).await,
            Err(gws::Error::Status { code: 6, .. })
        )
    }

    /// Wait until the chat is offered again, keeping every other input for later. True when
    /// it was (and has been accepted again).
    async fn await_reoffer(&mut self) -> bool {
        let deadline = Instant::now() + REOFFER_WAIT;
        loop {
            let received = tokio::select! {
                biased;
                _ = self.ctx.hand_over.cancelled() => return false,
                r = tokio::time::timeout_at(deadline, self.inbox.recv()) => r,
            };
            match received {
                Ok(Some(Input::Update(update))) if update.has_capability("Accept") => {
                    self.accept_again().await;
                    self.stash.push_back(Input::Update(update));
                    return true;
                }
                Ok(Some(input)) => self.stash.push_back(input),
                Ok(None) | Err(_) => return false,
            }
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

    /// Carry out `op` on this chat. A lost session is reported and the operation tried once
    /// more after the daemon has logged in again; so is one on a chat GWS queued again after a
    /// restart, once it has been offered back.
    pub(crate) async fn exec(&mut self, op: Operation) -> Result<(), gws::Error> {
        let result = self.exec_once_more_after_loss(&op).await;
        self.note(gws_result(&op, result.as_ref().err()));
        result
    }

    /// [`Chat::exec`] without the decision log.
    async fn exec_once_more_after_loss(&mut self, op: &Operation) -> Result<(), gws::Error> {
        let epoch = self.ctx.session.epoch();
        // A re-offer waiting in the inbox (GWS queued the chat again) is taken first, so that
        // nothing is sent on a chat that is only an invitation now.
        if self.take_reoffer().await {
            info!("chat offered again while busy; accepted it again first");
        }
        let err = match self.ctx.gws.execute(&self.id, op).await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        // 401 at login means a wrong password; on an operation of a running session it means
        // the session was dropped: log in again (the login backs off if it is the password).
        let again = if err.needs_login() || matches!(err, gws::Error::Unauthorized) {
            warn!(error = %err, operation = op.label(), "session lost; waiting for a new one");
            self.ctx.session.report_lost();
            let hand_over = self.ctx.hand_over.clone();
            let renewed = tokio::select! {
                renewed = self.ctx.session.renewed_after(epoch, RELOGIN_WAIT) => renewed,
                _ = hand_over.cancelled() => false,
            };
            renewed && self.back_after_renewal().await
        } else if matches!(err, gws::Error::Status { code: 2, .. })
            && !matches!(op, Operation::Accept { .. })
            && self.take_reoffer().await
        {
            true
        } else if matches!(err, gws::Error::Status { code: 6, .. })
            && !matches!(op, Operation::Accept { .. })
            && self.chat_unknown().await
        {
            warn!(error = %err, operation = op.label(), "GWS does not know the chat; waiting for it to be offered again");
            self.await_reoffer().await
        } else {
            false
        };
        if !again {
            return Err(err);
        }
        self.ctx.gws.execute(&self.id, op).await.map(|_| ())
    }

    /// Add to the chat's story in the decision log.
    pub(crate) fn note(&self, decision: Decision) {
        self.ctx.decisions.record(&self.id, decision);
    }

    /// Send a message to the customer.
    /// When sending fails ambiguously (a timeout: GWS may have sent it), the transcript
    /// decides: the message is sent again only if it is not there.
    pub(crate) async fn say(&mut self, text: &str) -> Result<(), gws::Error> {
        let send = Operation::SendMessage {
            text: text.to_owned(),
        };
        match self.exec(send.clone()).await {
            Ok(()) => {}
            Err(e) if e.is_ambiguous() => {
                warn!(error = %e, "sending failed ambiguously; checking the transcript");
                // A request still in flight may land after the first look: look twice.
                let mut sent = self.sent_since_cursor(text).await;
                if sent == Some(false) {
                    tokio::time::sleep(SECOND_LOOK).await;
                    sent = self.sent_since_cursor(text).await;
                }
                match sent {
                    Some(true) => info!("the message had gone out; not sending it again"),
                    Some(false) => self.exec(send).await?,
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        self.activity();
        self.ctx.stats.message_out();
        Ok(())
    }

    /// A hand-over found nobody: let `escalation_failed` rules speak (their replies replace
    /// the configured `failed` text), then close the chat.
    pub(crate) async fn give_up(&mut self) -> End {
        // Saved first: a restart finishes the close instead of asking again.
        self.record.finish = Some(Finish::Close);
        self.save();
        let view = ChatView {
            id: &self.id,
            customer: self.memory.customer(),
            bot: &self.ctx.nickname,
            user_data: &self.memory.user_data,
            turn: self.turn,
            unanswered: self.unanswered,
            fired: &self.fired,
            now: self.ctx.clock.now(),
        };
        let asked = AssertUnwindSafe(self.ctx.chain.respond(&view, &Trigger::EscalationFailed))
            .catch_unwind()
            .await;
        let actions = match asked {
            Ok(Ok(Outcome::Act(response))) => {
                for rule in &response.acted {
                    info!(rule = %rule, "rule acted on the failed hand-over");
                    self.ctx.stats.rule_hit(rule);
                }
                self.fired.extend(response.acted);
                response.actions
            }
            Ok(Ok(Outcome::Pass)) => vec![Action::Reply(self.ctx.texts.failed.clone())],
            Ok(Err(_)) | Err(_) => {
                warn!("responder failed on the failed hand-over; using the configured text");
                vec![Action::Reply(self.ctx.texts.failed.clone())]
            }
        };
        for action in actions {
            let result = match action {
                Action::Typing(pause) => {
                    tokio::time::sleep(pause).await;
                    Ok(())
                }
                Action::Reply(text) => self.say(&text).await,
                Action::Attach(user_data) => {
                    self.exec(Operation::UpdateUserData { user_data }).await
                }
            };
            if let Err(e) = result {
                warn!(error = %e, "could not tell the customer");
                break;
            }
        }
        self.close("nobody could take the chat").await
    }

    /// Whether the bot's `text` is in the transcript after the cursor (`None`: cannot tell).
    /// Everything else that arrives meanwhile is kept for later.
    async fn sent_since_cursor(&mut self, text: &str) -> Option<bool> {
        let ask = Operation::RequestChatHistory {
            event_id: self.memory.cursor.clone(),
        };
        if let Err(e) = self.ctx.gws.execute(&self.id, &ask).await {
            warn!(error = %e, "cannot check the transcript");
            return None;
        }
        let deadline = Instant::now() + self.ctx.history_timeout;
        let mut kept = Vec::new();
        let found = loop {
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(Input::Update(update))) if update.kind == UpdateKind::ChatHistory => {
                    let sent = update.messages.iter().any(|m| {
                        crate::resume::is_bot_text(m, &self.ctx.nickname)
                            && m.text.as_deref() == Some(text)
                            && !self.memory.has_seen(m)
                    });
                    kept.push(Input::Update(update));
                    break Some(sent);
                }
                Ok(Some(input)) => kept.push(input),
                Ok(None) | Err(_) => break None,
            }
        };
        self.stash.extend(kept);
        found
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
                self.give_up().await
            }
        }
    }

    /// Tell the customer nobody can take the chat, then close it. The close is saved first,
    /// so a restart closes without telling them again.
    pub(crate) async fn fail_and_close(&mut self, reason: &str) -> End {
        self.record.finish = Some(Finish::Close);
        self.save();
        let failed = self.ctx.texts.failed.clone();
        if let Err(e) = self.say(&failed).await {
            warn!(error = %e, "could not tell the customer");
        }
        self.close(reason).await
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

    /// The shutdown grace period is over: hand the chat to the fallback skill, or tell the
    /// customer and close it.
    pub(crate) async fn hand_over_at_deadline(&mut self) -> End {
        info!("shutdown deadline: handing the chat over");
        match self.ctx.fallback_skill.clone() {
            Some(skill) => {
                let queued = self.ctx.texts.queued.clone();
                if let Err(e) = self.say(&queued).await {
                    warn!(error = %e, "could not tell the customer");
                }
                self.transfer_to_skill(&skill).await
            }
            None => self.fail_and_close("the bot is shutting down").await,
        }
    }
}

/// Cut `text` to at most `max` characters, so that absurd messages never reach the rules.
pub fn limit_text(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => {
            warn!(
                chars = text.chars().count(),
                max, "customer message too long; only its beginning is read"
            );
            text[..cut].to_owned()
        }
        None => text,
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
                    seen.texts.push(Said {
                        id: message.event_id.clone(),
                        text: text.clone(),
                    });
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

    /// Whether this transcript entry was taken in already.
    fn has_seen(&self, message: &Message) -> bool {
        message
            .event_id
            .as_ref()
            .is_some_and(|id| self.seen.contains(id))
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
        assert_eq!(
            first.texts,
            vec![Said {
                id: Some("e-1".into()),
                text: "hello".into()
            }]
        );
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
    fn long_texts_are_cut_on_char_boundaries() {
        assert_eq!(limit_text("héllo".into(), 2), "hé");
        assert_eq!(limit_text("short".into(), 100), "short");
    }

    #[test]
    fn end_labels_are_stable() {
        assert_eq!(End::Gone.label(), "gone");
        assert_eq!(End::HandedOver { to: "x".into() }.label(), "handed_over");
    }
}
