//! Webhook benchmark: the latency a `type = "webhook"` responder adds to each customer message,
//! against a local axum server on 127.0.0.1 that answers at once.
//!
//! Two chains answer the same messages in the same run, alternating in rounds so that machine
//! noise hits both alike: the rule files alone (the baseline), and a Rasa-format webhook in
//! front of them whose server answers `[]` at once (the webhook passes, the rules answer: the
//! full cost of asking the webhook on every message). A third chain has the webhook answer the
//! message itself (a reply), for the cost when the external bot acts. Reported per chain: p50
//! and p99 of one `Chain::respond` call, and the webhook's added latency (p50 and p99 minus the
//! baseline's) and the ratio to the baseline.
//!
//! Run with `cargo bench --bench webhook`. Env: MESSAGES per chain (default 4,000). Bounded:
//! every call has the responder's 2 s timeout; the run takes a few seconds.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Json;
use serde_json::{Value, json};
use tokio::time::Instant;

use gws_botd::event::{ChatId, UserData};
use gws_botd::responder::rules::{RuleSet, RulesResponder};
use gws_botd::responder::webhook::{Format, Webhook, WebhookConfig};
use gws_botd::responder::{Chain, ChatView, Link, OnError, Trigger, Verdict};

const RULES: &str = r#"
[[rule]]
name = "hours"
on = "message"
match.keywords = ["when are you open"]
reply = "We're open 8 to 18."

[[rule]]
name = "rephrase"
on = "no_match"
reply = "Sorry?"
"#;

const ROUNDS: usize = 20;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A Rasa REST channel that answers at once: `[]`, or a reply when the message says "reply".
async fn rasa(Json(body): Json<Value>) -> Json<Value> {
    if body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("reply")
    {
        Json(json!([{"recipient_id": body["sender"], "text": "From the bot."}]))
    } else {
        Json(json!([]))
    }
}

async fn serve() -> String {
    let app = axum::Router::new().route("/webhooks/rest/webhook", axum::routing::post(rasa));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/webhooks/rest/webhook")
}

fn rules_link(rules: &Arc<ArcSwap<RuleSet>>) -> Link {
    Link {
        name: "rules".into(),
        responder: Box::new(RulesResponder::new(rules.clone())),
        timeout: Some(Duration::from_secs(2)),
        on_error: OnError::Pass,
    }
}

fn webhook_link(url: &str, rules: &Arc<ArcSwap<RuleSet>>) -> Link {
    let config = WebhookConfig {
        url: url.into(),
        format: Format::Rasa,
        bearer_token_file: None,
        idle: Vec::new(),
    };
    Link {
        name: "nlu".into(),
        responder: Box::new(Webhook::new(&config, rules.clone()).unwrap()),
        timeout: Some(Duration::from_secs(2)),
        on_error: OnError::Pass,
    }
}

/// Ask `chain` about `n` messages saying `text`; each call's duration. Panics unless `by`
/// acts on each.
async fn run(chain: &Chain, n: usize, text: &str, by: &str) -> Vec<Duration> {
    let (id, data, fired) = (ChatId::from("bench"), UserData::new(), HashSet::new());
    let mut samples = Vec::with_capacity(n);
    for turn in 0..n {
        let view = ChatView {
            id: &id,
            message_id: None,
            recent: &[],
            customer: Some("Kim"),
            bot: "Ava",
            user_data: &data,
            turn: turn as u32 + 1,
            unanswered: 0,
            fired: &fired,
            awaiting: None,
            now: jiff::Timestamp::now(),
        };
        let trigger = Trigger::Message {
            text: text.to_owned(),
        };
        let start = Instant::now();
        let answer = chain.respond(&view, &trigger).await;
        samples.push(start.elapsed());
        match answer.decision {
            Verdict::Act { by: who, .. } if who == by => {}
            other => panic!("expected {by} to act: {other:?} {:?}", answer.skipped),
        }
    }
    samples
}

fn report(
    name: &str,
    samples: &mut [Duration],
    base: Option<(Duration, Duration)>,
) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(samples, 0.5), percentile(samples, 0.99));
    let added = base.map_or(String::new(), |(b50, b99)| {
        format!(
            "; added p50 {:.1?}, p99 {:.1?} ({:.1}× / {:.1}× the rules alone)",
            p50.saturating_sub(b50),
            p99.saturating_sub(b99),
            p50.as_secs_f64() / b50.as_secs_f64(),
            p99.as_secs_f64() / b99.as_secs_f64()
        )
    });
    println!("{name:<44} p50 {p50:>9.1?}  p99 {p99:>9.1?}{added}");
    (p50, p99)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let messages: usize = std::env::var("MESSAGES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(4_000);
    let per_round = messages.div_ceil(ROUNDS);
    let set = RuleSet::from_sources(&[(PathBuf::from("rules/bench.toml"), RULES.to_owned())])
        .unwrap_or_else(|e| panic!("{e}"));
    let rules = Arc::new(ArcSwap::from_pointee(set));
    let url = serve().await;
    let alone = Chain::of(vec![rules_link(&rules)]);
    let passing = Chain::of(vec![webhook_link(&url, &rules), rules_link(&rules)]);
    // Warm up: connections in the pool, code paths in the caches.
    run(&passing, 50, "when are you open?", "rules").await;
    run(&passing, 50, "reply please", "nlu").await;
    let (mut base, mut pass, mut act) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Who goes first alternates too.
        if round % 2 == 0 {
            base.extend(run(&alone, per_round, "when are you open?", "rules").await);
            pass.extend(run(&passing, per_round, "when are you open?", "rules").await);
        } else {
            pass.extend(run(&passing, per_round, "when are you open?", "rules").await);
            base.extend(run(&alone, per_round, "when are you open?", "rules").await);
        }
        act.extend(run(&passing, per_round, "reply please", "nlu").await);
    }
    println!(
        "{} messages per chain, {ROUNDS} alternating rounds, server on 127.0.0.1",
        base.len()
    );
    let b = report("rules alone (baseline)", &mut base, None);
    report("webhook (answers [] at once) → rules", &mut pass, Some(b));
    report("webhook answers (a reply)", &mut act, Some(b));
}
