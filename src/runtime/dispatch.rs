//! Route events to one task per chat.
//!
//! The dispatcher owns the map from interaction id to the chat task's bounded inbox. A new
//! offer starts a task (or is rejected when the bot is full or stopping); updates for a known
//! chat go to its task in arrival order; a reconnect tells every chat to catch up. It keeps the
//! agent's capacity honest: NotReady at `max_chats` open chats, Ready again below it.
//!
//! The daemon hands it the agent's chat listing after every (re-)login ([`Command::Recover`]):
//! chats still the bot's but without a task are adopted and resumed, running ones catch up,
//! and only then does the agent go Ready. A chat whose inbox is full never stalls the others:
//! the update is dropped for it and the chat catches up from the transcript instead.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::chat::{self, Context, End, Input};
use crate::event::Capability;
use crate::event::{ChatId, ChatUpdate, Event};
use crate::gws::SessionOperation;
use crate::runtime::agent::Agent;
use crate::store::decision_log::Decision;

/// How many updates may wait for one chat; beyond it updates for that chat are dropped and
/// the chat catches up from the transcript.
pub const DEFAULT_CHAT_QUEUE: usize = 256;
/// How many ended chats are remembered, so that a repeated offer of one is not taken again.
const REMEMBERED_ENDS: usize = 10_000;
/// A saved record this old, of a chat that is neither running nor listed, is removed.
const STALE_RECORD_AGE: Duration = Duration::from_secs(24 * 3600);

/// What the daemon tells the dispatcher besides events.
#[derive(Debug)]
pub enum Command {
    /// The chats GWS lists for the agent, asked for at `listed_at`: adopt, catch up, and after
    /// a (re-)login (`set_ready`) go Ready.
    Recover {
        chats: Vec<ChatUpdate>,
        /// False when the listing failed (`chats` is then empty, not "none").
        listed: bool,
        listed_at: Instant,
        set_ready: bool,
        /// Told once the chats have their inputs (and the agent state is set).
        done: Option<oneshot::Sender<()>>,
    },
}

/// Routes events to chat tasks.
pub struct Dispatcher {
    ctx: Arc<Context>,
    /// The agent's session: Ready/NotReady, rejecting offers, finishing left chats.
    agent: Agent,
    chats: HashMap<ChatId, mpsc::Sender<Input>>,
    /// Chats whose inbox overflowed: they get a catch-up once there is room.
    behind: HashSet<ChatId>,
    /// Running chats that a re-login's listing did not show as live (queued again) and that
    /// have not been offered again by a notification since.
    requeued: HashSet<ChatId>,
    /// Chats that ended (not abandoned), with when; the oldest are forgotten first.
    /// Keyed by a keyed hash of the chat id (`ended_key`), not the id: 10,000 small strings
    /// that outlive their chats were spread over the heap and kept pages of ended chats
    /// resident, so RSS grew with each burst of chats.
    ended_at: HashMap<u64, Instant>,
    ended_order: VecDeque<u64>,
    ended_keys: std::hash::RandomState,
    /// The agent state (Ready/NotReady) the worker is to set.
    agent_state: watch::Sender<Option<SessionOperation>>,
    tracker: TaskTracker,
    ended_tx: mpsc::UnboundedSender<(ChatId, End)>,
    ended_rx: mpsc::UnboundedReceiver<(ChatId, End)>,
    max_chats: usize,
    /// True while the bot has gone NotReady because it is full.
    full: bool,
    draining: bool,
    /// When to give the memory of ended chats back to the system.
    trim: super::trim::Trim,
}

impl Dispatcher {
    /// A dispatcher that takes at most `max_chats` chats at once, for the agent `agent`.
    pub fn new(ctx: Arc<Context>, agent: Agent, max_chats: usize) -> Self {
        let (ended_tx, ended_rx) = mpsc::unbounded_channel();
        Dispatcher {
            ctx,
            agent,
            chats: HashMap::new(),
            behind: HashSet::new(),
            requeued: HashSet::new(),
            ended_at: HashMap::new(),
            ended_order: VecDeque::new(),
            ended_keys: std::hash::RandomState::new(),
            agent_state: watch::Sender::new(None),
            tracker: TaskTracker::new(),
            ended_tx,
            ended_rx,
            max_chats,
            full: false,
            draining: false,
            trim: super::trim::Trim::default(),
        }
    }

    /// Route `events` until `drain` is cancelled and every chat has ended, or until `abort`
    /// is cancelled (open chats are then abandoned). Returns the chats abandoned.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        mut commands: mpsc::Receiver<Command>,
        drain: CancellationToken,
        abort: CancellationToken,
    ) -> usize {
        let mut events_open = true;
        let mut commands_open = true;
        let worker = tokio::spawn(agent_state_worker(
            self.ctx.clone(),
            self.agent.clone(),
            self.agent_state.subscribe(),
        ));
        loop {
            tokio::select! {
                biased;
                _ = abort.cancelled() => break,
                Some((id, end)) = self.ended_rx.recv() => {
                    self.ended(id, end).await;
                    if self.draining && self.chats.is_empty() {
                        break;
                    }
                }
                command = commands.recv(), if commands_open => match command {
                    Some(Command::Recover { chats, listed, listed_at, set_ready, done }) => {
                        self.recover(chats, listed, listed_at, set_ready).await;
                        if let Some(done) = done {
                            let _ = done.send(());
                        }
                    }
                    None => commands_open = false,
                },
                event = events.recv(), if events_open => match event {
                    Some(event) => self.route(event).await,
                    None => {
                        warn!("the notification stream has ended; no new chats will arrive");
                        events_open = false;
                    }
                },
                _ = drain.cancelled(), if !self.draining => {
                    info!(open = self.chats.len(), "draining: no new chats, waiting for open ones");
                    self.draining = true;
                    if self.chats.is_empty() {
                        break;
                    }
                }
            }
        }
        let abandoned = self.chats.len();
        if abandoned > 0 {
            warn!(abandoned, "stopping with chats still open");
        }
        self.chats.clear();
        self.tracker.close();
        self.tracker.wait().await;
        worker.abort();
        abandoned
    }

    async fn route(&mut self, event: Event) {
        match event {
            Event::Chat(update) => self.route_update(update).await,
            Event::Reconnected => {
                info!(
                    open = self.chats.len(),
                    "notifications resumed; chats catch up"
                );
                for inbox in self.chats.values() {
                    // A chat whose inbox is full is busy and will see the catch-up later;
                    // a closed inbox belongs to a chat that is ending.
                    if inbox.try_send(Input::CatchUp).is_err() {
                        debug!("chat inbox full or closed; skipping catch-up for it");
                    }
                }
            }
            Event::ChannelState { state } => info!(state = %state, "chat channel state"),
        }
    }

    async fn route_update(&mut self, update: ChatUpdate) {
        if let Some(inbox) = self.chats.get(&update.id) {
            let id = update.id.clone();
            if update.has_capability(Capability::Accept) {
                self.requeued.remove(&id);
            }
            match inbox.try_send(Input::Update(Box::new(update))) {
                Ok(()) => {
                    if self.behind.contains(&id) && inbox.try_send(Input::CatchUp).is_ok() {
                        self.behind.remove(&id);
                    }
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    if self.behind.insert(id.clone()) {
                        warn!(chat_id = %id, "chat is not keeping up; dropping its updates until it catches up from the transcript");
                    }
                    self.ctx.stats.notification_ignored();
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    debug!("update for a chat that is ending");
                }
            }
            return;
        }
        if self.ended_at.contains_key(&self.ended_key(&update.id)) {
            debug!(chat_id = %update.id, kind = ?update.kind, "update for a chat that has ended");
            self.ctx.stats.notification_ignored();
            return;
        }
        if !update.has_capability(Capability::Accept) {
            debug!(chat_id = %update.id, kind = ?update.kind, "update for a chat the bot does not hold");
            self.ctx.stats.notification_ignored();
            return;
        }
        self.ctx.stats.chat_offered();
        if self.draining || self.chats.len() >= self.max_chats {
            self.reject(update.id);
            return;
        }
        let customer = update
            .participants
            .iter()
            .flatten()
            .find(|p| p.kind == crate::event::ParticipantKind::Customer)
            .and_then(|p| p.nickname.clone());
        self.ctx
            .decisions
            .record(&update.id, Decision::Offered { customer });
        self.start(update);
        if self.chats.len() >= self.max_chats && !self.full {
            self.full = true;
            warn!(open = self.chats.len(), "at max_chats: going NotReady");
            self.session(SessionOperation::NotReady).await;
        }
    }

    /// Adopt the listed chats that have no task and catch up the running ones; with
    /// `set_ready` then go Ready (or NotReady when full; nothing when draining).
    ///
    /// After a re-login (`set_ready`) a running chat that the listing does not show as live
    /// was queued again (GWS restarted) or is gone: it is told so ([`Input::Unlisted`]), so that
    /// it waits to be offered again instead of sending on a chat that is not the bot's now.
    async fn recover(
        &mut self,
        chats: Vec<ChatUpdate>,
        listed: bool,
        listed_at: Instant,
        set_ready: bool,
    ) {
        if listed && set_ready {
            // Listed and not an offer: the bot holds it (live, or left and being finished).
            let live: HashSet<&ChatId> = chats
                .iter()
                .filter(|c| !c.has_capability(Capability::Accept))
                .map(|c| &c.id)
                .collect();
            for (id, inbox) in &self.chats {
                if live.contains(id) {
                    continue;
                }
                self.requeued.insert(id.clone());
                if inbox.try_send(Input::Unlisted(listed_at)).is_err() {
                    debug!(chat_id = %id, "chat inbox full or closed; not telling it it is unlisted");
                }
            }
        }
        if listed {
            // On the store's writer thread: the dispatcher only names the chats to keep.
            let kept = chats
                .iter()
                .map(|c| c.id.clone())
                .chain(self.chats.keys().cloned())
                .collect();
            self.ctx.store.prune(STALE_RECORD_AGE, kept);
        }
        let mut adopted = 0;
        for chat in chats {
            if self.take_listed(chat, listed_at).await {
                adopted += 1;
            }
        }
        if adopted > 0 || set_ready {
            info!(
                adopted,
                open = self.chats.len(),
                "recovered the agent's chats"
            );
        }
        self.settle_after_recovery(set_ready).await;
    }

    /// One chat of a listing: a running one catches up, one that ended since the listing is
    /// skipped, one the bot left is finished, an offer is routed, a live one without a task is
    /// adopted (true).
    async fn take_listed(&mut self, chat: ChatUpdate, listed_at: Instant) -> bool {
        if let Some(inbox) = self.chats.get(&chat.id) {
            // Running chats catch up (a notification may have been lost). One queued
            // again and now offered, without a notification of the offer so far, gets the
            // listing's offer (the notification may have been lost) and accepts it; a
            // late copy of the offer is then refused harmlessly.
            let input = if chat.has_capability(Capability::Accept) && self.requeued.remove(&chat.id)
            {
                Input::Update(Box::new(chat))
            } else {
                Input::CatchUp
            };
            if inbox.try_send(input).is_err() {
                debug!("chat inbox full or closed; skipping its catch-up");
            }
            return false;
        }
        if self
            .ended_at
            .get(&self.ended_key(&chat.id))
            .is_some_and(|t| *t >= listed_at)
        {
            debug!(chat_id = %chat.id, "listed chat ended since the listing");
            return false;
        }
        if self.agent.has_left(&chat) {
            // A finish cut between Leave and Complete (`chats`), by a crash or a failing
            // Complete: no task is finishing it, so finish it here.
            let (agent, store) = (self.agent.clone(), self.ctx.store.clone());
            self.tracker.spawn(async move {
                if agent.finish_left(&chat).await {
                    store.remove(&chat.id);
                }
            });
        } else if chat.has_capability(Capability::Accept) {
            self.route_update(chat).await;
        } else if chat.has_capability(Capability::SendMessage) {
            self.start(chat);
            return true;
        }
        false
    }

    /// After a recovery: with `set_ready` go Ready (or NotReady when full; nothing when
    /// draining); otherwise only go NotReady if the adopted chats filled the bot.
    async fn settle_after_recovery(&mut self, set_ready: bool) {
        if self.draining || !set_ready {
            if !self.full && self.chats.len() >= self.max_chats && !self.draining {
                self.full = true;
                warn!(open = self.chats.len(), "at max_chats: going NotReady");
                self.session(SessionOperation::NotReady).await;
            }
            return;
        }
        self.full = self.chats.len() >= self.max_chats;
        if self.full {
            warn!(
                open = self.chats.len(),
                "at max_chats after recovery: staying NotReady"
            );
            self.session(SessionOperation::NotReady).await;
        } else {
            info!(max_chats = self.max_chats, "Ready for chats");
            self.session(SessionOperation::Ready).await;
        }
    }

    fn start(&mut self, offer: ChatUpdate) {
        let id = offer.id.clone();
        let (tx, rx) = mpsc::channel(DEFAULT_CHAT_QUEUE);
        self.chats.insert(id.clone(), tx);
        self.trim.after_start(self.chats.len());
        let ctx = self.ctx.clone();
        let agent = self.agent.clone();
        let ended = self.ended_tx.clone();
        let span = info_span!("chat", chat_id = %id);
        self.tracker.spawn(
            async move {
                let end = match AssertUnwindSafe(chat::run(ctx.clone(), offer, rx))
                    .catch_unwind()
                    .await
                {
                    Ok(end) => end,
                    Err(_) => {
                        error!("chat task panicked; closing the chat");
                        let _ = agent.stop_processing(&id).await;
                        End::Stuck {
                            reason: "internal error (panic)".into(),
                        }
                    }
                };
                let _ = ended.send((id, end));
            }
            .instrument(span),
        );
    }

    fn reject(&self, id: ChatId) {
        warn!(chat_id = %id, open = self.chats.len(), draining = self.draining, "rejecting an offer");
        self.ctx.stats.chat_rejected();
        let reason = if self.draining {
            "the bot is stopping"
        } else {
            "the bot is at max_chats"
        };
        self.ctx.decisions.record(
            &id,
            Decision::Rejected {
                reason: reason.into(),
            },
        );
        let agent = self.agent.clone();
        self.tracker.spawn(async move {
            if let Err(e) = agent.reject(&id).await {
                warn!(chat_id = %id, error = %e, "could not reject the offer");
            }
        });
    }

    /// The key of an ended chat in `ended_at`: a hash with random keys, so ids cannot be made to
    /// collide; by chance two of the remembered ids collide with odds of 1 in 10^15.
    fn ended_key(&self, id: &ChatId) -> u64 {
        use std::hash::BuildHasher;
        self.ended_keys.hash_one(id)
    }

    async fn ended(&mut self, id: ChatId, end: End) {
        self.chats.remove(&id);
        if self.trim.after_end(self.chats.len()) {
            super::trim::release();
        }
        self.behind.remove(&id);
        self.requeued.remove(&id);
        if matches!(end, End::Closed { .. } | End::HandedOver { .. } | End::Gone) {
            if self.ended_order.len() >= REMEMBERED_ENDS
                && let Some(old) = self.ended_order.pop_front()
            {
                self.ended_at.remove(&old);
            }
            let key = self.ended_key(&id);
            self.ended_order.push_back(key);
            self.ended_at.insert(key, Instant::now());
        }
        self.ctx.stats.chat_ended(end.label());
        let detail = match &end {
            End::Closed { reason } | End::NotAccepted { reason } | End::Stuck { reason } => {
                Some(reason.clone())
            }
            End::HandedOver { to } => Some(to.clone()),
            End::Gone | End::Abandoned => None,
        };
        self.ctx.decisions.record(
            &id,
            Decision::Ended {
                outcome: end.label().into(),
                detail,
            },
        );
        match &end {
            End::Stuck { reason } => {
                error!(chat_id = %id, reason, "chat ended without a hand-over or close")
            }
            End::NotAccepted { reason } => warn!(chat_id = %id, reason, "offer not taken"),
            _ => info!(chat_id = %id, end = end.label(), "chat ended"),
        }
        if self.full && self.chats.len() < self.max_chats && !self.draining {
            self.full = false;
            info!(open = self.chats.len(), "below max_chats: Ready again");
            self.session(SessionOperation::Ready).await;
        }
    }

    /// Ask for a change of the agent state. A worker carries it out, so a slow GWS never
    /// holds up routing; when changes pile up only the latest is sent.
    async fn session(&self, op: SessionOperation) {
        if op != SessionOperation::Ready {
            // Not taking chats from the moment it is decided; Ready counts once GWS agreed.
            self.ctx.stats.health().agent_ready.set(false);
        }
        self.agent_state.send_replace(Some(op));
    }
}

/// Carry out the agent-state changes the dispatcher asks for, latest first, until it is gone.
async fn agent_state_worker(
    ctx: Arc<Context>,
    agent: Agent,
    mut wanted: watch::Receiver<Option<SessionOperation>>,
) {
    while wanted.changed().await.is_ok() {
        let Some(op) = wanted.borrow_and_update().clone() else {
            continue;
        };
        match agent.set_state(&op).await {
            Ok(()) => {
                if op == SessionOperation::Ready {
                    ctx.stats.health().agent_ready.set(true);
                }
            }
            Err(e) => warn!(operation = op.label(), error = %e, "could not change the agent state"),
        }
    }
}
