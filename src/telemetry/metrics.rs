//! The Prometheus metrics: every family with its name, help text and labels, registered once
//! in a `prometheus-client` [`Registry`] that `/metrics` encodes, and the label given to each
//! kind of GWS failure. [`Stats`](crate::telemetry::stats::Stats) is the daemon's handle on them.
//!
//! Every metric is prefixed `gws_botd_`; README.md lists them. Label sets are bounded: outcomes,
//! results and operations are named in the code, rule names come from the loaded rule set and
//! error codes from [`error_code`].

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::gws;
use crate::telemetry::health::{Flag, Health};

/// The `Content-Type` of [`encode`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A stable, low-cardinality label for a failed GWS request: `http_503`, `status_2` (a GWS
/// `statusCode`), `unauthorized`, `csrf`, `not_authenticated`, `transport`, `unsent` (could not connect),
/// `decode`, `setup`, `too_large` (body over `gws.max_response_size`), `refused` (not sent).
pub fn error_code(error: &gws::Error) -> String {
    match error {
        gws::Error::Unauthorized => "unauthorized".into(),
        gws::Error::Csrf => "csrf".into(),
        gws::Error::NotAuthenticated => "not_authenticated".into(),
        gws::Error::Status { code, .. } => format!("status_{code}"),
        gws::Error::Http { status, .. } => format!("http_{status}"),
        gws::Error::Transport(_) => "transport".into(),
        gws::Error::Unsent(_) => "unsent".into(),
        gws::Error::Decode { .. } => "decode".into(),
        gws::Error::Setup(_) => "setup".into(),
        gws::Error::TooLarge { .. } => "too_large".into(),
        gws::Error::Refused(_) => "refused".into(),
    }
}

/// The metrics of `registry` (see [`Stats::registry`](crate::telemetry::stats::Stats::registry))
/// in Prometheus text format.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail; an encoder error would only truncate the output.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, registry);
    out
}

/// Label set whose value the code names: `[("outcome", "agent")]`.
pub(crate) type Named = [(&'static str, &'static str); 1];
/// Label set whose values come from input (rule names, chat ends, error codes).
pub(crate) type Owned<const N: usize> = [(&'static str, String); N];
/// A histogram per label value.
pub(crate) type Histograms = Family<Named, Histogram, fn() -> Histogram>;
/// A responder's labels: its name in the chain and its type.
pub(crate) type ResponderLabels = Owned<2>;

/// A counter family that also remembers its label sets, so reports can list them (a
/// [`Family`] cannot be iterated). Registered like any family: the registry holds a clone.
#[derive(Debug)]
pub(crate) struct Tally<S> {
    family: Family<S, Counter>,
    seen: Mutex<BTreeSet<S>>,
}

impl<S: Clone + Hash + Ord> Tally<S> {
    fn new() -> Self {
        Tally {
            family: Family::default(),
            seen: Mutex::default(),
        }
    }

    pub(crate) fn inc(&self, labels: S) {
        if let Some(counter) = self.family.get(&labels) {
            counter.inc();
            return;
        }
        // A poisoned lock only means another thread panicked mid-insert; the set is usable.
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(labels.clone());
        self.family.get_or_create(&labels).inc();
    }

    /// Each label set seen, with its count.
    pub(crate) fn counts(&self) -> BTreeMap<S, u64> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        seen.into_iter()
            .map(|labels| {
                let n = self.family.get(&labels).map_or(0, |c| c.get());
                (labels, n)
            })
            .collect()
    }
}

/// A gauge computed when scraped from state kept elsewhere (readiness flags, open chats).
struct Computed(Box<dyn Fn() -> i64 + Send + Sync>);

impl Computed {
    fn new(value: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Computed(Box::new(value))
    }

    fn flag(flag: &Flag) -> Self {
        let flag = flag.clone();
        Computed::new(move || i64::from(flag.get()))
    }
}

impl std::fmt::Debug for Computed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Computed({})", (self.0)())
    }
}

impl EncodeMetric for Computed {
    fn encode(&self, mut encoder: MetricEncoder) -> std::fmt::Result {
        encoder.encode_gauge(&(self.0)())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

/// A family exposed with its `# HELP` and `# TYPE` lines before its first sample too (the
/// registry leaves out empty families), as `/metrics` has always listed every metric.
#[derive(Debug)]
struct Described<M>(M);

impl<M: EncodeMetric> EncodeMetric for Described<M> {
    fn encode(&self, encoder: MetricEncoder) -> std::fmt::Result {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }
}

/// A counter kept elsewhere and read when scraped (the decision log's drops): 0 until the
/// daemon names its source with [`Sourced::set`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Sourced(Arc<ArcSwapOption<AtomicU64>>);

impl Sourced {
    /// Read the counter from `count` from now on.
    pub(crate) fn set(&self, count: Arc<AtomicU64>) {
        self.0.store(Some(count));
    }

    pub(crate) fn get(&self) -> u64 {
        self.0
            .load()
            .as_ref()
            .map_or(0, |count| count.load(Ordering::Relaxed))
    }
}

impl EncodeMetric for Sourced {
    fn encode(&self, mut encoder: MetricEncoder) -> std::fmt::Result {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

fn histograms(buckets: fn() -> Histogram) -> Histograms {
    Family::new_with_constructor(buckets)
}

/// Every metric of the daemon, and the registry that holds each of them once.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub chats_offered: Counter,
    pub chats_accepted: Counter,
    pub chats_rejected: Counter,
    /// Chats ended, whatever the outcome: for `chats_open` (not exposed itself).
    pub chats_ended_all: Counter,
    /// Ended chats by [`crate::chat::End::label`].
    pub chats_ended: Tally<Owned<1>>,
    pub messages_in: Counter,
    pub messages_out: Counter,
    pub rule_hits: Tally<Owned<1>>,
    pub no_matches: Counter,
    pub responder_failures: Counter,
    pub escalations: Counter,
    pub escalations_ended: Tally<Owned<1>>,
    /// Seconds from the start of an escalation to its end, by outcome.
    pub escalation_wait: Histograms,
    /// Seconds per GWS REST request attempt, by operation.
    pub gws_latency: Histograms,
    /// Failed GWS request attempts by operation and code.
    pub gws_errors: Tally<Owned<2>>,
    pub notifications: Counter,
    pub notifications_unknown: Counter,
    pub notifications_ignored: Counter,
    pub reconnects: Counter,
    pub rule_reloads_ok: Counter,
    pub rule_reloads_failed: Counter,
    pub rules_version: Gauge,
    pub rules_last_reload_failed: Gauge,
    pub override_changes: Counter,
    pub override_until: Gauge,
    pub tls_verification_disabled: Gauge,
    /// Decision records dropped because the log's writer could not keep up.
    pub decision_log_dropped: Sourced,
    /// Shadow decisions that differ from the live one, by the shadow rule that acted (or
    /// `no_match`: the shadow set was silent where the live chain acted).
    pub shadow_disagreements: Tally<Owned<1>>,
    /// Shadow evaluations that panicked or took too long, by reason.
    pub shadow_failures: Tally<Named>,
    /// Calls, passes and errors (including timeouts) per responder of the chain.
    pub responder_calls: Family<ResponderLabels, Counter>,
    pub responder_passes: Family<ResponderLabels, Counter>,
    pub responder_errors: Family<ResponderLabels, Counter>,
    /// Seconds per responder call.
    pub responder_latency: Family<ResponderLabels, Histogram, fn() -> Histogram>,
    pub registry: Registry,
}

impl Metrics {
    /// The metrics, registered; the readiness gauges read `health`.
    pub(crate) fn new(health: &Health) -> Metrics {
        let reloads = Family::<Named, Counter>::default();
        let mut m = Metrics {
            chats_offered: Counter::default(),
            chats_accepted: Counter::default(),
            chats_rejected: Counter::default(),
            chats_ended_all: Counter::default(),
            chats_ended: Tally::new(),
            messages_in: Counter::default(),
            messages_out: Counter::default(),
            rule_hits: Tally::new(),
            no_matches: Counter::default(),
            responder_failures: Counter::default(),
            escalations: Counter::default(),
            escalations_ended: Tally::new(),
            // 0.5 s … ~4.3 min: consultations wait seconds to minutes.
            escalation_wait: histograms(|| Histogram::new(exponential_buckets(0.5, 2.0, 10))),
            // 5 ms … ~10 s: REST calls are fast unless GWS struggles.
            gws_latency: histograms(|| Histogram::new(exponential_buckets(0.005, 2.0, 12))),
            gws_errors: Tally::new(),
            notifications: Counter::default(),
            notifications_unknown: Counter::default(),
            notifications_ignored: Counter::default(),
            reconnects: Counter::default(),
            rule_reloads_ok: reloads.get_or_create_owned(&[("result", "ok")]),
            rule_reloads_failed: reloads.get_or_create_owned(&[("result", "failed")]),
            rules_version: Gauge::default(),
            rules_last_reload_failed: Gauge::default(),
            override_changes: Counter::default(),
            override_until: Gauge::default(),
            tls_verification_disabled: Gauge::default(),
            decision_log_dropped: Sourced::default(),
            shadow_disagreements: Tally::new(),
            shadow_failures: Tally::new(),
            responder_calls: Family::default(),
            responder_passes: Family::default(),
            responder_errors: Family::default(),
            // 0.1 ms … ~3.3 s: rules answer in microseconds, webhooks in milliseconds.
            responder_latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 16))
            }),
            registry: Registry::default(),
        };
        let mut r = Registry::default();
        m.register_chats(&mut r);
        m.register_escalations_and_requests(&mut r);
        m.register_notifications_and_rules(&mut r, reloads);
        m.register_shadow(&mut r);
        m.register_responders(&mut r);
        register_readiness(&mut r, health);
        m.registry = r;
        m
    }

    fn register_chats(&self, r: &mut Registry) {
        r.register(
            "gws_botd_chats_offered",
            "Chat offers seen",
            self.chats_offered.clone(),
        );
        r.register(
            "gws_botd_chats_accepted",
            "Chats accepted",
            self.chats_accepted.clone(),
        );
        let rejected = "Offers rejected (full or stopping)";
        r.register(
            "gws_botd_chats_rejected",
            rejected,
            self.chats_rejected.clone(),
        );
        let (offered, rejected, ended) = (
            self.chats_offered.clone(),
            self.chats_rejected.clone(),
            self.chats_ended_all.clone(),
        );
        let open = Computed::new(move || {
            let open = offered
                .get()
                .saturating_sub(rejected.get())
                .saturating_sub(ended.get());
            i64::try_from(open).unwrap_or(i64::MAX)
        });
        r.register("gws_botd_chats_open", "Chats the bot holds now", open);
        let ended = Described(self.chats_ended.family.clone());
        r.register("gws_botd_chats_ended", "Chats ended, by outcome", ended);
        let (messages_in, messages_out) = (self.messages_in.clone(), self.messages_out.clone());
        r.register(
            "gws_botd_messages_in",
            "Customer messages received",
            messages_in,
        );
        r.register(
            "gws_botd_messages_out",
            "Messages the bot sent",
            messages_out,
        );
        let hits = Described(self.rule_hits.family.clone());
        r.register("gws_botd_rule_hits", "Times each rule acted", hits);
        let no_match = "Customer messages no message rule matched";
        r.register("gws_botd_no_match", no_match, self.no_matches.clone());
        let failures = "Responder errors and panics (the chat was handed on)";
        let failed = self.responder_failures.clone();
        r.register("gws_botd_responder_failures", failures, failed);
    }

    fn register_escalations_and_requests(&self, r: &mut Registry) {
        let started = self.escalations.clone();
        r.register(
            "gws_botd_escalations_started",
            "Escalations started",
            started,
        );
        r.register(
            "gws_botd_escalations_ended",
            "Escalations ended, by outcome (agent, skill, failed, ended)",
            Described(self.escalations_ended.family.clone()),
        );
        r.register(
            "gws_botd_escalation_wait_seconds",
            "Time from the start of an escalation to its end, by outcome",
            Described(self.escalation_wait.clone()),
        );
        r.register(
            "gws_botd_gws_request_duration_seconds",
            "Duration of each GWS REST request attempt, by operation",
            Described(self.gws_latency.clone()),
        );
        r.register(
            "gws_botd_gws_request_errors",
            "Failed GWS REST request attempts, by operation and code",
            Described(self.gws_errors.family.clone()),
        );
    }

    fn register_notifications_and_rules(&self, r: &mut Registry, reloads: Family<Named, Counter>) {
        let received = self.notifications.clone();
        r.register(
            "gws_botd_notifications",
            "CometD notifications received",
            received,
        );
        r.register(
            "gws_botd_notifications_unknown",
            "Notifications of an unknown type (skipped)",
            self.notifications_unknown.clone(),
        );
        r.register(
            "gws_botd_notifications_ignored",
            "Notifications skipped as malformed or not for the bot",
            self.notifications_ignored.clone(),
        );
        r.register(
            "gws_botd_cometd_reconnects",
            "CometD re-connections after the first (notifications may have been missed)",
            self.reconnects.clone(),
        );
        r.register(
            "gws_botd_rule_reloads",
            "Rule reloads (SIGHUP or a saved rule file), by result",
            reloads,
        );
        r.register(
            "gws_botd_rules_version",
            "Rule sets loaded since start (changes on every successful reload)",
            self.rules_version.clone(),
        );
        r.register(
            "gws_botd_rules_last_reload_failed",
            "1 while the last rule reload failed (the previous rules stay active), 0 once one succeeds",
            self.rules_last_reload_failed.clone(),
        );
        r.register(
            "gws_botd_override_changes",
            "Emergency override changes the daemon noticed (set, replaced, cleared)",
            self.override_changes.clone(),
        );
        r.register(
            "gws_botd_override_until_seconds",
            "When the emergency override ends (Unix time); 0 without one. In force while above time()",
            self.override_until.clone(),
        );
        r.register(
            "gws_botd_tls_verification_disabled",
            "1 when gws.danger_accept_invalid_certs turns TLS certificate verification off",
            self.tls_verification_disabled.clone(),
        );
        r.register(
            "gws_botd_decision_log_dropped",
            "Decision records dropped because the log's writer could not keep up (the log has gaps)",
            self.decision_log_dropped.clone(),
        );
    }
}

impl Metrics {
    fn register_responders(&self, r: &mut Registry) {
        r.register(
            "gws_botd_responder_calls",
            "Calls to each responder of the chain, by responder (name) and type",
            Described(self.responder_calls.clone()),
        );
        r.register(
            "gws_botd_responder_passes",
            "Calls a responder passed on (the next one was asked), by responder and type",
            Described(self.responder_passes.clone()),
        );
        r.register(
            "gws_botd_responder_errors",
            "Calls that failed (error, panic, timeout, bad answer), by responder and type",
            Described(self.responder_errors.clone()),
        );
        r.register(
            "gws_botd_responder_duration_seconds",
            "Duration of each responder call, by responder and type",
            Described(self.responder_latency.clone()),
        );
    }

    fn register_shadow(&self, r: &mut Registry) {
        r.register(
            "gws_botd_shadow_disagreements",
            "Shadow decisions that differ from the live one, by the shadow rule that acted \
             (no_match: the shadow rules were silent where the live chain acted)",
            Described(self.shadow_disagreements.family.clone()),
        );
        r.register(
            "gws_botd_shadow_failures",
            "Shadow evaluations that panicked or took too long (none was recorded), by reason",
            Described(self.shadow_failures.family.clone()),
        );
    }
}

/// The parts of `/readyz`, and `/readyz` itself, as 0/1 gauges.
fn register_readiness(r: &mut Registry, health: &Health) {
    let logged_in = Computed::flag(&health.logged_in);
    r.register("gws_botd_logged_in", "1 while logged in to GWS", logged_in);
    r.register(
        "gws_botd_cometd_connected",
        "1 while CometD notifications are connected",
        Computed::flag(&health.cometd_connected),
    );
    let agent_ready = Computed::flag(&health.agent_ready);
    r.register(
        "gws_botd_agent_ready",
        "1 while the agent is Ready for chats",
        agent_ready,
    );
    let health = health.clone();
    let ready = Computed::new(move || i64::from(health.readiness().is_ok()));
    r.register("gws_botd_ready", "1 while /readyz answers 200", ready);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::telemetry::stats::Stats;

    #[test]
    fn disabled_tls_verification_shows_in_a_gauge() {
        let stats = std::sync::Arc::new(Stats::default());
        stats.set_tls_verification_disabled(true);
        let text = encode(stats.registry());
        assert!(
            text.lines()
                .any(|l| l == "gws_botd_tls_verification_disabled 1"),
            "{text}"
        );
    }

    #[test]
    fn every_metric_is_exposed_with_its_labels() {
        let stats = std::sync::Arc::new(Stats::default());
        stats.chat_offered();
        stats.chat_accepted();
        stats.rule_hit("greeting");
        stats.chat_ended("closed");
        stats.escalation_ended("agent", Duration::from_secs(3));
        stats.gws_request("accept", Duration::from_millis(20), Some("http_503"));
        stats.rules_loaded();
        stats.rules_reloaded(false);
        stats.override_changed(Some(1_795_000_000));
        let text = encode(stats.registry());
        for line in [
            "gws_botd_chats_offered_total 1",
            "gws_botd_chats_open 0",
            "gws_botd_chats_ended_total{outcome=\"closed\"} 1",
            "gws_botd_rule_hits_total{rule=\"greeting\"} 1",
            "gws_botd_escalation_wait_seconds_count{outcome=\"agent\"} 1",
            "gws_botd_gws_request_duration_seconds_count{operation=\"accept\"} 1",
            "gws_botd_gws_request_errors_total{operation=\"accept\",code=\"http_503\"} 1",
            "gws_botd_rule_reloads_total{result=\"failed\"} 1",
            "gws_botd_rules_version 1",
            "gws_botd_rules_last_reload_failed 1",
            "gws_botd_override_changes_total 1",
            "gws_botd_override_until_seconds 1795000000",
            "gws_botd_ready 0",
            "gws_botd_tls_verification_disabled 0",
            "# TYPE gws_botd_escalation_wait_seconds histogram",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
    }

    #[test]
    fn each_family_is_registered_once() {
        let text = encode(Stats::default().registry());
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(names.len(), unique.len(), "{text}");
        assert_eq!(names.len(), 36, "README.md lists 36 metrics:\n{text}");
    }

    #[test]
    fn decision_log_drops_are_read_from_the_log_when_scraped() {
        let stats = Stats::default();
        let shows = |line: &str| encode(stats.registry()).lines().any(|l| l == line);
        assert!(
            shows("gws_botd_decision_log_dropped_total 0"),
            "0 before a log is named"
        );
        let count = Arc::new(AtomicU64::new(0));
        stats.count_decision_log_drops(count.clone());
        count.store(7, Ordering::Relaxed);
        assert!(shows("gws_botd_decision_log_dropped_total 7"));
        let text = encode(stats.registry());
        assert!(
            text.lines()
                .any(|l| l.starts_with("# TYPE gws_botd_decision_log_dropped")
                    && l.ends_with(" counter")),
            "{text}"
        );
    }

    #[test]
    fn computed_gauges_are_read_at_scrape_time() {
        let stats = Stats::default();
        let shows = |line: &str| encode(stats.registry()).lines().any(|l| l == line);
        for _ in 0..3 {
            stats.chat_offered();
        }
        stats.chat_rejected();
        stats.chat_ended("closed");
        assert!(shows("gws_botd_chats_open 1"));
        let health = stats.health();
        health.logged_in.set(true);
        health.cometd_connected.set(true);
        assert!(shows("gws_botd_logged_in 1") && shows("gws_botd_agent_ready 0"));
        assert!(shows("gws_botd_ready 0"));
        health.agent_ready.set(true);
        assert!(shows("gws_botd_ready 1"));
    }

    #[test]
    fn error_codes_are_short_and_stable() {
        assert_eq!(error_code(&gws::Error::http(503, "busy")), "http_503");
        assert_eq!(
            error_code(&gws::Error::Status {
                operation: "accept",
                code: 2,
                message: "x".into()
            }),
            "status_2"
        );
        assert_eq!(
            error_code(&gws::Error::Transport("reset".into())),
            "transport"
        );
    }
}
