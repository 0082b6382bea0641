//! One chat's state machine: offered → accepted → bot conversation → escalating → handed over
//! or closed.
//!
//! Each chat runs as its own task fed by the dispatcher over a bounded channel, so a chat's
//! notifications are handled in order while chats run concurrently. The task owns everything
//! the bot knows about the chat: participants, attached data, the transcript cursor, which
//! messages it has already seen (so a message is never answered twice, even when a catch-up
//! repeats it), and the counters rules look at (`turn`, `unanswered`, rules already fired).

mod conference;
mod end;
pub(crate) mod escalation;
mod history;
mod memory;
mod ops;
mod respond;
pub(crate) mod resume;
pub mod shadow;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::EscalationTexts;
use crate::event::{ChatId, ChatUpdate, Me};
use crate::gws::Capability;
use crate::gws::session;
use crate::gws::{self, Operation};
use crate::responder::{Chain, Trigger};
use crate::schedule::Clock;
use crate::store::decision_log::{Decision, DecisionLog};
use crate::store::state::{Finish, Record, Saved, Store};
use crate::telemetry::stats::Stats;

pub use memory::{Memory, Observed, Said, limit_text};

/// How long to wait for the transcript after Accept before asking for it explicitly.
pub const DEFAULT_HISTORY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the dispatcher feeds a chat task.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A notification about this chat (boxed: inboxes hold many of these).
    Update(Box<ChatUpdate>),
    /// The notification stream had a gap: ask for the transcript since the cursor.
    CatchUp,
    /// After a re-login GWS did not list the chat as a live chat of the bot's: it was queued
    /// again (a GWS restart) and may be offered again, or it is gone. Carries when the listing
    /// was asked for: a listing older than the chat's last Accept says nothing about it now.
    Unlisted(Instant),
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
    /// The shadow rules (`[shadow]`), evaluated after the live chain and never sent.
    pub shadow: Option<Arc<shadow::Shadow>>,
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

/// What waiting for the next input produced.
pub(crate) enum Next {
    Input(Input),
    Timeout,
    /// The dispatcher is gone: the daemon is stopping.
    Closed,
    /// The shutdown grace period is over: hand the chat over now.
    Deadline,
}

/// The state of one chat.
pub struct Chat {
    pub(crate) ctx: Arc<Context>,
    pub(crate) id: ChatId,
    inbox: mpsc::Receiver<Input>,
    /// Inputs taken from the inbox while waiting for a re-offer, handled next.
    stash: VecDeque<Input>,
    pub(crate) memory: Memory,
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
    /// When GWS last gave the chat to the bot (an Accept answered OK).
    taken_at: Option<Instant>,
    /// The newest "unlisted" a wait took in (the main loop or an escalation waiting for an
    /// agent): the next request still waits for the re-offer first. Dropping it sent a
    /// message on an invitation after a GWS restart during an escalation.
    unlisted: Option<Instant>,
    /// The last save of `record`: committed before anything is sent to GWS (`exec`).
    pub(crate) saved: Saved,
    /// The shadow rules' evaluations of this chat, in order.
    shadow: shadow::Lane,
    /// The customer texts of the history a resumed chat caught up with that came after the
    /// last agent left ([`conference::texts_after_agents_left`]).
    after_agents_left: Option<Vec<String>>,
}

/// Run one chat from its offer (or, after a restart, its listing) to its end.
pub async fn run(ctx: Arc<Context>, offer: ChatUpdate, inbox: mpsc::Receiver<Input>) -> End {
    let saved = ctx.store.load(&offer.id).await;
    let record = saved.clone().unwrap_or_default();
    let mut chat = Chat {
        ctx,
        id: offer.id.clone(),
        inbox,
        stash: VecDeque::new(),
        memory: Memory::resumed_at(record.cursor.clone()),
        turn: record.turn,
        unanswered: record.unanswered,
        fired: record.fired.iter().cloned().collect(),
        record,
        resumed: saved.is_some(),
        taken_at: None,
        unlisted: None,
        saved: Saved::default(),
        after_agents_left: None,
        last_activity: Instant::now(),
        idle_handled: Duration::ZERO,
        shadow: shadow::Lane::default(),
    };
    let end = chat.converse(offer).await;
    // An abandoned chat resumes at the next start; a stuck one may be offered again by GWS
    // (queued again after a restart) and then finishes what was decided. Stale records are
    // pruned by the dispatcher.
    if !matches!(end, End::Abandoned | End::Stuck { .. }) {
        chat.ctx.store.remove(&chat.id);
    }
    end
}

impl Chat {
    async fn converse(&mut self, offer: ChatUpdate) -> End {
        let adopt = !offer.has_capability(Capability::Accept);
        if adopt && !offer.has_capability(Capability::SendMessage) {
            return End::NotAccepted {
                reason: "the chat allows neither Accept nor SendMessage".into(),
            };
        }
        let early = self.absorb(&offer);
        if let Err(end) = self.take(adopt).await {
            return end;
        }
        let since_cursor = adopt && self.record.cursor.is_some();
        let (pending, greeted) = match Box::pin(self.await_history(early.texts, since_cursor)).await
        {
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
        if let Some(end) = self.finish_decided().await {
            return end;
        }
        if let Some(end) = self.answer_pending(pending).await {
            return end;
        }
        self.serve().await
    }

    /// Accept the offer, or adopt a chat that is still the bot's (after a restart or a
    /// re-login): fetch what was said since the saved cursor.
    async fn take(&mut self, adopt: bool) -> Result<(), End> {
        if adopt {
            info!(
                cursor = self.record.cursor.as_deref().unwrap_or(""),
                saved = self.resumed,
                "resuming a chat that is still the bot's"
            );
            self.ctx.stats.chat_accepted();
            Box::pin(self.request_history(self.record.cursor.clone())).await;
            return Ok(());
        }
        if self.resumed {
            info!("offered again a chat the bot had before; resuming it");
        }
        let accept = Operation::Accept {
            nickname: self.ctx.nickname.clone(),
        };
        if let Err(e) = self.exec(accept).await {
            warn!(error = %e, "could not accept the chat");
            return Err(End::NotAccepted {
                reason: e.to_string(),
            });
        }
        self.taken_at = Some(Instant::now());
        self.ctx.stats.chat_accepted();
        self.note(Decision::Accepted);
        info!(
            customer = self.memory.customer().unwrap_or("?"),
            "chat accepted"
        );
        Ok(())
    }

    /// Finish a close or a transfer decided before a restart.
    async fn finish_decided(&mut self) -> Option<End> {
        match self.record.finish.clone()? {
            Finish::Close => {
                info!("finishing the close decided before the restart");
                Some(Box::pin(self.close("a rule closed the chat")).await)
            }
            Finish::Transfer(skill) => {
                info!("finishing the transfer decided before the restart");
                Some(Box::pin(self.transfer_to_skill(&skill)).await)
            }
        }
    }

    /// Resume a hand-over in progress, then answer what the customer said meanwhile.
    async fn answer_pending(&mut self, mut pending: Vec<Said>) -> Option<End> {
        let after_agents_left = self.after_agents_left.take();
        if let Some(step) = self.record.escalation.clone() {
            // Who is in the chat now, as the transcript caught up with shows it.
            let humans_gone = self.human_agents().is_empty();
            if let Some(end) = Box::pin(crate::chat::escalation::resume(self, step)).await {
                return Some(end);
            }
            // Back from a conference: what the customer said while a human was there was the
            // human's; what came after the humans left while the bot was away is the bot's.
            let after = after_agents_left
                .filter(|_| humans_gone)
                .unwrap_or_default();
            let (ours, theirs) = conference::split_after(std::mem::take(&mut pending), &after);
            for said in theirs {
                self.handled(said.id);
            }
            pending = ours;
        }
        for said in pending {
            if let Some(end) = self.on_customer_text(said).await {
                return Some(end);
            }
        }
        None
    }

    /// The conversation: updates, catch-ups and idle timers until the chat ends.
    async fn serve(&mut self) -> End {
        loop {
            let idle = self.idle_deadline();
            match self.next(idle).await {
                Next::Input(Input::Update(update)) => {
                    if let Some(end) = self.on_update(&update).await {
                        return end;
                    }
                }
                Next::Input(Input::CatchUp) => Box::pin(self.catch_up()).await,
                Next::Input(Input::Unlisted(_)) => debug!("not listed after a re-login"),
                Next::Timeout => {
                    let silent = Instant::now().saturating_duration_since(self.last_activity);
                    self.idle_handled = silent;
                    if let Some(end) = self.respond(Trigger::Idle { silent }).await {
                        return end;
                    }
                }
                Next::Closed => return End::Abandoned,
                Next::Deadline => return Box::pin(self.hand_over_at_deadline()).await,
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
            .iter()
            .copied()
            .find(|after| *after > self.idle_handled)?;
        Some(self.last_activity + after)
    }

    /// A customer or bot message: the silence starts again.
    fn activity(&mut self) {
        self.last_activity = Instant::now();
        self.idle_handled = Duration::ZERO;
    }

    /// How the bot knows itself among the chat's participants.
    pub(crate) fn me(&self) -> Me {
        Me {
            nickname: self.ctx.nickname.clone(),
            user: self.ctx.gws.user_id(),
        }
    }

    /// The key of a participant in the chat who may be the consulted user `agent` having
    /// joined, given who cannot be (`present`, see [`crate::event::Participant::may_be`]).
    pub(crate) fn consulted(&self, agent: &str, present: &[String]) -> Option<String> {
        let me = self.me();
        self.memory
            .participants
            .iter()
            .find(|p| p.may_be(agent, &me, present))
            .and_then(|p| p.key().map(str::to_owned))
    }

    /// The keys of the human agents in the chat now (every agent but the bot).
    pub(crate) fn human_agents(&self) -> Vec<String> {
        let me = self.me();
        self.memory
            .participants
            .iter()
            .filter(|p| p.is_human_agent(&me))
            .filter_map(|p| p.key().map(str::to_owned))
            .collect()
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
            Some(Input::Update(mut update)) => {
                if update.has_capability(Capability::Accept) {
                    ops::drop_transcript_excerpt(&mut update);
                    Box::pin(self.accept_again()).await;
                }
                Next::Input(Input::Update(update))
            }
            Some(Input::Unlisted(at)) => {
                self.unlisted = self.unlisted.max(Some(at));
                Next::Input(Input::Unlisted(at))
            }
            Some(input) => Next::Input(input),
            None => Next::Closed,
        }
    }

    /// Add to the chat's story in the decision log.
    pub(crate) fn note(&self, decision: Decision) {
        self.ctx.decisions.record(&self.id, decision);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_labels_are_stable() {
        assert_eq!(End::Gone.label(), "gone");
        assert_eq!(End::HandedOver { to: "x".into() }.label(), "handed_over");
    }
}

#[cfg(test)]
mod size {
    use super::*;

    /// Every open chat's task holds its whole future, waiting or not: the rare ends and the
    /// HTTP requests are boxed so that an idle chat stays small (10,000 open chats).
    #[tokio::test]
    async fn an_idle_chat_task_stays_small() {
        let client = gws::Client::new(gws::ClientConfig::new(
            "http://127.0.0.1:1/api/v2",
            gws::Credentials {
                username: "u".into(),
                password: "p".to_string().into(),
            },
        ))
        .unwrap();
        let (_keeper, link) = session::pair();
        let ctx = Arc::new(Context {
            gws: client,
            chain: Chain::new(Vec::new()),
            nickname: "Ava".into(),
            texts: EscalationTexts::default(),
            fallback_skill: None,
            history_timeout: DEFAULT_HISTORY_TIMEOUT,
            stats: Arc::new(Stats::default()),
            decisions: DecisionLog::default(),
            clock: Clock::default(),
            store: Store::disabled(),
            max_message_chars: 100,
            session: link,
            hand_over: CancellationToken::new(),
            shadow: None,
        });
        let (_tx, rx) = mpsc::channel(8);
        let offer = ChatUpdate::new(ChatId::from("c"), crate::event::UpdateKind::StatusChange);
        let task = run(ctx, offer, rx);
        // Unoptimised build; it was 7.5 KB before the boxing.
        assert!(
            std::mem::size_of_val(&task) <= 3 * 1024,
            "{}",
            std::mem::size_of_val(&task)
        );
    }
}
