//! The link between chats and the daemon's session keeper: a chat whose request was refused
//! because the session is gone (`statusCode` 20, CSRF lost for good) reports it here and waits
//! until the daemon has logged in again, then retries the request once.
//!
//! The daemon bumps an *epoch* each time it has re-established the session (`GET me`,
//! handshake, `StartContactCenterSession`, recovery, Ready); waiting for a renewal means
//! waiting for the epoch to move past the one the failed request ran under.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// The chats' side: report a lost session, wait for the next one.
#[derive(Debug, Clone)]
pub struct Link {
    lost: Arc<Notify>,
    epoch: watch::Receiver<u64>,
}

/// The daemon's side: hear about lost sessions, announce renewed ones.
#[derive(Debug)]
pub struct Keeper {
    lost: Arc<Notify>,
    epoch: watch::Sender<u64>,
}

/// A connected pair.
pub fn pair() -> (Keeper, Link) {
    let lost = Arc::new(Notify::new());
    let (tx, rx) = watch::channel(0);
    (
        Keeper {
            lost: lost.clone(),
            epoch: tx,
        },
        Link { lost, epoch: rx },
    )
}

impl Link {
    /// The session generation in force now.
    pub fn epoch(&self) -> u64 {
        *self.epoch.borrow()
    }

    /// Tell the daemon the session is gone.
    pub fn report_lost(&self) {
        self.lost.notify_one();
    }

    /// Wait until a session newer than `since` is in place, at most `max`. True if it is.
    pub async fn renewed_after(&self, since: u64, max: Duration) -> bool {
        let mut rx = self.epoch.clone();
        matches!(
            tokio::time::timeout(max, rx.wait_for(|e| *e > since)).await,
            Ok(Ok(_))
        )
    }
}

impl Keeper {
    /// Resolves when a chat reported a lost session.
    pub async fn lost(&self) {
        self.lost.notified().await;
    }

    /// Announce that the session was re-established.
    pub fn renewed(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Another link to this keeper.
    #[cfg(test)]
    pub fn link(&self) -> Link {
        Link {
            lost: self.lost.clone(),
            epoch: self.epoch.subscribe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_lost_session_is_heard_and_a_renewal_wakes_the_waiter() {
        let (keeper, link) = pair();
        let since = link.epoch();
        assert!(!link.renewed_after(since, Duration::from_secs(1)).await);
        link.report_lost();
        keeper.lost().await;
        let waiter = {
            let link = keeper.link();
            tokio::spawn(async move { link.renewed_after(since, Duration::from_secs(60)).await })
        };
        tokio::task::yield_now().await;
        keeper.renewed();
        assert!(waiter.await.unwrap());
        assert_eq!(link.epoch(), since + 1);
    }
}
