//! GWS operations on a chat, and what keeps them working when GWS loses the bot's session or
//! the chat itself: log in again and retry once, take the chat back when it is offered again.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{Chat, Input};
use crate::event::ChatUpdate;
use crate::gws::{self, Capability, Operation, Status};
use crate::store::decision_log::Decision;

/// How long a chat waits for the daemon to log in again after its session was lost.
const RELOGIN_WAIT: Duration = Duration::from_secs(60);
/// How long a chat that GWS no longer knows (queued again after a server restart) waits to be
/// offered again.
const REOFFER_WAIT: Duration = Duration::from_secs(60);

/// Before a retry: take the chat back if it was offered again meanwhile; no retry when it
/// was not offered back in time after a re-login showed it was not the bot's.
#[async_trait::async_trait]
impl gws::Recheck for Chat {
    async fn still_valid(&mut self) -> bool {
        self.back_in_hand().await
    }
}

/// Take the transcript entries out of a re-offer. An offer shows part of the transcript (the
/// customer's first message, in `interactions`), and for a chat the bot held before, those may
/// be entries it has answered: after a restart of the daemon it knows the transcript only from
/// its saved cursor on, and an opaque id does not tell whether an entry comes before the
/// cursor. The transcript after Accept and the catch-up from the cursor tell what is new.
pub(super) fn drop_transcript_excerpt(offer: &mut ChatUpdate) {
    offer.messages.clear();
}

/// What waited for a chat, sorted by [`sort_pending`].
#[derive(Debug)]
struct Sorted {
    /// The chat was offered again (the offers stay in `rest`, without Accept and excerpt).
    reoffered: bool,
    /// When the newest listing that did not show the chat as the bot's was asked for; `None`
    /// when there was none newer than the chat's last Accept. An older listing says nothing
    /// about the chat now: two re-logins in a row send two, and the first re-offer answers
    /// both (waiting on the second for another re-offer held a chat for a minute).
    unlisted: Option<Instant>,
    /// Everything else, in order.
    rest: VecDeque<Input>,
}

/// Sort `pending` for a chat last accepted at `taken_at`.
fn sort_pending(pending: VecDeque<Input>, taken_at: Option<Instant>) -> Sorted {
    let mut sorted = Sorted {
        reoffered: false,
        unlisted: None,
        rest: VecDeque::new(),
    };
    for input in pending {
        match input {
            Input::Update(mut update) if update.has_capability(Capability::Accept) => {
                sorted.reoffered = true;
                update.capabilities = None;
                drop_transcript_excerpt(&mut update);
                sorted.rest.push_back(Input::Update(update));
            }
            Input::Unlisted(at) => {
                if taken_at.is_none_or(|taken| at > taken) {
                    sorted.unlisted = sorted.unlisted.max(Some(at));
                }
            }
            other => sorted.rest.push_back(other),
        }
    }
    sorted
}

/// The decision-log record of a GWS operation's result.
fn gws_result(op: &Operation, error: Option<&gws::Error>) -> Decision {
    Decision::Gws {
        operation: op.label().into(),
        error: error.map(|e| e.to_string()),
    }
}

impl Chat {
    /// Carry out `op` on this chat. A lost session is reported and the operation tried once
    /// more after the daemon has logged in again; so is one on a chat GWS queued again after a
    /// restart, once it has been offered back.
    ///
    /// Write-ahead: whatever was saved before (the message being answered, a hand-over
    /// step, a decided end) is committed before GWS is asked to do anything.
    pub(crate) async fn exec(&mut self, op: Operation) -> Result<(), gws::Error> {
        self.ctx.store.committed(self.saved).await;
        // Boxed: the HTTP request's state is large and only alive while it runs; an idle
        // chat's task need not carry room for it.
        let result = Box::pin(self.exec_once_more_after_loss(&op)).await;
        self.note(gws_result(&op, result.as_ref().err()));
        result
    }

    /// [`Chat::exec`] without the decision log.
    async fn exec_once_more_after_loss(&mut self, op: &Operation) -> Result<(), gws::Error> {
        let epoch = self.ctx.session.epoch();
        // A re-offer waiting in the inbox (GWS queued the chat again) is taken first, and a chat
        // that a re-login found not to be the bot's waits for its re-offer, so that nothing is
        // sent on a chat that is only queued or an invitation now. (Not offered again in time:
        // the request goes out and GWS's answer decides.)
        let accept = matches!(op, Operation::Accept { .. });
        if !accept {
            self.back_in_hand().await;
        }
        // The same holds before a retry after a transient failure: the chat may have been
        // queued again and offered back during the back-off.
        let (gws, id) = (self.ctx.gws.clone(), self.id.clone());
        let first = if accept {
            gws.execute(&id, op).await
        } else {
            gws.execute_checked(&id, op, self).await
        };
        let err = match first {
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
            renewed && self.back_in_hand().await
        } else if err.status() == Some(Status::InvalidState)
            && !matches!(op, Operation::Accept { .. })
            && self.reoffered().await
        {
            true
        } else if err.status() == Some(Status::NotFound)
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

    /// The chat was offered again: take it back, and read the transcript after the cursor
    /// next (what the customer wrote while the chat was queued; the offer's own entries are
    /// dropped, see [`drop_transcript_excerpt`]). A refusal (it is ours already, a stale or
    /// repeated notification) is harmless.
    pub(super) async fn accept_again(&mut self) {
        let accept = Operation::Accept {
            nickname: self.ctx.nickname.clone(),
        };
        match self.ctx.gws.execute(&self.id, &accept).await {
            Ok(_) => {
                self.taken_at = Some(Instant::now());
                info!("chat offered again; accepted it again");
                self.stash.push_back(Input::CatchUp);
            }
            Err(e) => debug!(error = %e, "re-offer not taken (already ours or stale)"),
        }
    }

    /// Sort what waits (the stash, kept while the chat waited for something else, then the
    /// inbox): tell whether the chat was offered again and whether a re-login since its last
    /// Accept found it not to be the bot's. Everything else stays in the stash, an offer too
    /// but without its Accept and its transcript excerpt (the caller accepts it; the rest of
    /// the offer is still news).
    fn take_pending(&mut self) -> (bool, Option<Instant>) {
        let mut pending = std::mem::take(&mut self.stash);
        if let Some(at) = self.unlisted.take() {
            pending.push_front(Input::Unlisted(at));
        }
        while let Ok(input) = self.inbox.try_recv() {
            pending.push_back(input);
        }
        let sorted = sort_pending(pending, self.taken_at);
        self.stash = sorted.rest;
        (sorted.reoffered, sorted.unlisted)
    }

    /// Before a request (and after a new session, before it is tried again): take the chat
    /// back if it was offered again, and if a re-login's listing did not show it as the bot's,
    /// wait until it is offered again (sending on it before would act on a chat that is only
    /// queued or an invitation now). False when it was not offered again in time.
    async fn back_in_hand(&mut self) -> bool {
        let (reoffered, unlisted) = self.take_pending();
        if reoffered {
            self.accept_again().await;
            return true;
        }
        if unlisted.is_none() {
            return true;
        }
        warn!(
            "the chat is not the bot's since the new session; waiting for it to be offered again"
        );
        self.await_reoffer().await
    }

    /// After "not valid in the current state": take the chat back if it is an invitation
    /// again, known from a waiting offer or else from the listing. True when it was.
    async fn reoffered(&mut self) -> bool {
        let (reoffered, unlisted) = self.take_pending();
        if reoffered {
            self.accept_again().await;
            return true;
        }
        if let Some(at) = unlisted {
            // Still true for the next request if the listing finds no offer either (an
            // Accept now makes it stale).
            self.stash.push_front(Input::Unlisted(at));
        }
        self.offered_again().await
    }

    /// After "not valid in the current state": is the chat an invitation again (GWS queued it
    /// again and offered it back, and the notification is late or was lost)? Asked with the
    /// agent's chat listing; if it is, it is accepted again. True when it was.
    async fn offered_again(&mut self) -> bool {
        match self.ctx.gws.list_chats().await {
            Ok(chats) => {
                let offered = chats
                    .iter()
                    .any(|c| c.id == self.id && c.has_capability(Capability::Accept));
                if offered {
                    self.accept_again().await;
                }
                offered
            }
            Err(e) => {
                debug!(error = %e, "cannot list the chats to check for a re-offer");
                false
            }
        }
    }

    /// After "not found": is it the chat that GWS does not know (rather than a skill or an
    /// agent the operation named)? Asked with a harmless history request.
    async fn chat_unknown(&self) -> bool {
        let probe = Operation::RequestChatHistory {
            event_id: self.memory.cursor.clone(),
        };
        self.ctx
            .gws
            .execute(&self.id, &probe)
            .await
            .is_err_and(|e| e.status() == Some(Status::NotFound))
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
                Ok(Some(Input::Update(mut update)))
                    if update.has_capability(Capability::Accept) =>
                {
                    // The rest of the offer is still news, its Accept and excerpt are not; it
                    // goes before the catch-up that accepting asks for.
                    update.capabilities = None;
                    drop_transcript_excerpt(&mut update);
                    self.stash.push_back(Input::Update(update));
                    self.accept_again().await;
                    return true;
                }
                Ok(Some(input)) => self.stash.push_back(input),
                Ok(None) | Err(_) => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::UpdateKind;

    fn offer() -> Input {
        let mut update = ChatUpdate::new("c-1".into(), UpdateKind::NewInteraction);
        update.capabilities = Some(vec!["Accept".into(), "Reject".into()]);
        Input::Update(Box::new(update))
    }

    /// Two re-logins while a chat was queued again send two "unlisted"; the re-offer the chat
    /// took after the listings answers both, so the next request does not wait for another
    /// re-offer (chaos seed 16928772949591916846: a minute's wait before a close or a
    /// transfer). A listing after the last Accept still counts.
    #[test]
    fn a_listing_older_than_the_last_accept_is_stale() {
        let first = Instant::now();
        let second = first + Duration::from_millis(20);
        let accepted = first + Duration::from_millis(50);
        let later = first + Duration::from_millis(80);
        let stashed = VecDeque::from([Input::Unlisted(first), Input::Unlisted(second)]);

        let before_any_accept = sort_pending(stashed.clone(), None);
        assert_eq!(before_any_accept.unlisted, Some(second));
        let after_the_re_offer = sort_pending(stashed.clone(), Some(accepted));
        assert_eq!(after_the_re_offer.unlisted, None);
        assert!(after_the_re_offer.rest.is_empty());

        let mut with_a_newer = stashed;
        with_a_newer.push_back(Input::CatchUp);
        with_a_newer.push_back(Input::Unlisted(later));
        let sorted = sort_pending(with_a_newer, Some(accepted));
        assert_eq!(sorted.unlisted, Some(later));
        assert_eq!(sorted.rest, [Input::CatchUp]);
    }

    /// An offer is reported and kept for later without its Accept and its transcript excerpt.
    #[test]
    fn an_offer_is_kept_without_its_accept() {
        let sorted = sort_pending(VecDeque::from([Input::CatchUp, offer()]), None);
        assert!(sorted.reoffered);
        assert_eq!(sorted.unlisted, None);
        assert_eq!(sorted.rest.len(), 2);
        match &sorted.rest[1] {
            Input::Update(update) => {
                assert!(!update.has_capability(Capability::Accept));
                assert!(update.messages.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
}
