//! The webhook responder against a real HTTP server (axum on 127.0.0.1) in front of the rule
//! files: a Rasa-format bot that answers some messages, passes on others (an empty answer,
//! HTTP 500, no answer within the timeout, invalid JSON, an oversized body) to the rules and
//! hands over with `custom.handover`; the native format's round trip, its requests checked
//! against `docs/webhook-native.schema.json`; `on_error = "hand_over"`; the per-responder
//! metrics on the operator endpoint; the decision log and `explain` naming the responder, and
//! `gws-botd coverage` counting the same per responder from that log.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gws_botd::config::EscalationTexts;
use gws_botd::responder::webhook::{Format, WebhookConfig};
use gws_botd::responder::{OnError, ResponderConfig, ResponderKind};
use gws_botd::sim::{ChatOutcome, ChatSpec, SimDialect, Step};
use gws_botd::telemetry::http_server::Server;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// The fake external bot: what it was sent, and the bearer token it requires (if any).
#[derive(Clone, Default)]
pub struct Hook {
    pub requests: Arc<Mutex<Vec<Value>>>,
    pub token: Option<String>,
}

impl Hook {
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    fn allowed(&self, headers: &HeaderMap, body: &Value) -> bool {
        self.requests.lock().unwrap().push(body.clone());
        let Some(token) = &self.token else {
            return true;
        };
        let sent = headers.get(header::AUTHORIZATION);
        sent.and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {token}"))
    }
}

/// A Rasa REST channel whose answer depends on the message's words.
async fn rasa(State(hook): State<Hook>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !hook.allowed(&headers, &body) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let sender = body["sender"].clone();
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    let item = |key: &str, value: Value| json!({"recipient_id": sender, key: value});
    if let Some(fault) = fault(&message, || {
        json!([item("text", json!("x".repeat(MIB + 1)))])
    })
    .await
    {
        return fault;
    }
    if message.contains("hello bot") {
        Json(json!([item("text", json!("Hi from Rasa {customer}"))])).into_response()
    } else if message.contains("agent please") {
        let items = [
            item("text", json!("Connecting you to billing.")),
            item("custom", json!({"handover": "billing"})),
        ];
        Json(json!(items)).into_response()
    } else {
        Json(json!([])).into_response()
    }
}

const MIB: usize = 1024 * 1024;

/// The failures a message asks for, in either format: HTTP 500, no answer at all, invalid
/// JSON, or `huge` (a valid answer over 1 MiB).
async fn fault(message: &str, huge: impl FnOnce() -> Value) -> Option<Response> {
    if message.contains("status 500") {
        Some(StatusCode::INTERNAL_SERVER_ERROR.into_response())
    } else if message.contains("stall") {
        // Never answers: the daemon's timeout ends the call.
        futures::future::pending::<Option<Response>>().await
    } else if message.contains("garbage") {
        Some(([(header::CONTENT_TYPE, "application/json")], "[{\"text\": ").into_response())
    } else if message.contains("huge") {
        Some(Json(huge()).into_response())
    } else {
        None
    }
}

/// A native-format bot: greets on accept, passes when asked to, closes on "close it", fails
/// on "boom".
async fn native(State(hook): State<Hook>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !hook.allowed(&headers, &body) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let text = body["trigger"]["text"].as_str().unwrap_or_default();
    let huge = || json!({"version": 1, "actions": [{"reply": "x".repeat(MIB + 1)}]});
    if let Some(fault) = fault(text, huge).await {
        return fault;
    }
    let answer = match body["trigger"]["type"].as_str() {
        Some("accepted") => json!({"version": 1, "actions": [{"reply": "Welcome, native."}]}),
        Some("message") if text.contains("boom") => {
            return StatusCode::BAD_GATEWAY.into_response();
        }
        Some("message") if text.contains("close it") => json!({
            "version": 1,
            "actions": [{"typing": "10ms"}, {"reply": "Bye from native."}, {"attach": {"Topic": "done"}}],
            "then": "close"
        }),
        _ => json!({"version": 1, "pass": true}),
    };
    Json(answer).into_response()
}

/// Serve `hook` at `/webhooks/rest/webhook` in `format` on a free port; the URL.
pub async fn serve_hook(hook: Hook, format: Format) -> String {
    let route = match format {
        Format::Rasa => axum::routing::post(rasa),
        Format::Native => axum::routing::post(native),
    };
    let app = axum::Router::new()
        .route("/webhooks/rest/webhook", route)
        .with_state(hook);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/webhooks/rest/webhook")
}

/// The chain `[[responder]] type = "webhook"` (named `nlu`) then `type = "rules"`.
pub fn chain(
    url: &str,
    format: Format,
    timeout: Duration,
    on_error: OnError,
) -> Vec<ResponderConfig> {
    let hook = WebhookConfig {
        url: url.into(),
        format,
        bearer_token_file: None,
        idle: Vec::new(),
    };
    vec![
        ResponderConfig {
            name: "nlu".into(),
            timeout,
            on_error,
            kind: ResponderKind::Webhook(hook),
        },
        ResponderConfig::rules(),
    ]
}

/// A chat with attached data `Segment = gold`.
fn chat_with_data(h: &Harness, name: &str, script: Vec<Step>) -> String {
    let mut user_data = serde_json::Map::new();
    user_data.insert("Segment".into(), json!("gold"));
    h.control.create_chat(ChatSpec {
        customer: name.into(),
        user_data,
        first_message: None,
        script,
    })
}

/// The value of the sample `name` (labels included, as exposed).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

const HOURS: &str = "We're open 8 to 18.";

/// Each customer message and what the bot answers, in order.
const RASA_SCRIPT: &[(&str, &str)] = &[
    ("hello bot", "Hi from Rasa {customer}"),
    ("opening hours?", HOURS),
    ("status 500, opening hours?", HOURS),
    ("stall: opening hours?", HOURS),
    ("garbage opening hours", HOURS),
    ("huge opening hours", HOURS),
    ("agent please", "Connecting you to billing."),
];

async fn a_rasa_webhook_answers_passes_and_hands_over(d: SimDialect) {
    let hook = Hook::default();
    let url = serve_hook(hook.clone(), Format::Rasa).await;
    // Long enough for a loaded machine; only the stalled call waits it out.
    let timeout = Duration::from_secs(3);
    let h = Harness::start_with(sim_config_in(d), RULES, |c| {
        c.responders = chain(&url, Format::Rasa, timeout, OnError::Pass);
    })
    .await;
    let stop = CancellationToken::new();
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), h.stats.clone())
        .await
        .unwrap();
    let addr: SocketAddr = server.local_addr().unwrap();
    tokio::spawn(server.run(stop.clone()));

    let mut script = vec![Step::AwaitReply];
    for (text, _) in RASA_SCRIPT {
        script.extend([say(0, text), Step::AwaitReply]);
    }
    let id = chat_with_data(&h, "Kim", script);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToAgent("agent-101".into()))
    );
    let texts = h.bot_texts(&id);
    let mut expected = vec!["Hi Kim, I'm Ava. How can I help?".to_owned()];
    expected.extend(RASA_SCRIPT.iter().map(|(_, answer)| answer.to_string()));
    assert_eq!(texts[..expected.len()], expected[..], "{texts:#?}");
    assert!(
        texts.contains(&EscalationTexts::default().consulting),
        "{texts:#?}"
    );

    // Rasa got each customer message (never the accept) with the chat's attached data.
    let sent = hook.requests();
    assert_eq!(sent.len(), RASA_SCRIPT.len());
    for (request, (text, _)) in sent.iter().zip(RASA_SCRIPT) {
        assert_eq!(request["sender"], json!(id));
        assert_eq!(request["message"], json!(text));
        assert_eq!(request["metadata"]["Segment"], "gold");
    }

    // Per-responder metrics: the accept and 7 messages; 2 passes (accept, empty answer),
    // 4 errors (500, timeout, invalid JSON, oversized body).
    let (_, metrics) = get(addr, "/metrics").await;
    let nlu = "{responder=\"nlu\",type=\"webhook\"}";
    for (family, value) in [
        ("gws_botd_responder_calls_total", 8.0),
        ("gws_botd_responder_passes_total", 2.0),
        ("gws_botd_responder_errors_total", 4.0),
        ("gws_botd_responder_duration_seconds_count", 8.0),
    ] {
        let name = format!("{family}{nlu}");
        assert_eq!(
            sample(&metrics, &name),
            Some(value),
            "{name} in:\n{metrics}"
        );
    }
    let rules = "{responder=\"rules\",type=\"rules\"}";
    let name = format!("gws_botd_responder_calls_total{rules}");
    assert_eq!(sample(&metrics, &name), Some(6.0), "{metrics}");
    assert_eq!(h.stats.snapshot().responder_failures, 0);
    stop.cancel();

    // The decision log names who acted and which failure was passed over.
    let dir = h.config.bot.state_dir.clone();
    let story = wait_dir(&dir, "the chat's end in the decision log", || {
        gws_botd::cli::explain::story(&dir, &id)
            .ok()
            .filter(|s| s.contains("chat ended"))
    })
    .await;
    for line in [
        "responder \"nlu\" answered message 1",
        "responder \"nlu\" failed (POST ",
        "HTTP 500 Internal Server Error); asking the next one",
        "no answer within 3s); asking the next one",
        "the answer is not JSON",
        "bytes); asking the next one",
        "rule \"hours\" matched message 2",
        "then: escalate to team billing",
    ] {
        assert!(story.contains(line), "{line:?} not in:\n{story}");
    }

    // Coverage counts per responder what the metrics counted: the passes from the chain's
    // order (the log records only who acted); the webhook's answers (no rule names) are not
    // `no_match`.
    let json = coverage_of(&h, &dir);
    assert_eq!(
        responders_of(&json),
        [("nlu", 2, 2, 4, 0), ("rules", 6, 0, 0, 0)],
        "{json:#}"
    );
    let days = json["no_match"].as_array().unwrap();
    let total = |field: &str| days.iter().filter_map(|d| d[field].as_u64()).sum::<u64>();
    assert_eq!(
        total("customer_messages"),
        RASA_SCRIPT.len() as u64,
        "{json:#}"
    );
    assert_eq!(total("no_match"), 0, "{json:#}");
}

/// `gws-botd coverage --json` on the harness's decision log, the chain from its configuration.
fn coverage_of(h: &Harness, dir: &std::path::Path) -> Value {
    use gws_botd::cli::coverage;
    let request = coverage::Request {
        rules: Some(h.config.bot.rules.clone()),
        shadow_rules: None,
        state_dir: Some(dir.to_owned()),
        since: Duration::from_secs(86_400),
        json: true,
        chain: Some(h.config.responders.iter().map(|r| r.name.clone()).collect()),
    };
    let target = gws_botd::config::Target::file(&dir.join("no-such-config.toml"));
    let report = coverage::report(&target, &request, jiff::Timestamp::now()).unwrap();
    let text = report.text();
    assert!(
        text.contains("Responders (passes counted from the chain: nlu, rules):"),
        "{text}"
    );
    let json: Value = serde_json::from_str(&report.json()).unwrap();
    assert_eq!(json["chain"], json!(["nlu", "rules"]));
    assert_eq!(json["outside_chain"], 0);
    json
}

/// Per responder of a coverage report: (name, answers, passes, failures passed on, failures
/// handed over).
fn responders_of(json: &Value) -> Vec<(&str, u64, u64, u64, u64)> {
    let n = |row: &Value, field: &str| row[field].as_u64().unwrap_or(u64::MAX);
    json["responders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["responder"].as_str().unwrap_or_default(),
                n(row, "answers"),
                n(row, "passes"),
                n(row, "failures_passed"),
                n(row, "failures_handed_over"),
            )
        })
        .collect()
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let reply = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (reply.status().as_u16(), reply.text().await.unwrap())
}

async fn a_native_webhook_round_trip(d: SimDialect) {
    let hook = Hook::default();
    let url = serve_hook(hook.clone(), Format::Native).await;
    let h = Harness::start_with(sim_config_in(d), RULES, |c| {
        c.responders = chain(&url, Format::Native, Duration::from_secs(3), OnError::Pass);
    })
    .await;
    let script = vec![
        Step::AwaitReply,
        say(0, "pass please: opening hours?"),
        Step::AwaitReply,
        say(0, "close it"),
    ];
    let id = chat_with_data(&h, "Lee", script);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    assert_eq!(
        h.bot_texts(&id),
        ["Welcome, native.", HOURS, "Bye from native."]
    );
    let sent = hook.requests();
    let kinds: Vec<&str> = sent
        .iter()
        .map(|r| r["trigger"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["accepted", "message", "message"]);
    let schema = schema();
    for request in &sent {
        let errors = validate(&schema, &schema["$defs"]["request"], request);
        assert!(errors.is_empty(), "{errors:#?}\nin {request:#}");
        assert_eq!(request["chat"]["id"], json!(id));
        assert_eq!(request["chat"]["user_data"]["Segment"], "gold");
        assert_eq!(request["chat"]["bot"], "Ava");
    }
    assert_eq!(sent[0]["chat"]["message_id"], Value::Null);
    let last = &sent[2]["chat"];
    assert!(last["message_id"].is_string(), "{last:#}");
    assert_eq!(last["turn"], 2);
    assert_eq!(
        last["recent"],
        json!([
            {"from": "bot", "text": "Welcome, native."},
            {"from": "customer", "text": "pass please: opening hours?"},
            {"from": "bot", "text": HOURS},
            {"from": "customer", "text": "close it"},
        ])
    );
    // The answers the fake sends follow the schema too.
    for answer in [
        json!({"version": 1, "pass": true}),
        json!({"version": 1, "actions": [{"typing": "10ms"}, {"reply": "x"}, {"attach": {"a": 1}}], "then": "close"}),
        json!({"version": 1, "then": {"escalate": "billing"}, "awaiting": "order"}),
    ] {
        let errors = validate(&schema, &schema["$defs"]["answer"], &answer);
        assert!(errors.is_empty(), "{errors:#?}\nin {answer:#}");
    }
    let wrong = json!({"version": 2, "actions": [{"shout": "x"}], "then": "later"});
    assert_eq!(
        validate(&schema, &schema["$defs"]["answer"], &wrong).len(),
        3
    );
}

async fn a_failing_webhook_with_on_error_hand_over_hands_the_chat_on(d: SimDialect) {
    let hook = Hook::default();
    let url = serve_hook(hook.clone(), Format::Native).await;
    let h = Harness::start_with(sim_config_in(d), RULES, |c| {
        c.responders = chain(
            &url,
            Format::Native,
            Duration::from_secs(3),
            OnError::HandOver,
        );
        c.bot.fallback_skill = Some("Support".into());
    })
    .await;
    let id = h.chat("Mo", vec![Step::AwaitReply, say(0, "boom, opening hours?")]);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToSkill("Support".into()))
    );
    assert_eq!(
        h.bot_texts(&id),
        [
            "Welcome, native.".to_owned(),
            EscalationTexts::default().error
        ]
    );
    assert_eq!(h.stats.snapshot().responder_failures, 1);
    let dir = h.config.bot.state_dir.clone();
    wait_dir(&dir, "the chat's end in the decision log", || {
        gws_botd::cli::explain::story(&dir, &id)
            .ok()
            .filter(|s| s.contains("chat ended"))
    })
    .await;
    let json = coverage_of(&h, &dir);
    assert_eq!(
        responders_of(&json),
        [("nlu", 1, 0, 0, 1), ("rules", 0, 0, 0, 0)],
        "{json:#}"
    );
}

/// A native webhook's failures pass to the rules, as the Rasa one's do.
async fn a_failing_native_webhook_passes_to_the_rules(d: SimDialect) {
    let hook = Hook::default();
    let url = serve_hook(hook.clone(), Format::Native).await;
    let h = Harness::start_with(sim_config_in(d), RULES, |c| {
        c.responders = chain(&url, Format::Native, Duration::from_secs(3), OnError::Pass);
    })
    .await;
    let failures = ["status 500", "stall", "garbage", "huge"];
    let mut script = vec![Step::AwaitReply];
    for failure in failures {
        script.extend([
            say(0, &format!("{failure}: opening hours?")),
            Step::AwaitReply,
        ]);
    }
    script.push(say(0, "close it"));
    let id = h.chat("Ny", script);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    let mut expected = vec!["Welcome, native."];
    expected.extend([HOURS; 4]);
    expected.push("Bye from native.");
    assert_eq!(h.bot_texts(&id), expected);
    let errors = "gws_botd_responder_errors_total{responder=\"nlu\",type=\"webhook\"}";
    let metrics = gws_botd::telemetry::metrics::encode(h.stats.registry());
    assert_eq!(sample(&metrics, errors), Some(4.0), "{metrics}");
}

per_dialect!(
    a_rasa_webhook_answers_passes_and_hands_over,
    a_failing_native_webhook_passes_to_the_rules,
    a_native_webhook_round_trip,
    a_failing_webhook_with_on_error_hand_over_hands_the_chat_on,
);

/// `docs/webhook-native.schema.json`.
fn schema() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/webhook-native.schema.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Check `value` against `schema`, a JSON Schema using only the keywords the file uses
/// (`$ref` into `$defs`, `type`, `const`, `enum`, `oneOf`, `properties`, `required`,
/// `additionalProperties: false`, `items`, `maxItems`, `minimum`, `minLength`); the errors.
/// A keyword this checker does not know fails, so the file cannot outgrow it unnoticed.
fn validate(root: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(root, schema, value, "$", &mut errors);
    errors
}

fn check(root: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(keywords) = schema.as_object() else {
        return errors.push(format!("{at}: the schema is not an object"));
    };
    for (keyword, expected) in keywords {
        match keyword.as_str() {
            "$schema" | "title" | "description" | "$defs" => {}
            "$ref" => {
                let name = expected.as_str().unwrap().trim_start_matches("#/$defs/");
                check(root, &root["$defs"][name], value, at, errors);
            }
            "type" => {
                let types: Vec<&str> = match expected {
                    Value::String(t) => vec![t.as_str()],
                    other => other
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(Value::as_str)
                        .collect(),
                };
                if !types.iter().any(|t| has_type(value, t)) {
                    errors.push(format!("{at}: not of type {types:?}"));
                }
            }
            "const" if value != expected => errors.push(format!("{at}: not {expected}")),
            "enum" if !expected.as_array().unwrap().contains(value) => {
                errors.push(format!("{at}: not one of {expected}"));
            }
            "const" | "enum" => {}
            "oneOf" => {
                let fits = expected.as_array().unwrap().iter();
                let fits = fits.filter(|s| validate(root, s, value).is_empty()).count();
                if fits != 1 {
                    errors.push(format!("{at}: fits {fits} of oneOf"));
                }
            }
            "properties" | "required" | "additionalProperties" => {
                object_keyword(root, keywords, keyword, value, at, errors);
            }
            "items" => {
                for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                    check(root, expected, item, &format!("{at}[{i}]"), errors);
                }
            }
            "maxItems"
                if value
                    .as_array()
                    .is_some_and(|a| a.len() as u64 > expected.as_u64().unwrap()) =>
            {
                errors.push(format!("{at}: more than {expected} items"));
            }
            "minimum"
                if value
                    .as_f64()
                    .is_some_and(|n| n < expected.as_f64().unwrap()) =>
            {
                errors.push(format!("{at}: below {expected}"));
            }
            "minLength"
                if value
                    .as_str()
                    .is_some_and(|s| (s.chars().count() as u64) < expected.as_u64().unwrap()) =>
            {
                errors.push(format!("{at}: shorter than {expected}"));
            }
            "maxItems" | "minimum" | "minLength" => {}
            other => errors.push(format!(
                "{at}: keyword {other} not supported by this checker"
            )),
        }
    }
}

/// `properties`, `required` or `additionalProperties: false` (which reads the sibling
/// `properties`) of `schema` on `value`.
fn object_keyword(
    root: &Value,
    schema: &serde_json::Map<String, Value>,
    keyword: &str,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    let Some(object) = value.as_object() else {
        return;
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    match keyword {
        "properties" => {
            for (key, schema) in properties.into_iter().flatten() {
                if let Some(v) = object.get(key) {
                    check(root, schema, v, &format!("{at}.{key}"), errors);
                }
            }
        }
        "required" => {
            let required = schema["required"].as_array().unwrap();
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    errors.push(format!("{at}: {key} missing"));
                }
            }
        }
        _ => {
            assert_eq!(schema["additionalProperties"], Value::Bool(false));
            for key in object.keys() {
                if !properties.is_some_and(|p| p.contains_key(key)) {
                    errors.push(format!("{at}: unexpected {key}"));
                }
            }
        }
    }
}

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}
