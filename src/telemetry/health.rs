//! The daemon's current state as the readiness probe sees it: logged in to GWS, CometD
//! connected, the agent Ready for chats. Each is a [`Flag`] that the component owning that
//! state sets (the daemon, the CometD client, the dispatcher); `/readyz` reads them. A change
//! of a flag (and of any counter of [`crate::telemetry::stats::Stats`]) moves [`Changes`], so a
//! watcher waits for it instead of polling.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};

use tokio::sync::watch;

/// A number that moves whenever something it is told about changes: a cue to look again.
/// Cheap to clone; clones share the number.
#[derive(Debug, Clone)]
pub struct Changes(Arc<watch::Sender<u64>>);

impl Default for Changes {
    fn default() -> Self {
        Changes(Arc::new(watch::channel(0).0))
    }
}

impl Changes {
    /// Something changed (call after the change).
    pub fn note(&self) {
        // Nobody watching (the daemon in production): no one to wake, and a later watcher
        // looks at the state first anyway. Saves a lock and a wake-up on every counter update.
        // The fence pairs with the one in `subscribe`: either this sees the new receiver, or
        // the receiver's first look sees the change.
        fence(Ordering::SeqCst);
        if self.0.receiver_count() > 0 {
            self.0.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// A receiver that sees each later [`Changes::note`] (several may be seen as one). Look at
    /// the state after subscribing: a change made before is not announced to it.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        let receiver = self.0.subscribe();
        fence(Ordering::SeqCst);
        receiver
    }
}

/// One shared yes/no fact. Cheap to clone; clones share the value.
#[derive(Debug, Clone, Default)]
pub struct Flag {
    value: Arc<AtomicBool>,
    changes: Changes,
}

impl Flag {
    pub fn set(&self, value: bool) {
        if self.value.swap(value, Ordering::Relaxed) != value {
            self.changes.note();
        }
    }
    pub fn get(&self) -> bool {
        self.value.load(Ordering::Relaxed)
    }
}

/// What readiness is made of.
#[derive(Debug, Clone)]
pub struct Health {
    /// `GET me` succeeded: the HTTP session is open.
    pub logged_in: Flag,
    /// CometD is subscribed and polling; cleared on the first failed request.
    pub cometd_connected: Flag,
    /// The agent is Ready on the chat channel (not starting, full or stopping).
    pub agent_ready: Flag,
    /// Moves when any of the flags changes.
    changes: Changes,
}

impl Default for Health {
    fn default() -> Self {
        let changes = Changes::default();
        let flag = || Flag {
            value: Arc::default(),
            changes: changes.clone(),
        };
        Health {
            logged_in: flag(),
            cometd_connected: flag(),
            agent_ready: flag(),
            changes: changes.clone(),
        }
    }
}

impl Health {
    /// Ready for chats, or the reasons why not.
    pub fn readiness(&self) -> Result<(), Vec<&'static str>> {
        let mut why = Vec::new();
        if !self.logged_in.get() {
            why.push("not logged in to GWS");
        }
        if !self.cometd_connected.get() {
            why.push("CometD notifications not connected");
        }
        if !self.agent_ready.get() {
            why.push("agent not Ready for chats (starting, at max_chats or stopping)");
        }
        if why.is_empty() { Ok(()) } else { Err(why) }
    }

    /// What moves when a flag changes.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Everything off, as at a stop.
    pub fn clear(&self) {
        self.logged_in.set(false);
        self.cometd_connected.set(false);
        self.agent_ready.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_all_three_hold() {
        let h = Health::default();
        assert_eq!(h.readiness().unwrap_err().len(), 3);
        h.logged_in.set(true);
        h.agent_ready.set(true);
        let link = h.cometd_connected.clone();
        assert_eq!(
            h.readiness(),
            Err(vec!["CometD notifications not connected"])
        );
        link.set(true);
        assert_eq!(h.readiness(), Ok(()));
        h.clear();
        assert!(h.readiness().is_err());
    }

    #[test]
    fn a_flag_that_changes_moves_the_changes() {
        let h = Health::default();
        let mut seen = h.changes().subscribe();
        h.agent_ready.set(false);
        assert!(!seen.has_changed().unwrap(), "no change, no cue");
        h.agent_ready.clone().set(true);
        assert!(seen.has_changed().unwrap());
        seen.borrow_and_update();
        h.logged_in.set(true);
        assert!(seen.has_changed().unwrap(), "all flags share the cue");
    }
}
