//! Counters of what the daemon did and what went wrong, shared by all tasks: the one source of
//! truth behind `/metrics` (see [`crate::telemetry::metrics`]), the demo's summary and the tests.
//!
//! Every recovered problem (malformed notification, GWS error, reconnect) bumps a counter here
//! besides its log line, so an operator can see trends without reading logs. Plain counters are
//! atomics, labelled ones small maps behind a mutex (their label sets are bounded: outcomes,
//! rule names, operations), and the two latency distributions are Prometheus histograms.
//! [`Stats::snapshot`] gives a consistent-enough copy for reports; the current state the
//! readiness probe reports lives beside the counters in [`Stats::health`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::telemetry::health::Health;

/// Label set of the histograms: one `(name, value)` pair.
pub(crate) type Label = [(&'static str, &'static str); 1];
/// A histogram per label value.
pub(crate) type Histograms = Family<Label, Histogram, fn() -> Histogram>;

/// The daemon's counters.
#[derive(Debug)]
pub struct Stats {
    chats_offered: AtomicU64,
    chats_accepted: AtomicU64,
    chats_rejected: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    no_matches: AtomicU64,
    responder_failures: AtomicU64,
    escalations: AtomicU64,
    notifications: AtomicU64,
    notifications_unknown: AtomicU64,
    notifications_ignored: AtomicU64,
    reconnects: AtomicU64,
    rule_reloads_ok: AtomicU64,
    rule_reloads_failed: AtomicU64,
    rules_version: AtomicU64,
    rules_last_reload_failed: std::sync::atomic::AtomicBool,
    override_changes: AtomicU64,
    override_until: std::sync::atomic::AtomicI64,
    tls_verification_disabled: std::sync::atomic::AtomicBool,
    labelled: Mutex<Labelled>,
    /// Seconds from the start of an escalation to its end, by outcome.
    pub(crate) escalation_wait: Histograms,
    /// Seconds per GWS REST request attempt, by operation.
    pub(crate) gws_latency: Histograms,
    health: Health,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Labelled {
    chats_ended: BTreeMap<String, u64>,
    escalations_ended: BTreeMap<String, u64>,
    rule_hits: BTreeMap<String, u64>,
    gws_errors: BTreeMap<(String, String), u64>,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub chats_offered: u64,
    pub chats_accepted: u64,
    pub chats_rejected: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    /// Customer messages no `message` rule matched.
    pub no_matches: u64,
    pub responder_failures: u64,
    pub escalations: u64,
    pub notifications: u64,
    pub notifications_unknown: u64,
    pub notifications_ignored: u64,
    /// CometD re-connections after the first (each may have lost notifications).
    pub reconnects: u64,
    pub rule_reloads_ok: u64,
    pub rule_reloads_failed: u64,
    /// Successful rule loads since start, the first included: changes on every reload.
    pub rules_version: u64,
    /// The last reload (SIGHUP or a saved rule file) failed: the old rules are still active.
    pub rules_last_reload_failed: bool,
    /// Emergency override changes the daemon noticed (set, replaced, cleared).
    pub override_changes: u64,
    /// When the emergency override ends, in seconds since the Unix epoch; 0 without one.
    pub override_until: i64,
    /// `gws.danger_accept_invalid_certs` is on: any server can pose as GWS.
    pub tls_verification_disabled: bool,
    /// Ended chats by [`crate::chat::End::label`].
    pub chats_ended: BTreeMap<String, u64>,
    /// Ended escalations by outcome (`agent`, `skill`, `failed`, `ended`).
    pub escalations_ended: BTreeMap<String, u64>,
    /// How often each rule acted.
    pub rule_hits: BTreeMap<String, u64>,
    /// Failed GWS request attempts by (operation, code); see [`crate::telemetry::metrics::error_code`].
    pub gws_errors: BTreeMap<(String, String), u64>,
}

/// One line for logs: `3 chats offered, 3 accepted, 0 rejected, 2 ended, …`.
impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ended: u64 = self.chats_ended.values().sum();
        write!(
            f,
            "{} chats offered, {} accepted, {} rejected, {ended} ended, {} open; {} messages in, \
             {} out, {} without a match; {} escalations; {} responder failures; rules v{}, {} \
             reloads failed",
            self.chats_offered,
            self.chats_accepted,
            self.chats_rejected,
            self.chats_open(),
            self.messages_in,
            self.messages_out,
            self.no_matches,
            self.escalations,
            self.responder_failures,
            self.rules_version,
            self.rule_reloads_failed
        )
    }
}

impl Snapshot {
    /// Chats taken on and not ended yet.
    pub fn chats_open(&self) -> u64 {
        let ended: u64 = self.chats_ended.values().sum();
        self.chats_offered
            .saturating_sub(self.chats_rejected)
            .saturating_sub(ended)
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn histograms(buckets: fn() -> Histogram) -> Histograms {
    Family::new_with_constructor(buckets)
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            chats_offered: AtomicU64::default(),
            chats_accepted: AtomicU64::default(),
            chats_rejected: AtomicU64::default(),
            messages_in: AtomicU64::default(),
            messages_out: AtomicU64::default(),
            no_matches: AtomicU64::default(),
            responder_failures: AtomicU64::default(),
            escalations: AtomicU64::default(),
            notifications: AtomicU64::default(),
            notifications_unknown: AtomicU64::default(),
            notifications_ignored: AtomicU64::default(),
            reconnects: AtomicU64::default(),
            rule_reloads_ok: AtomicU64::default(),
            rule_reloads_failed: AtomicU64::default(),
            rules_version: AtomicU64::default(),
            rules_last_reload_failed: Default::default(),
            override_changes: AtomicU64::default(),
            override_until: Default::default(),
            tls_verification_disabled: Default::default(),
            labelled: Mutex::default(),
            // 0.5 s … ~4.3 min: consultations wait seconds to minutes.
            escalation_wait: histograms(|| Histogram::new(exponential_buckets(0.5, 2.0, 10))),
            // 5 ms … ~10 s: REST calls are fast unless GWS struggles.
            gws_latency: histograms(|| Histogram::new(exponential_buckets(0.005, 2.0, 12))),
            health: Health::default(),
        }
    }
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
    /// A customer message that no `message` rule matched.
    pub fn no_match(&self) {
        bump(&self.no_matches);
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
    /// Whether TLS certificate verification is off (`gws.danger_accept_invalid_certs`).
    pub fn set_tls_verification_disabled(&self, disabled: bool) {
        self.tls_verification_disabled
            .store(disabled, Ordering::Relaxed);
    }
    /// A rule set was loaded and swapped in (at start or on reload).
    pub fn rules_loaded(&self) {
        bump(&self.rules_version);
    }
    /// A reload request finished: `ok` when the new rules are active.
    pub fn rules_reloaded(&self, ok: bool) {
        if ok {
            bump(&self.rule_reloads_ok);
            self.rules_loaded();
        } else {
            bump(&self.rule_reloads_failed);
        }
        self.rules_last_reload_failed.store(!ok, Ordering::Relaxed);
    }
    /// The emergency override changed: it now ends at `until` (Unix seconds), or there is none.
    pub fn override_changed(&self, until: Option<i64>) {
        bump(&self.override_changes);
        self.override_until
            .store(until.unwrap_or(0), Ordering::Relaxed);
    }

    pub fn chat_ended(&self, outcome: &str) {
        self.with_labels(|l| *l.chats_ended.entry(outcome.into()).or_default() += 1);
    }
    /// An escalation ended with `outcome` after `waited` since it started.
    pub fn escalation_ended(&self, outcome: &'static str, waited: Duration) {
        self.with_labels(|l| *l.escalations_ended.entry(outcome.into()).or_default() += 1);
        self.escalation_wait
            .get_or_create(&[("outcome", outcome)])
            .observe(waited.as_secs_f64());
    }
    pub fn rule_hit(&self, rule: &str) {
        self.with_labels(|l| match l.rule_hits.get_mut(rule) {
            Some(n) => *n += 1,
            None => {
                l.rule_hits.insert(rule.to_owned(), 1);
            }
        });
    }
    /// One GWS request attempt took `elapsed` and failed with `error` (a code from
    /// [`crate::telemetry::metrics::error_code`]) or succeeded (`None`).
    pub fn gws_request(&self, operation: &'static str, elapsed: Duration, error: Option<&str>) {
        self.gws_latency
            .get_or_create(&[("operation", operation)])
            .observe(elapsed.as_secs_f64());
        if let Some(code) = error {
            self.with_labels(|l| {
                *l.gws_errors
                    .entry((operation.to_owned(), code.to_owned()))
                    .or_default() += 1
            });
        }
    }

    /// GWS accepted `operation` but reported later (an `Error` notification) that it failed:
    /// counted among the request errors with the code `async_error`.
    pub fn gws_request_failed_later(&self, operation: &str) {
        self.with_labels(|l| {
            *l.gws_errors
                .entry((operation.to_owned(), "async_error".to_owned()))
                .or_default() += 1
        });
    }

    /// What the readiness probe reports.
    pub fn health(&self) -> &Health {
        &self.health
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
            no_matches: read(&self.no_matches),
            responder_failures: read(&self.responder_failures),
            escalations: read(&self.escalations),
            notifications: read(&self.notifications),
            notifications_unknown: read(&self.notifications_unknown),
            notifications_ignored: read(&self.notifications_ignored),
            reconnects: read(&self.reconnects),
            rule_reloads_ok: read(&self.rule_reloads_ok),
            rule_reloads_failed: read(&self.rule_reloads_failed),
            rules_version: read(&self.rules_version),
            rules_last_reload_failed: self.rules_last_reload_failed.load(Ordering::Relaxed),
            override_changes: read(&self.override_changes),
            override_until: self.override_until.load(Ordering::Relaxed),
            tls_verification_disabled: self.tls_verification_disabled.load(Ordering::Relaxed),
            chats_ended: labelled.chats_ended,
            escalations_ended: labelled.escalations_ended,
            rule_hits: labelled.rule_hits,
            gws_errors: labelled.gws_errors,
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
        s.gws_request("accept", Duration::from_millis(3), Some("status_2"));
        s.gws_request("accept", Duration::from_millis(3), None);
        let snap = s.snapshot();
        assert_eq!(snap.chats_accepted, 2);
        assert_eq!(snap.rule_hits["greeting"], 2);
        assert_eq!(snap.rule_hits["faq"], 1);
        assert_eq!(snap.chats_ended["closed"], 1);
        assert_eq!(snap.gws_errors[&("accept".into(), "status_2".into())], 1);
        s.gws_request_failed_later("transfer_agent");
        assert_eq!(
            s.snapshot().gws_errors[&("transfer_agent".into(), "async_error".into())],
            1
        );
        assert_eq!(snap.messages_in, 0);
    }

    #[test]
    fn open_chats_are_the_started_ones_not_ended() {
        let s = Stats::default();
        for _ in 0..4 {
            s.chat_offered();
        }
        s.chat_rejected();
        s.chat_ended("closed");
        assert_eq!(s.snapshot().chats_open(), 2);
    }

    #[test]
    fn reloads_bump_the_version_only_when_they_succeed() {
        let s = Stats::default();
        s.rules_loaded();
        s.rules_reloaded(false);
        s.rules_reloaded(true);
        let snap = s.snapshot();
        assert_eq!(
            (
                snap.rules_version,
                snap.rule_reloads_ok,
                snap.rule_reloads_failed
            ),
            (2, 1, 1)
        );
    }

    /// Logged at shutdown as one readable line, not a Debug dump.
    #[test]
    fn a_snapshot_displays_as_one_line() {
        let s = Stats::default();
        s.chat_offered();
        s.chat_accepted();
        s.chat_ended("closed");
        let line = s.snapshot().to_string();
        assert!(
            line.starts_with("1 chats offered, 1 accepted, 0 rejected, 1 ended, 0 open;"),
            "{line}"
        );
        assert!(!line.contains('{') && !line.contains("Snapshot"), "{line}");
    }
}
