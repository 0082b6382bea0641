//! What the daemon did and what went wrong, shared by all tasks: the method API every layer
//! calls (`chat_offered()`, `rule_hit(..)`, `gws_request(..)`, …) over the Prometheus families
//! of [`crate::telemetry::metrics`], which are the one source of truth behind `/metrics`; and
//! the [`Snapshot`] the demo's summary, systemd's status line and the tests read.
//!
//! Every recovered problem (malformed notification, GWS error, reconnect) bumps a counter here
//! besides its log line, so an operator can see trends without reading logs. The current state
//! the readiness probe reports lives beside the counters in [`Stats::health`]; every change of
//! either moves its [`Changes`](crate::telemetry::health::Changes), which [`Stats::wait_for`]
//! waits on.

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use crate::telemetry::health::Health;
use crate::telemetry::metrics::Metrics;

/// The daemon's counters.
#[derive(Debug)]
pub struct Stats {
    metrics: Metrics,
    health: Health,
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
    /// Shadow decisions that differed from the live one, by shadow rule (`no_match`: the
    /// shadow rules were silent where the live chain acted).
    pub shadow_disagreements: BTreeMap<String, u64>,
    /// Shadow evaluations that panicked or took too long, by reason (`panic`, `slow`).
    pub shadow_failures: BTreeMap<String, u64>,
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

impl Default for Stats {
    fn default() -> Self {
        let health = Health::default();
        Stats {
            metrics: Metrics::new(&health),
            health,
        }
    }
}

impl Stats {
    pub fn chat_offered(&self) {
        self.bump(&self.metrics.chats_offered);
    }
    pub fn chat_accepted(&self) {
        self.bump(&self.metrics.chats_accepted);
    }
    pub fn chat_rejected(&self) {
        self.bump(&self.metrics.chats_rejected);
    }
    pub fn message_in(&self) {
        self.bump(&self.metrics.messages_in);
    }
    pub fn message_out(&self) {
        self.bump(&self.metrics.messages_out);
    }
    /// A customer message that no `message` rule matched.
    pub fn no_match(&self) {
        self.bump(&self.metrics.no_matches);
    }
    pub fn responder_failure(&self) {
        self.bump(&self.metrics.responder_failures);
    }
    pub fn escalation_started(&self) {
        self.bump(&self.metrics.escalations);
    }
    pub fn notification(&self) {
        self.bump(&self.metrics.notifications);
    }
    pub fn notification_unknown(&self) {
        self.bump(&self.metrics.notifications_unknown);
    }
    pub fn notification_ignored(&self) {
        self.bump(&self.metrics.notifications_ignored);
    }
    pub fn reconnect(&self) {
        self.bump(&self.metrics.reconnects);
    }
    /// Whether TLS certificate verification is off (`gws.danger_accept_invalid_certs`).
    pub fn set_tls_verification_disabled(&self, disabled: bool) {
        self.metrics
            .tls_verification_disabled
            .set(i64::from(disabled));
        self.changed();
    }
    /// A rule set was loaded and swapped in (at start or on reload).
    pub fn rules_loaded(&self) {
        self.metrics.rules_version.inc();
        self.changed();
    }
    /// A reload request finished: `ok` when the new rules are active.
    pub fn rules_reloaded(&self, ok: bool) {
        if ok {
            self.bump(&self.metrics.rule_reloads_ok);
            self.rules_loaded();
        } else {
            self.bump(&self.metrics.rule_reloads_failed);
        }
        self.metrics.rules_last_reload_failed.set(i64::from(!ok));
        self.changed();
    }
    /// The emergency override changed: it now ends at `until` (Unix seconds), or there is none.
    pub fn override_changed(&self, until: Option<i64>) {
        self.bump(&self.metrics.override_changes);
        self.metrics.override_until.set(until.unwrap_or(0));
        self.changed();
    }

    pub fn chat_ended(&self, outcome: &str) {
        self.metrics
            .chats_ended
            .inc([("outcome", outcome.to_owned())]);
        self.bump(&self.metrics.chats_ended_all);
    }
    /// An escalation ended with `outcome` after `waited` since it started.
    pub fn escalation_ended(&self, outcome: &'static str, waited: Duration) {
        let m = &self.metrics;
        m.escalations_ended.inc([("outcome", outcome.to_owned())]);
        m.escalation_wait
            .get_or_create(&[("outcome", outcome)])
            .observe(waited.as_secs_f64());
        self.changed();
    }

    /// A shadow decision differed from the live one; `rule` is the shadow rule that acted, or
    /// `no_match` when the shadow rules were silent.
    pub fn shadow_disagreement(&self, rule: &str) {
        self.metrics
            .shadow_disagreements
            .inc([("rule", rule.to_owned())]);
        self.changed();
    }

    /// A shadow evaluation failed (`panic`) or took too long (`slow`) and was dropped.
    pub fn shadow_failure(&self, reason: &'static str) {
        self.metrics.shadow_failures.inc([("reason", reason)]);
        self.changed();
    }

    /// The metrics of one responder of the chain (`name` as configured, `kind` its type),
    /// looked up once when the chain starts so that a call costs no label lookup.
    pub fn responder_probe(&self, name: &str, kind: &str) -> ResponderProbe {
        let m = &self.metrics;
        let labels = [("responder", name.to_owned()), ("type", kind.to_owned())];
        ResponderProbe {
            calls: m.responder_calls.get_or_create_owned(&labels),
            passes: m.responder_passes.get_or_create_owned(&labels),
            errors: m.responder_errors.get_or_create_owned(&labels),
            latency: m.responder_latency.get_or_create_owned(&labels),
        }
    }
    pub fn rule_hit(&self, rule: &str) {
        self.metrics.rule_hits.inc([("rule", rule.to_owned())]);
        self.changed();
    }
    /// One GWS request attempt took `elapsed` and failed with `error` (a code from
    /// [`crate::telemetry::metrics::error_code`]) or succeeded (`None`).
    pub fn gws_request(&self, operation: &'static str, elapsed: Duration, error: Option<&str>) {
        self.metrics
            .gws_latency
            .get_or_create(&[("operation", operation)])
            .observe(elapsed.as_secs_f64());
        match error {
            Some(code) => self.gws_error(operation, code),
            None => self.changed(),
        }
    }

    /// GWS accepted `operation` but reported later (an `Error` notification) that it failed:
    /// counted among the request errors with the code `async_error`.
    pub fn gws_request_failed_later(&self, operation: &str) {
        self.gws_error(operation, "async_error");
    }

    fn gws_error(&self, operation: &str, code: &str) {
        self.metrics.gws_errors.inc([
            ("operation", operation.to_owned()),
            ("code", code.to_owned()),
        ]);
        self.changed();
    }

    fn bump(&self, counter: &Counter) {
        counter.inc();
        self.changed();
    }

    fn changed(&self) {
        self.health.changes().note();
    }

    /// Waits until `probe`, run now and again after each change of a counter or a readiness
    /// flag, returns `Some`. No polling and no deadline: callers put their own timeout around
    /// it.
    pub async fn wait_for<T>(&self, mut probe: impl FnMut(&Stats) -> Option<T>) -> T {
        let mut changes = self.health.changes().subscribe();
        loop {
            // Marked seen before the probe, so a change during the probe wakes the next wait.
            changes.borrow_and_update();
            if let Some(found) = probe(self) {
                return found;
            }
            // The sender lives in `self.health`, which outlives this borrow: it cannot close.
            let _ = changes.changed().await;
        }
    }

    /// Expose `count` as `gws_botd_decision_log_dropped_total`: the records the decision log
    /// dropped (its [`DecisionLog::drop_count`](crate::store::decision_log::DecisionLog::drop_count)).
    pub fn count_decision_log_drops(&self, count: std::sync::Arc<std::sync::atomic::AtomicU64>) {
        self.metrics.decision_log_dropped.set(count);
    }

    /// What the readiness probe reports.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The registry holding every metric once, as `/metrics` exposes it.
    pub fn registry(&self) -> &Registry {
        &self.metrics.registry
    }

    /// Copy all counters.
    pub fn snapshot(&self) -> Snapshot {
        let m = &self.metrics;
        let by_value = |counts: BTreeMap<[(&str, String); 1], u64>| {
            counts
                .into_iter()
                .map(|([(_, value)], n)| (value, n))
                .collect()
        };
        Snapshot {
            chats_offered: m.chats_offered.get(),
            chats_accepted: m.chats_accepted.get(),
            chats_rejected: m.chats_rejected.get(),
            messages_in: m.messages_in.get(),
            messages_out: m.messages_out.get(),
            no_matches: m.no_matches.get(),
            responder_failures: m.responder_failures.get(),
            escalations: m.escalations.get(),
            notifications: m.notifications.get(),
            notifications_unknown: m.notifications_unknown.get(),
            notifications_ignored: m.notifications_ignored.get(),
            reconnects: m.reconnects.get(),
            rule_reloads_ok: m.rule_reloads_ok.get(),
            rule_reloads_failed: m.rule_reloads_failed.get(),
            rules_version: u64::try_from(m.rules_version.get()).unwrap_or(0),
            rules_last_reload_failed: m.rules_last_reload_failed.get() != 0,
            tls_verification_disabled: m.tls_verification_disabled.get() != 0,
            chats_ended: by_value(m.chats_ended.counts()),
            escalations_ended: by_value(m.escalations_ended.counts()),
            rule_hits: by_value(m.rule_hits.counts()),
            gws_errors: m
                .gws_errors
                .counts()
                .into_iter()
                .map(|([(_, operation), (_, code)], n)| ((operation, code), n))
                .collect(),
            shadow_disagreements: by_value(m.shadow_disagreements.counts()),
            shadow_failures: m
                .shadow_failures
                .counts()
                .into_iter()
                .map(|([(_, reason)], n)| (reason.to_owned(), n))
                .collect(),
        }
    }
}

impl crate::gws::client::Observer for Stats {
    fn request_done(
        &self,
        operation: &'static str,
        elapsed: Duration,
        error: Option<&crate::gws::Error>,
    ) {
        let code = error.map(crate::telemetry::metrics::error_code);
        self.gws_request(operation, elapsed, code.as_deref());
    }

    fn request_failed_later(&self, operation: &'static str) {
        self.gws_request_failed_later(operation);
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

    #[tokio::test(start_paused = true)]
    async fn a_waiter_wakes_on_the_change_it_waits_for() {
        let s = std::sync::Arc::new(Stats::default());
        let waiter = tokio::spawn({
            let s = s.clone();
            async move {
                s.wait_for(|s| (s.snapshot().rule_hits.get("faq") == Some(&1)).then_some(()))
                    .await
            }
        });
        tokio::task::yield_now().await;
        s.chat_accepted();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "woken, looked, waits on");
        s.rule_hit("faq");
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken by the rule hit")
            .unwrap();
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
}

/// One responder's metrics (see [`Stats::responder_probe`]).
#[derive(Debug, Clone)]
pub struct ResponderProbe {
    calls: Counter,
    passes: Counter,
    errors: Counter,
    latency: prometheus_client::metrics::histogram::Histogram,
}

/// How one responder call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    Acted,
    Passed,
    /// An error, a panic or the timeout.
    Failed,
}

impl ResponderProbe {
    /// One call took `elapsed` and ended as `end`.
    pub fn called(&self, elapsed: Duration, end: CallEnd) {
        self.calls.inc();
        self.latency.observe(elapsed.as_secs_f64());
        match end {
            CallEnd::Acted => {}
            CallEnd::Passed => {
                self.passes.inc();
            }
            CallEnd::Failed => {
                self.errors.inc();
            }
        }
    }
}
