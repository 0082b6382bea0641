//! Metrics, health and the decision log, seen from outside: scrape `/metrics` after scripted
//! chats, watch `/readyz` follow the CometD connection, and `explain` a chat from a run.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use gws_botd::cli::demo;
use gws_botd::responder::rules::RuleSet;
use gws_botd::runtime::daemon;
use gws_botd::sim::{ChatOutcome, Fault, Sim, Step};
use gws_botd::telemetry::http_server::Server;
use gws_botd::telemetry::metrics;
use gws_botd::telemetry::stats::Stats;
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use gws_botd::sim::SimDialect;

use crate::support::{Harness, RULES, WAIT, rules_dir, say, sim_config, tuning, wait_dir};

/// Serve `/metrics`, `/healthz` and `/readyz` for `stats` on a free port.
async fn serve(stats: Arc<Stats>, stop: &CancellationToken) -> SocketAddr {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), stats)
        .await
        .expect("binds");
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run(stop.clone()));
    addr
}

/// GET a path: (status, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let reply = reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("the server answers");
    let status = reply.status().as_u16();
    (status, reply.text().await.unwrap())
}

/// The value of the sample `name` (with its labels, exactly as exposed), if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Wait until the sample `name` has `value` (looking again at each change of `stats`), then
/// scrape `/metrics`; panics after `WAIT` showing the page.
async fn await_sample(addr: SocketAddr, stats: &Stats, name: &str, value: f64) -> String {
    let reached = stats
        .wait_for(|s| (sample(&metrics::encode(s.registry()), name) == Some(value)).then_some(()));
    if tokio::time::timeout(WAIT, reached).await.is_err() {
        panic!(
            "{name} never became {value}:\n{}",
            get(addr, "/metrics").await.1
        );
    }
    let (_, text) = get(addr, "/metrics").await;
    assert_eq!(sample(&text, name), Some(value), "{name} in:\n{text}");
    text
}

async fn metrics_count_a_scripted_conversation(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let stop = CancellationToken::new();
    let addr = serve(h.stats.clone(), &stop).await;
    assert_eq!(get(addr, "/healthz").await.0, 200);
    assert_eq!(get(addr, "/readyz").await, (200, "ready\n".into()));

    let faq = h.chat(
        "Pat",
        vec![
            Step::AwaitReply,
            say(0, "when are you open"),
            Step::AwaitReply,
            say(0, "tell me a joke"),
            Step::AwaitReply,
            say(0, "bye"),
        ],
    );
    assert_eq!(
        h.wait_outcome(&faq).await.outcome,
        Some(ChatOutcome::ClosedByBot)
    );
    // The next REST call (the second chat's Accept) fails once and is retried.
    h.control.fail_next(1, Fault::Http(503));
    let refund = h.chat("Alex", vec![Step::AwaitReply, say(0, "I need a refund")]);
    assert_eq!(
        h.wait_outcome(&refund).await.outcome,
        Some(ChatOutcome::TransferredToAgent("agent-101".into()))
    );

    let text = await_sample(
        addr,
        &h.stats,
        "gws_botd_chats_ended_total{outcome=\"handed_over\"}",
        1.0,
    )
    .await;
    for (name, value) in [
        ("gws_botd_chats_offered_total", 2.0),
        ("gws_botd_chats_accepted_total", 2.0),
        ("gws_botd_chats_open", 0.0),
        ("gws_botd_chats_ended_total{outcome=\"closed\"}", 1.0),
        ("gws_botd_messages_in_total", 4.0),
        // Greeting ×2, hours, rephrase, goodbye, refund, consulting, connected.
        ("gws_botd_messages_out_total", 8.0),
        ("gws_botd_rule_hits_total{rule=\"greeting\"}", 2.0),
        ("gws_botd_rule_hits_total{rule=\"hours\"}", 1.0),
        ("gws_botd_rule_hits_total{rule=\"rephrase\"}", 1.0),
        ("gws_botd_rule_hits_total{rule=\"bye\"}", 1.0),
        ("gws_botd_rule_hits_total{rule=\"refund\"}", 1.0),
        ("gws_botd_no_match_total", 1.0),
        ("gws_botd_escalations_started_total", 1.0),
        ("gws_botd_escalations_ended_total{outcome=\"agent\"}", 1.0),
        (
            "gws_botd_escalation_wait_seconds_count{outcome=\"agent\"}",
            1.0,
        ),
        (
            "gws_botd_gws_request_errors_total{operation=\"accept\",code=\"http_503\"}",
            1.0,
        ),
        (
            "gws_botd_gws_request_duration_seconds_count{operation=\"accept\"}",
            3.0,
        ),
        (
            "gws_botd_gws_request_duration_seconds_count{operation=\"complete_transfer\"}",
            1.0,
        ),
        ("gws_botd_cometd_reconnects_total", 0.0),
        ("gws_botd_ready", 1.0),
        ("gws_botd_cometd_connected", 1.0),
    ] {
        assert_eq!(sample(&text, name), Some(value), "{name} in:\n{text}");
    }
    // The agent joins 200 ms into the consultation: the measured wait is at least that, and
    // (allowing for a loaded machine) within the 2 s bucket.
    let waited = sample(
        &text,
        "gws_botd_escalation_wait_seconds_sum{outcome=\"agent\"}",
    )
    .unwrap();
    assert!(waited >= 0.2, "{waited}");
    assert_eq!(
        sample(
            &text,
            "gws_botd_escalation_wait_seconds_bucket{outcome=\"agent\",le=\"2\"}"
        ),
        Some(1.0),
        "{text}"
    );
    stop.cancel();
}

#[tokio::test]
async fn readyz_follows_the_cometd_connection() {
    let sim = Sim::start(sim_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim_addr = sim.addr();
    let dir = rules_dir(RULES);
    let config = demo::daemon_config(&sim, &sim_config(), &dir);
    let rules = Arc::new(ArcSwap::from_pointee(RuleSet::load_dir(&dir).unwrap()));
    let stats = Arc::new(Stats::default());
    let stop = CancellationToken::new();
    let addr = serve(stats.clone(), &stop).await;
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("not logged in"), "{body}");

    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(daemon::run(
        config.clone(),
        daemon::build_chain(&config, &rules).expect("the chain builds"),
        tuning(),
        stats.clone(),
        shutdown.clone(),
    ));
    await_ready(addr, &stats, true).await;

    // The server goes away: the session and the CometD connection with it.
    sim.shutdown().await;
    let body = await_ready(addr, &stats, false).await;
    assert!(
        body.contains("CometD notifications not connected"),
        "{body}"
    );
    assert_eq!(get(addr, "/healthz").await.0, 200, "alive all the same");
    let metrics = get(addr, "/metrics").await.1;
    assert_eq!(sample(&metrics, "gws_botd_cometd_connected"), Some(0.0));

    // It comes back on the same address: CometD handshakes again and readiness returns.
    let sim = Sim::start(sim_config(), sim_addr).await.unwrap();
    await_ready(addr, &stats, true).await;
    assert!(stats.snapshot().reconnects >= 1);

    shutdown.cancel();
    tokio::time::timeout(WAIT, daemon)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let (status, _) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "not ready once stopped");
    stop.cancel();
    sim.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&config.bot.state_dir).ok();
}

/// Wait until `stats` is ready or not (looking again at each change of its flags), then ask
/// `/readyz`, which must say the same: 200 `ready` or 503; returns the body.
async fn await_ready(addr: SocketAddr, stats: &Stats, ready: bool) -> String {
    let want = if ready { 200 } else { 503 };
    let reached = stats.wait_for(|s| (s.health().readiness().is_ok() == ready).then_some(()));
    if tokio::time::timeout(WAIT, reached).await.is_err() {
        let (status, body) = get(addr, "/readyz").await;
        panic!("/readyz never answered {want}; last: {status} {body}");
    }
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, want, "{body}");
    body
}

async fn explain_tells_a_chat_from_a_run_without_secrets_or_customer_text(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let id = h.chat(
        "Alex",
        vec![
            Step::AwaitReply,
            say(0, "my card is 4111 1111"),
            Step::AwaitReply,
            say(0, "I need a refund"),
        ],
    );
    h.wait_outcome(&id).await;
    let dir = h.config.bot.state_dir.clone();
    let story = wait_dir(&dir, "the chat's end in the decision log", || {
        gws_botd::cli::explain::story(&dir, &id)
            .ok()
            .filter(|s| s.contains("chat ended"))
    })
    .await;

    // The real command, as a supervisor runs it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gws-botd"))
        .args(["explain", &id, "--state-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed, story);
    let lines: Vec<&str> = printed.lines().collect();
    // Without include_customer_text: no nickname, replies as lengths next to their rules.
    assert!(!printed.contains("Alex"), "{printed}");
    // Each message and each answer is named by the message's transcript id (eventId or index).
    let transcript = h.control.chat(&id).unwrap().transcript;
    let id_of = |text: &str| {
        transcript
            .iter()
            .find(|e| e.text.as_deref() == Some(text))
            .map(|e| e.event_id.clone())
            .unwrap()
    };
    let (card, refund) = (id_of("my card is 4111 1111"), id_of("I need a refund"));
    assert_ne!(card, refund);
    let expected_in_order = [
        "offered to the bot".to_owned(),
        "accepted the chat".to_owned(),
        "on accepting, rule \"greeting\" acted".to_owned(),
        "bot says a reply of 33 characters (from the rule's template; text not recorded)"
            .to_owned(),
        format!("customer wrote message 1 [{card}] (20 characters; text not recorded)"),
        format!("no message rule matched message 1 [{card}]; \"rephrase\" answered"),
        format!("customer wrote message 2 [{refund}] (15 characters; text not recorded)"),
        format!("rule \"refund\" matched message 2 [{refund}]"),
        "then: escalate to team billing".to_owned(),
        "team billing: hand-over started: agents to consult: agent-101".to_owned(),
        "team billing: consulting: agent-101".to_owned(),
        "team billing: agent joined: agent-101".to_owned(),
        "chat ended: handed over to agent agent-101".to_owned(),
    ];
    assert!(!printed.contains("a second answer"), "{printed}");
    let mut at = 0;
    for want in expected_in_order {
        let found = lines[at..].iter().position(|l| l.contains(&want));
        let Some(i) = found else {
            panic!("{want:?} missing after line {at} in:\n{printed}");
        };
        at += i + 1;
    }

    let raw = std::fs::read_to_string(dir.join(gws_botd::store::decision_log::FILE_NAME)).unwrap();
    assert!(!raw.contains("4111"), "customer text redacted: {raw}");
    for message in [&card, &refund] {
        let named = format!(
            r#""message_id":{}"#,
            serde_json::to_string(message).unwrap()
        );
        assert_eq!(
            raw.matches(&named).count(),
            2,
            "{named} said and answered: {raw}"
        );
    }
    assert!(!raw.contains("Alex"), "customer nickname redacted: {raw}");
    assert!(
        !raw.contains("I need a refund"),
        "customer text redacted: {raw}"
    );
    assert!(
        !raw.contains(h.config.gws.password.expose_secret()),
        "no password in the decision log"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gws-botd"))
        .args(["explain", "no-such-chat", "--state-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no decisions recorded"));
}

per_dialect!(
    metrics_count_a_scripted_conversation,
    explain_tells_a_chat_from_a_run_without_secrets_or_customer_text,
);
