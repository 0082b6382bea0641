//! Counters of what the daemon did and what went wrong, shared by all tasks.
//!
//! Every recovered problem (malformed notification, GWS error, reconnect) bumps a counter here
//! besides its log line, so an operator can see trends without reading logs. The counters are
//! plain atomics; [`Stats::snapshot`] gives a consistent-enough copy for reports and exporters.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The daemon's counters.
#[derive(Debug, Default)]
pub struct Stats {
    chats_offered: AtomicU64,
    chats_accepted: AtomicU64,
    chats_rejected: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    responder_failures: AtomicU64,
    escalations: AtomicU64,
    notifications: AtomicU64,
    notifications_unknown: AtomicU64,
    notifications_ignored: AtomicU64,
    reconnects: AtomicU64,
    labelled: Mutex<Labelled>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Labelled {
    chats_ended: BTreeMap<String, u64>,
    escalations_ended: BTreeMap<String, u64>,
    rule_hits: BTreeMap<String, u64>,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub chats_offered: u64,
    pub chats_accepted: u64,
    pub chats_rejected: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub responder_failures: u64,
    pub escalations: u64,
    pub notifications: u64,
    pub notifications_unknown: u64,
    pub notifications_ignored: u64,
    pub reconnects: u64,
    /// Ended chats by [`crate::chat::End::label`].
    pub chats_ended: BTreeMap<String, u64>,
    /// Ended escalations by outcome (`agent`, `skill`, `failed`, `ended`).
    pub escalations_ended: BTreeMap<String, u64>,
    /// How often each rule acted.
    pub rule_hits: BTreeMap<String, u64>,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    pub fn chat_offered(&self) {
        bump(&self.chats_offered);
    }
    pub fn chat_accepted(&self) {
        bump(&self.chats_accepted);
    }
    pub fn chat_rejected(&self) {
        bump(&self.chats_rejected);
    }
    pub fn message_in(&self) {
        bump(&self.messages_in);
    }
    pub fn message_out(&self) {
        bump(&self.messages_out);
    }
    pub fn responder_failure(&self) {
        bump(&self.responder_failures);
    }
    pub fn escalation_started(&self) {
        bump(&self.escalations);
    }
    pub fn notification(&self) {
        bump(&self.notifications);
    }
    pub fn notification_unknown(&self) {
        bump(&self.notifications_unknown);
    }
    pub fn notification_ignored(&self) {
        bump(&self.notifications_ignored);
    }
    pub fn reconnect(&self) {
        bump(&self.reconnects);
    }

    pub fn chat_ended(&self, outcome: &str) {
        self.with_labels(|l| *l.chats_ended.entry(outcome.into()).or_default() += 1);
    }
    pub fn escalation_ended(&self, outcome: &str) {
        self.with_labels(|l| *l.escalations_ended.entry(outcome.into()).or_default() += 1);
    }
    pub fn rule_hit(&self, rule: &str) {
        self.with_labels(|l| match l.rule_hits.get_mut(rule) {
            Some(n) => *n += 1,
            None => {
                l.rule_hits.insert(rule.to_owned(), 1);
            }
        });
    }

    fn with_labels(&self, f: impl FnOnce(&mut Labelled)) {
        // A poisoned lock only means another thread panicked mid-update of a counter map;
        // the counts are still usable.
        let mut guard = self.labelled.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard);
    }

    /// Copy all counters.
    pub fn snapshot(&self) -> Snapshot {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let labelled = self
            .labelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Snapshot {
            chats_offered: read(&self.chats_offered),
            chats_accepted: read(&self.chats_accepted),
            chats_rejected: read(&self.chats_rejected),
            messages_in: read(&self.messages_in),
            messages_out: read(&self.messages_out),
            responder_failures: read(&self.responder_failures),
            escalations: read(&self.escalations),
            notifications: read(&self.notifications),
            notifications_unknown: read(&self.notifications_unknown),
            notifications_ignored: read(&self.notifications_ignored),
            reconnects: read(&self.reconnects),
            chats_ended: labelled.chats_ended,
            escalations_ended: labelled.escalations_ended,
            rule_hits: labelled.rule_hits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_labels_add_up() {
        let s = Stats::default();
        s.chat_accepted();
        s.chat_accepted();
        s.rule_hit("greeting");
        s.rule_hit("greeting");
        s.rule_hit("faq");
        s.chat_ended("closed");
        let snap = s.snapshot();
        assert_eq!(snap.chats_accepted, 2);
        assert_eq!(snap.rule_hits["greeting"], 2);
        assert_eq!(snap.rule_hits["faq"], 1);
        assert_eq!(snap.chats_ended["closed"], 1);
        assert_eq!(snap.messages_in, 0);
    }
}
