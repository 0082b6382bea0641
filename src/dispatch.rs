//! Route events to one task per chat.
//!
//! The dispatcher owns the map from interaction id to the chat task's bounded inbox. A new
//! offer starts a task (or is rejected when the bot is full or stopping); updates for a known
//! chat go to its task in arrival order; a reconnect tells every chat to catch up. It keeps the
//! agent's capacity honest: NotReady at `max_chats` open chats, Ready again below it.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::chat::{self, Context, End, Input};
use crate::decision_log::Decision;
use crate::event::{ChatId, ChatUpdate, Event};
use crate::gws::{Operation, SessionOperation};

/// How many updates may wait for one chat before the dispatcher waits for that chat.
pub const DEFAULT_CHAT_QUEUE: usize = 256;

/// Routes events to chat tasks.
pub struct Dispatcher {
    ctx: Arc<Context>,
    chats: HashMap<ChatId, mpsc::Sender<Input>>,
    tracker: TaskTracker,
    ended_tx: mpsc::UnboundedSender<(ChatId, End)>,
    ended_rx: mpsc::UnboundedReceiver<(ChatId, End)>,
    max_chats: usize,
    /// True while the bot has gone NotReady because it is full.
    full: bool,
    draining: bool,
}

impl Dispatcher {
    /// A dispatcher that takes at most `max_chats` chats at once.
    pub fn new(ctx: Arc<Context>, max_chats: usize) -> Self {
        let (ended_tx, ended_rx) = mpsc::unbounded_channel();
        Dispatcher {
            ctx,
            chats: HashMap::new(),
            tracker: TaskTracker::new(),
            ended_tx,
            ended_rx,
            max_chats,
            full: false,
            draining: false,
        }
    }

    /// Route `events` until `drain` is cancelled and every chat has ended, or until `abort`
    /// is cancelled (open chats are then abandoned). Returns the chats abandoned.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        drain: CancellationToken,
        abort: CancellationToken,
    ) -> usize {
        let mut events_open = true;
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
            if inbox.send(Input::Update(Box::new(update))).await.is_err() {
                debug!("update for a chat that is ending");
            }
            return;
        }
        if !update.has_capability("Accept") {
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
            self.ctx.stats.health().agent_ready.set(false);
            warn!(open = self.chats.len(), "at max_chats: going NotReady");
            self.session(SessionOperation::NotReady).await;
        }
    }

    fn start(&mut self, offer: ChatUpdate) {
        let id = offer.id.clone();
        let (tx, rx) = mpsc::channel(DEFAULT_CHAT_QUEUE);
        self.chats.insert(id.clone(), tx);
        let ctx = self.ctx.clone();
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
                        let _ = ctx.gws.execute(&id, &Operation::StopProcessing).await;
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
        let ctx = self.ctx.clone();
        self.tracker.spawn(async move {
            if let Err(e) = ctx.gws.execute(&id, &Operation::Reject).await {
                warn!(chat_id = %id, error = %e, "could not reject the offer");
            }
        });
    }

    async fn ended(&mut self, id: ChatId, end: End) {
        self.chats.remove(&id);
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
            self.ctx.stats.health().agent_ready.set(true);
        }
    }

    async fn session(&self, op: SessionOperation) {
        if let Err(e) = self.ctx.gws.session(&op).await {
            warn!(operation = op.label(), error = %e, "could not change the agent state");
        }
    }
}
