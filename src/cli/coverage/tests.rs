//! Counting from rotated logs, the window, the text and the JSON field names.

use std::fs;

use super::*;
use serde_json::{Value, json};

use crate::store::decision_log::FILE_NAME;

const LIVE: &str = r#"
[[rule]]
name = "greeting"
on = "accept"
reply = "Hi"

[[rule]]
name = "refund"
on = "message"
match.keywords = ["refund"]
reply = "Billing it is."

[[rule]]
name = "hours"
on = "message"
match.keywords = ["open"]
reply = "08:00-18:00"

[[rule]]
name = "rephrase"
on = "no_match"
reply = "Sorry?"
"#;

const SHADOW: &str = r#"
[[rule]]
name = "greeting-v2"
on = "accept"
reply = "Hello"

[[rule]]
name = "anything"
on = "message"
match.regex = '.*'
reply = "Hm"

[[rule]]
name = "refund-v2"
on = "message"
match.keywords = ["refund"]
reply = "Billing."
"#;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gws-botd-cov-{}", rand::random::<u64>()));
    for sub in ["live", "shadow", "state"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    fs::write(dir.join("live/10.toml"), LIVE).unwrap();
    fs::write(dir.join("shadow/10.toml"), SHADOW).unwrap();
    dir
}

/// One log line. Records are written as JSON, as the daemon writes them, so that fields
/// added to the records later (with their defaults) do not touch these tests.
fn line(ts: &str, chat: &str, decision: Value) -> String {
    let mut record = json!({ "ts": ts, "chat_id": chat });
    if let (Some(record), Value::Object(fields)) = (record.as_object_mut(), decision) {
        record.extend(fields);
    }
    record.to_string() + "\n"
}

fn said(turn: u32) -> Value {
    json!({ "event": "customer_said", "turn": turn, "chars": 5 })
}

fn responded(trigger: &str, rules: &[&str], matched: bool) -> Value {
    json!({
        "event": "responded", "trigger": trigger, "rules": rules, "matched": matched,
        "replies": [], "reply_chars": [3], "then": "stay"
    })
}

fn shadow(rules: &[&str], agrees: bool) -> Value {
    json!({
        "event": "shadow", "trigger": "message", "rules": rules, "matched": true,
        "then": "stay", "agrees": agrees
    })
}

/// Two days of chats over a rotated file and the active one, a line from before the window,
/// a torn line, and a rule the current rules no longer have.
fn write_log(state: &Path) {
    let old = [
        line(
            "2026-11-20T09:00:00.000Z",
            "c-0",
            responded("accepted", &["greeting"], false),
        ),
        line(
            "2026-12-01T09:00:00.000Z",
            "c-1",
            responded("accepted", &["greeting"], false),
        ),
        line(
            "2026-12-01T09:00:00.001Z",
            "c-1",
            shadow(&["greeting-v2"], true),
        ),
        line("2026-12-01T09:01:00.000Z", "c-1", said(1)),
        line(
            "2026-12-01T09:01:00.010Z",
            "c-1",
            responded("message", &["refund"], true),
        ),
        line(
            "2026-12-01T09:01:00.011Z",
            "c-1",
            shadow(&["anything"], false),
        ),
        line("2026-12-01T09:02:00.000Z", "c-1", said(2)),
        line(
            "2026-12-01T09:02:00.010Z",
            "c-1",
            responded("message", &["rephrase"], false),
        ),
        line(
            "2026-12-01T09:02:00.011Z",
            "c-1",
            shadow(&["anything"], false),
        ),
    ]
    .concat();
    fs::write(state.join(format!("{FILE_NAME}.1")), old).unwrap();
    let new = [
        line("2026-12-02T10:00:00.000Z", "c-2", said(1)),
        line(
            "2026-12-02T10:00:00.010Z",
            "c-2",
            json!({ "event": "no_answer", "trigger": "message" }),
        ),
        line(
            "2026-12-02T10:00:00.011Z",
            "c-2",
            shadow(&["anything"], false),
        ),
        line("2026-12-02T10:01:00.000Z", "c-2", said(2)),
        line(
            "2026-12-02T10:01:00.010Z",
            "c-2",
            responded("message", &["old-faq"], true),
        ),
        "{\"ts\":\"2026-12-02T10:02\",\"chat_id\":\"c-2\",\"ev".to_owned(),
    ]
    .concat();
    fs::write(state.join(FILE_NAME), new).unwrap();
}

fn request(dir: &Path, shadow: bool) -> Request {
    Request {
        rules: Some(dir.join("live")),
        shadow_rules: shadow.then(|| dir.join("shadow")),
        state_dir: Some(dir.join("state")),
        since: Duration::from_secs(7 * 86_400),
        json: false,
        chain: None,
    }
}

fn now() -> Timestamp {
    "2026-12-03T10:00:00Z".parse().unwrap()
}

fn target() -> Target {
    Target::file(Path::new("/nonexistent/gws-botd.toml"))
}

#[test]
fn the_report_counts_live_and_shadow_rules_across_rotated_files() {
    let dir = scratch();
    write_log(&dir.join("state"));
    let report = report(&target(), &request(&dir, true), now()).unwrap();
    let text = report.text();
    let d = dir.display();
    let expected = format!(
        "\
Rule coverage from 2026-11-26 10:00 to 2026-12-03 10:00 UTC
Decision log in {d}/state: 2 file(s), 13 record(s) in the window; 1 unreadable line(s) skipped

Live rules ({d}/live): 3 of 4 fired
  RULE      TRIGGER                 HITS
  greeting  accept                     1
  refund    message                    1
  hours     message                    0
  rephrase  no_match                   1
  old-faq   (not in the rules now)     1

Live rules that never fired in this window:
  hours  message

Shadow rules ({d}/shadow): 2 of 3 fired
  RULE         TRIGGER  HITS
  greeting-v2  accept      1
  anything     message     3
  refund-v2    message     0

Shadow rules that can never fire:
  refund-v2  message  the earlier message rule \"anything\" matches every message and always acts first

Shadow decisions that disagree with the live one: 3 of 4
  SHADOW RULES  LIVE RULES  TIMES
  anything      (none)          1
  anything      refund          1
  anything      rephrase        1

Customer messages no message rule matched, per day (UTC):
  DAY         MESSAGES  NO MATCH  SHARE
  2026-12-01         2         1  50.0%
  2026-12-02         2         1  50.0%
"
    );
    assert_eq!(text, expected);
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_json_has_stable_field_names() {
    let dir = scratch();
    write_log(&dir.join("state"));
    let report = report(&target(), &request(&dir, false), now()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
    assert_eq!(json["version"], JSON_VERSION);
    assert_eq!(json["from"], "2026-11-26T10:00:00Z");
    assert_eq!(json["log"]["records"], 13);
    assert_eq!(json["log"]["unreadable"], 1);
    assert_eq!(json["live"]["hits"][1]["rule"], "refund");
    assert_eq!(json["live"]["hits"][1]["trigger"], "message");
    assert_eq!(json["live"]["hits"][4]["in_rules"], false);
    assert_eq!(json["live"]["never_fired"][0]["rule"], "hours");
    assert_eq!(json["live"]["can_never_fire"], serde_json::json!([]));
    // Shadow records without a shadow rules directory: the hits the log shows.
    assert_eq!(json["shadow"]["rules_dir"], serde_json::Value::Null);
    assert_eq!(json["shadow"]["hits"][0]["rule"], "anything");
    assert_eq!(json["shadow"]["decisions"], 4);
    assert_eq!(json["shadow"]["disagreements"], 3);
    assert_eq!(
        json["shadow"]["disagreeing"][0]["shadow_rules"][0],
        "anything"
    );
    assert_eq!(json["no_match"][1]["day"], "2026-12-02");
    assert_eq!(json["no_match"][1]["share"], 0.5);
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn missing_rules_and_logs_are_reported_with_their_exit_codes() {
    let dir = scratch();
    let mut r = request(&dir, false);
    r.state_dir = Some(dir.join("no-such-state"));
    let (code, why) = report(&target(), &r, now()).unwrap_err();
    assert_eq!(code, EXIT_FAILURE);
    assert!(why.contains("cannot read the decision log"), "{why}");
    r.state_dir = Some(dir.join("live"));
    let (code, why) = report(&target(), &r, now()).unwrap_err();
    assert_eq!(code, EXIT_FAILURE);
    assert!(why.contains("no decision log in"), "{why}");
    r.rules = None;
    assert_eq!(report(&target(), &r, now()).unwrap_err().0, EXIT_USAGE);
    fs::write(dir.join("shadow/10.toml"), "[[rule]]\nname = 1\n").unwrap();
    let (code, why) = report(&target(), &request(&dir, true), now()).unwrap_err();
    assert_eq!(code, EXIT_CONFIG);
    assert!(why.contains("the shadow rules in"), "{why}");
    fs::remove_dir_all(&dir).ok();
}

fn by(responder: &str, trigger: &str, rules: &[&str], matched: bool) -> Value {
    let mut record = responded(trigger, rules, matched);
    record["responder"] = json!(responder);
    record
}

fn failed(responder: &str, passed: bool) -> Value {
    json!({ "event": "responder_failed", "responder": responder, "error": "HTTP 500", "passed": passed })
}

/// A chain of a webhook (`nlu`) then the rule files: the webhook answers, fails and passes
/// on, fails and hands over; an old record without a responder; a responder since removed.
fn write_chain_log(state: &Path) {
    let records = [
        ("c-1", by("rules", "accepted", &["greeting"], false)),
        ("c-1", said(1)),
        ("c-1", by("nlu", "message", &[], true)),
        ("c-1", said(2)),
        ("c-1", failed("nlu", true)),
        ("c-1", by("rules", "message", &["hours"], true)),
        ("c-1", said(3)),
        (
            "c-1",
            json!({ "event": "no_answer", "trigger": "message", "responder": "rules" }),
        ),
        ("c-1", said(4)),
        ("c-1", by("rules", "message", &["rephrase"], false)),
        ("c-1", said(5)),
        ("c-1", failed("nlu", false)),
        ("c-2", said(1)),
        ("c-2", responded("message", &["refund"], true)),
        ("c-3", said(1)),
        ("c-3", by("faq-bot", "message", &[], true)),
    ];
    let log: String = records
        .into_iter()
        .enumerate()
        .map(|(i, (chat, record))| line(&format!("2026-12-02T10:00:{i:02}.000Z"), chat, record))
        .collect();
    fs::write(state.join(FILE_NAME), log).unwrap();
}

fn chain_config(dir: &Path) -> Target {
    let path = dir.join("gws-botd.toml");
    let config = "[[responder]]\ntype = \"webhook\"\nname = \"nlu\"\nformat = \"rasa\"\n\
                  url = \"http://127.0.0.1:5005/webhooks/rest/webhook\"\n\n\
                  [[responder]]\ntype = \"rules\"\n";
    fs::write(&path, config).unwrap();
    Target::file(&path)
}

#[test]
fn answers_passes_and_failures_are_counted_per_responder() {
    let dir = scratch();
    write_chain_log(&dir.join("state"));
    let report = report(&chain_config(&dir), &request(&dir, false), now()).unwrap();
    let text = report.text();
    let table = "\
Responders (passes counted from the chain: nlu, rules):
  RESPONDER                   ANSWERED  PASSED  FAILED, PASSED ON  FAILED, HANDED OVER
  nlu                                1       4                  1                    1
  rules                              4       1                  0                    0
  faq-bot (not in the chain)         1       0                  0                    0
  1 decision(s) by a responder not in the chain: the passes before them are not counted
";
    assert!(text.contains(table), "{text}");
    // The webhook's answer (no rule, matched) is not a no_match; the no_answer and the
    // no_match rule are.
    assert!(
        text.contains("  2026-12-02         7         2  28.6%\n"),
        "{text}"
    );
    let json: Value = serde_json::from_str(&report.json()).unwrap();
    assert_eq!(json["chain"], json!(["nlu", "rules"]));
    assert_eq!(json["outside_chain"], 1);
    assert_eq!(
        json["responders"][0],
        json!({
            "responder": "nlu", "in_chain": true, "answers": 1, "passes": 4, "failures": 2,
            "failures_passed": 1, "failures_handed_over": 1
        })
    );
    assert_eq!(json["responders"][1]["responder"], "rules");
    assert_eq!(json["responders"][1]["answers"], 4);
    assert_eq!(json["responders"][2]["in_chain"], false);
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_rule_files_alone_show_no_responder_table_but_count_in_json() {
    let dir = scratch();
    write_log(&dir.join("state"));
    let report = report(&target(), &request(&dir, false), now()).unwrap();
    assert!(!report.text().contains("Responders"), "{}", report.text());
    let json: Value = serde_json::from_str(&report.json()).unwrap();
    // Old records without the field are the rules responder's: 4 answers, the no_answer a pass.
    assert_eq!(json["chain"], json!(["rules"]));
    assert_eq!(json["responders"][0]["responder"], "rules");
    assert_eq!(json["responders"][0]["answers"], 4);
    assert_eq!(json["responders"][0]["passes"], 1);
    assert_eq!(json["responders"].as_array().map(Vec::len), Some(1));
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_second_responder_in_the_log_shows_the_table_even_with_the_default_chain() {
    let mut tally = Tally::with_chain(vec!["rules".into()]);
    let ts: Timestamp = "2026-12-02T10:00:00Z".parse().unwrap();
    let record = |chat: &str, decision: Value| -> crate::store::decision_log::Record {
        serde_json::from_str(&line("2026-12-02T10:00:00.000Z", chat, decision)).unwrap()
    };
    tally.add(ts, record("c-1", by("nlu", "message", &[], true)));
    tally.add(ts, record("c-1", failed("nlu", true)));
    tally.add(ts, record("c-1", by("rules", "message", &["hours"], true)));
    let rows = responders::rows(&tally);
    assert!(responders::worth_showing(&rows));
    assert_eq!(tally.outside_chain, 1);
    assert_eq!(tally.responders["nlu"].answers, 1);
    assert_eq!(tally.responders["nlu"].failures_passed, 1);
    assert_eq!(tally.responders["rules"].answers, 1);
    // Only the rules in the chain and in the log: no table.
    let mut alone = Tally::with_chain(vec!["rules".into()]);
    alone.add(ts, record("c-1", by("rules", "message", &["hours"], true)));
    assert!(!responders::worth_showing(&responders::rows(&alone)));
}
