//! The daemon's current state as the readiness probe sees it: logged in to GWS, CometD
//! connected, the agent Ready for chats. Each is a [`Flag`] that the component owning that
//! state sets (the daemon, the CometD client, the dispatcher); `/readyz` reads them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One shared yes/no fact. Cheap to clone; clones share the value.
#[derive(Debug, Clone, Default)]
pub struct Flag(Arc<AtomicBool>);

impl Flag {
    pub fn set(&self, value: bool) {
        self.0.store(value, Ordering::Relaxed);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What readiness is made of.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// `GET me` succeeded: the HTTP session is open.
    pub logged_in: Flag,
    /// CometD is subscribed and polling; cleared on the first failed request.
    pub cometd_connected: Flag,
    /// The agent is Ready on the chat channel (not starting, full or stopping).
    pub agent_ready: Flag,
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
}
