//! The Prometheus exposition of [`Stats`]: a `prometheus-client` collector that reads the
//! counters at scrape time (so `Stats` stays the one source of truth), the names and help texts
//! of every metric, and the label given to each kind of GWS failure.
//!
//! Every metric is prefixed `gws_botd_`; README.md lists them.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::gws;
use crate::telemetry::stats::Stats;

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

impl gws::client::Observer for Stats {
    fn request_done(&self, operation: &'static str, elapsed: Duration, error: Option<&gws::Error>) {
        let code = error.map(error_code);
        self.gws_request(operation, elapsed, code.as_deref());
    }

    fn request_failed_later(&self, operation: &'static str) {
        self.gws_request_failed_later(operation);
    }
}

/// A registry exposing `stats`.
pub fn registry(stats: Arc<Stats>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Exporter(stats)));
    registry
}

/// The metrics in Prometheus text format.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail; an encoder error would only truncate the output.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, registry);
    out
}

#[derive(Debug)]
struct Exporter(Arc<Stats>);

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(enc.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> std::fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(enc.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// A counter family with one label.
fn counters<'a>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    values: impl IntoIterator<Item = (&'a str, u64)>,
) -> std::fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, n) in values {
        ConstCounter::new(n).encode(family.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

impl Collector for Exporter {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let s = self.0.snapshot();
        let e = &mut enc;
        counter(
            e,
            "gws_botd_chats_offered",
            "Chat offers seen.",
            s.chats_offered,
        )?;
        counter(
            e,
            "gws_botd_chats_accepted",
            "Chats accepted.",
            s.chats_accepted,
        )?;
        counter(
            e,
            "gws_botd_chats_rejected",
            "Offers rejected (full or stopping).",
            s.chats_rejected,
        )?;
        gauge(
            e,
            "gws_botd_chats_open",
            "Chats the bot holds now.",
            s.chats_open() as i64,
        )?;
        counters(
            e,
            "gws_botd_chats_ended",
            "Chats ended, by outcome.",
            "outcome",
            s.chats_ended.iter().map(|(k, v)| (k.as_str(), *v)),
        )?;
        counter(
            e,
            "gws_botd_messages_in",
            "Customer messages received.",
            s.messages_in,
        )?;
        counter(
            e,
            "gws_botd_messages_out",
            "Messages the bot sent.",
            s.messages_out,
        )?;
        counters(
            e,
            "gws_botd_rule_hits",
            "Times each rule acted.",
            "rule",
            s.rule_hits.iter().map(|(k, v)| (k.as_str(), *v)),
        )?;
        counter(
            e,
            "gws_botd_no_match",
            "Customer messages no message rule matched.",
            s.no_matches,
        )?;
        counter(
            e,
            "gws_botd_responder_failures",
            "Responder errors and panics (the chat was handed on).",
            s.responder_failures,
        )?;
        counter(
            e,
            "gws_botd_escalations_started",
            "Escalations started.",
            s.escalations,
        )?;
        counters(
            e,
            "gws_botd_escalations_ended",
            "Escalations ended, by outcome (agent, skill, failed, ended).",
            "outcome",
            s.escalations_ended.iter().map(|(k, v)| (k.as_str(), *v)),
        )?;
        let wait = &self.0.escalation_wait;
        wait.encode(e.encode_descriptor(
            "gws_botd_escalation_wait_seconds",
            "Time from the start of an escalation to its end, by outcome.",
            None,
            wait.metric_type(),
        )?)?;
        let latency = &self.0.gws_latency;
        latency.encode(e.encode_descriptor(
            "gws_botd_gws_request_duration_seconds",
            "Duration of each GWS REST request attempt, by operation.",
            None,
            latency.metric_type(),
        )?)?;
        let mut errors = e.encode_descriptor(
            "gws_botd_gws_request_errors",
            "Failed GWS REST request attempts, by operation and code.",
            None,
            MetricType::Counter,
        )?;
        for ((operation, code), n) in &s.gws_errors {
            ConstCounter::new(*n).encode(
                errors.encode_family(&[("operation", operation.as_str()), ("code", code)])?,
            )?;
        }
        counter(
            e,
            "gws_botd_notifications",
            "CometD notifications received.",
            s.notifications,
        )?;
        counter(
            e,
            "gws_botd_notifications_unknown",
            "Notifications of an unknown type (skipped).",
            s.notifications_unknown,
        )?;
        counter(
            e,
            "gws_botd_notifications_ignored",
            "Notifications skipped as malformed or not for the bot.",
            s.notifications_ignored,
        )?;
        counter(
            e,
            "gws_botd_cometd_reconnects",
            "CometD re-connections after the first (notifications may have been missed).",
            s.reconnects,
        )?;
        counters(
            e,
            "gws_botd_rule_reloads",
            "Rule reloads (SIGHUP or a saved rule file), by result.",
            "result",
            [("ok", s.rule_reloads_ok), ("failed", s.rule_reloads_failed)],
        )?;
        gauge(
            e,
            "gws_botd_rules_version",
            "Rule sets loaded since start (changes on every successful reload).",
            s.rules_version as i64,
        )?;
        gauge(
            e,
            "gws_botd_rules_last_reload_failed",
            "1 while the last rule reload failed (the previous rules stay active), 0 once one succeeds.",
            i64::from(s.rules_last_reload_failed),
        )?;
        counter(
            e,
            "gws_botd_override_changes",
            "Emergency override changes the daemon noticed (set, replaced, cleared).",
            s.override_changes,
        )?;
        gauge(
            e,
            "gws_botd_override_until_seconds",
            "When the emergency override ends (Unix time); 0 without one. In force while above time().",
            s.override_until,
        )?;
        gauge(
            e,
            "gws_botd_tls_verification_disabled",
            "1 when gws.danger_accept_invalid_certs turns TLS certificate verification off.",
            i64::from(s.tls_verification_disabled),
        )?;
        let health = self.0.health();
        let flags = [
            (
                "gws_botd_logged_in",
                "1 while logged in to GWS.",
                health.logged_in.get(),
            ),
            (
                "gws_botd_cometd_connected",
                "1 while CometD notifications are connected.",
                health.cometd_connected.get(),
            ),
            (
                "gws_botd_agent_ready",
                "1 while the agent is Ready for chats.",
                health.agent_ready.get(),
            ),
            (
                "gws_botd_ready",
                "1 while /readyz answers 200.",
                health.readiness().is_ok(),
            ),
        ];
        for (name, help, value) in flags {
            gauge(e, name, help, i64::from(value))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_tls_verification_shows_in_a_gauge() {
        let stats = Arc::new(Stats::default());
        stats.set_tls_verification_disabled(true);
        let text = encode(&registry(stats));
        assert!(
            text.lines()
                .any(|l| l == "gws_botd_tls_verification_disabled 1"),
            "{text}"
        );
    }

    #[test]
    fn every_metric_is_exposed_with_its_labels() {
        let stats = Arc::new(Stats::default());
        stats.chat_offered();
        stats.chat_accepted();
        stats.rule_hit("greeting");
        stats.chat_ended("closed");
        stats.escalation_ended("agent", Duration::from_secs(3));
        stats.gws_request("accept", Duration::from_millis(20), Some("http_503"));
        stats.rules_loaded();
        stats.rules_reloaded(false);
        stats.override_changed(Some(1_795_000_000));
        let text = encode(&registry(stats));
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
