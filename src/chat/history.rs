//! Where the chat stands in the transcript: the history after Accept (or after a restart),
//! which customer texts still need an answer, catching up after a gap, and whether a message
//! the bot sent ambiguously is in the transcript.

use std::collections::HashSet;

use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{Chat, End, Input, Next, Said};
use crate::chat::resume::resume;
use crate::event::{ChatUpdate, UpdateKind};
use crate::gws::Operation;

impl Chat {
    /// After Accept (or the history request of a resumed chat) the server sends the transcript
    /// so far. Collect customer texts until it arrived, then decide with [`resume`] which of
    /// them still need an answer and whether the customer was greeted; ask once if it is late.
    pub(super) async fn await_history(
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
                Next::Input(Input::CatchUp | Input::Unlisted(_)) => {}
                Next::Timeout if !asked => {
                    warn!("no transcript after Accept; asking for it");
                    asked = true;
                    self.request_history(None).await;
                    deadline = Instant::now() + self.ctx.history_timeout;
                }
                Next::Timeout => {
                    warn!("no transcript after asking; going on without it");
                    // A later transcript (a catch-up) tells whether the message being
                    // answered when the bot stopped was answered.
                    let answering = self.record.answering.clone();
                    self.memory.judge_later(answering, &self.ctx.nickname);
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
        self.after_agents_left = super::conference::texts_after_agents_left(&history.messages);
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
                .is_some_and(|e| e.stage == crate::store::state::Stage::Decided)
            {
                self.record.escalation = None;
            }
        }
        // What the transcript showed as handled is saved at once: answering the next message
        // overwrites `answering`, and a crash after that must not make this one look
        // unanswered again.
        // So is a greeting the transcript shows: the next resume reads the transcript after the
        // cursor only, where the greeting is not, and would greet again.
        let newly_greeted = r.greeted && !self.record.greeted;
        self.record.greeted |= r.greeted;
        if let Some(id) = r
            .handled_through
            .and_then(|i| history.messages[i].event_id.clone())
        {
            if !unanswered_cause {
                self.record.answering = None;
            }
            self.memory.handled_through(Some(id.clone()));
            self.record.cursor = Some(id);
            self.save();
        } else if newly_greeted {
            self.save();
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

    /// Read the transcript after the cursor: after notifications resumed (the dispatcher logs
    /// that once, at INFO) and at every periodic listing, so DEBUG here: with many open chats
    /// a line per chat per minute would drown the log.
    pub(crate) async fn catch_up(&mut self) {
        debug!(
            cursor = self.memory.cursor(),
            "catching up from the transcript"
        );
        self.request_history(self.memory.cursor.clone()).await;
    }

    pub(super) async fn request_history(&mut self, event_id: Option<String>) {
        if let Err(e) = self.exec(Operation::RequestChatHistory { event_id }).await {
            warn!(error = %e, "could not request the chat history");
        }
    }

    /// Whether `update` shows the bot's `text` as an entry the chat has not seen yet.
    fn shows_sent(&self, update: &ChatUpdate, text: &str) -> bool {
        update.messages.iter().any(|m| {
            crate::chat::resume::is_bot_text(m, &self.ctx.nickname)
                && m.text.as_deref() == Some(text)
                && !self.memory.has_seen(m)
        })
    }

    /// Whether the bot's `text` is in the transcript after the cursor (`None`: cannot tell).
    /// Everything else that arrives meanwhile is kept for later.
    ///
    /// What waits in the inbox before the request came before it: a transcript there answers
    /// an earlier request (a catch-up's, or a second copy of one) and may be older than the
    /// send, so it can show the text but never show it missing (taking such a copy for the
    /// answer sent a message twice: chaos seed 1853431013489728293).
    pub(super) async fn sent_since_cursor(&mut self, text: &str) -> Option<bool> {
        let mut kept = Vec::new();
        let mut shown = false;
        while let Ok(input) = self.inbox.try_recv() {
            shown |= matches!(&input, Input::Update(u) if self.shows_sent(u, text));
            kept.push(input);
        }
        if shown {
            self.stash.extend(kept);
            return Some(true);
        }
        let ask = Operation::RequestChatHistory {
            event_id: self.memory.cursor.clone(),
        };
        if let Err(e) = self.ctx.gws.execute(&self.id, &ask).await {
            warn!(error = %e, "cannot check the transcript");
            self.stash.extend(kept);
            return None;
        }
        let deadline = Instant::now() + self.ctx.history_timeout;
        let found = loop {
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(Input::Update(update))) if update.kind == UpdateKind::ChatHistory => {
                    let sent = self.shows_sent(&update, text);
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
}
