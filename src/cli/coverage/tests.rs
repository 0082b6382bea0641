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
