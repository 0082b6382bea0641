//! `gws-botd coverage` on the decision log of a real run, and `gws-botd schedule`, as a
//! supervisor runs them (the real binary), with their refusals.

use std::path::Path;
use std::process::Output;

use gws_botd::sim::{SimDialect, Step};
use serde_json::Value;

use crate::support::{Harness, bin_without_config, rules_dir, say, wait_dir};

fn run(args: &[&str], dirs: &[(&str, &Path)]) -> Output {
    let mut cmd = bin_without_config();
    cmd.args(args);
    for (flag, dir) in dirs {
        cmd.arg(flag).arg(dir);
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Shadow rules whose catch-all hides the rule after it.
const SHADOW: &str = r#"
[[rule]]
name = "anything"
on = "message"
match.regex = '.*'
reply = "Hm."

[[rule]]
name = "refund-v2"
on = "message"
match.keywords = ["refund"]
reply = "Billing."
"#;

async fn coverage_counts_the_decisions_of_a_real_run(d: SimDialect) {
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
    let state = h.config.bot.state_dir.clone();
    wait_dir(&state, "the chat's end in the decision log", || {
        gws_botd::cli::explain::story(&state, &id)
            .ok()
            .filter(|s| s.contains("chat ended"))
    })
    .await;
    let shadow = rules_dir(SHADOW);
    let dirs = [
        ("--rules", h.config.bot.rules.as_path()),
        ("--state-dir", state.as_path()),
        ("--shadow-rules", shadow.as_path()),
    ];
    let json: Value = serde_json::from_str(&stdout(&run(&["coverage", "--json"], &dirs))).unwrap();
    let hits = |set: &str, rule: &str| {
        json[set]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["rule"] == rule)
            .map(|h| h["hits"].as_u64().unwrap())
    };
    assert_eq!(hits("live", "greeting"), Some(1), "{json:#}");
    assert_eq!(hits("live", "rephrase"), Some(1), "{json:#}");
    assert_eq!(hits("live", "refund"), Some(1), "{json:#}");
    assert_eq!(hits("live", "bye"), Some(0), "{json:#}");
    let never: Vec<&str> = json["live"]["never_fired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert!(
        never.contains(&"bye") && !never.contains(&"refund"),
        "{never:?}"
    );
    assert_eq!(json["live"]["can_never_fire"], serde_json::json!([]));
    assert_eq!(json["shadow"]["can_never_fire"][0]["rule"], "refund-v2");
    let days = json["no_match"].as_array().unwrap();
    let sum = |field: &str| days.iter().map(|d| d[field].as_u64().unwrap()).sum::<u64>();
    assert_eq!(
        (sum("customer_messages"), sum("no_match")),
        (2, 1),
        "{json:#}"
    );
    assert_eq!(json["log"]["unreadable"], 0);
    // Without a configuration the chain is the rule files alone: they answered the accept and
    // both messages (one with the no_match rule), and passed nothing.
    assert_eq!(json["chain"], serde_json::json!(["rules"]), "{json:#}");
    let rules = &json["responders"][0];
    assert_eq!(rules["responder"], "rules", "{json:#}");
    assert_eq!(
        (rules["answers"].as_u64(), rules["passes"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(json["responders"].as_array().map(Vec::len), Some(1));

    let text = stdout(&run(&["coverage", "--since", "1d"], &dirs));
    assert!(
        !text.contains("Responders"),
        "the rules alone: no table: {text}"
    );
    assert!(
        text.contains("\nLive rules that never fired in this window:\n"),
        "{text}"
    );
    assert!(
        text.contains("  refund-v2  message  the earlier message rule \"anything\""),
        "{text}"
    );
    assert!(!text.contains("4111"), "no customer text: {text}");
    std::fs::remove_dir_all(&shadow).ok();
}

per_dialect!(coverage_counts_the_decisions_of_a_real_run);

#[test]
fn coverage_reports_bad_input_with_its_exit_code() {
    let rules = rules_dir(crate::support::RULES);
    let state = rules_dir("");
    std::fs::write(
        state.join(gws_botd::store::decision_log::FILE_NAME),
        "not a record\n{\"ts\":\"yesterday\",\"chat_id\":\"c\",\"event\":\"accepted\"}\n\u{1}\n",
    )
    .unwrap();
    let dirs = [
        ("--rules", rules.as_path()),
        ("--state-dir", state.as_path()),
    ];
    let json: Value = serde_json::from_str(&stdout(&run(&["coverage", "--json"], &dirs))).unwrap();
    assert_eq!(json["log"]["unreadable"], 3, "{json:#}");
    assert_eq!(json["log"]["records"], 0, "{json:#}");

    let out = run(&["coverage", "--since", "a week"], &dirs);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let missing = state.join("missing");
    let out = run(
        &["coverage"],
        &[("--rules", rules.as_path()), ("--state-dir", &missing)],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the decision log"));
    let out = run(
        &["coverage"],
        &[("--rules", &missing), ("--state-dir", &state)],
    );
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let out = run(&["coverage"], &[("--state-dir", state.as_path())]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --rules DIR"));
    std::fs::remove_dir_all(&rules).ok();
    std::fs::remove_dir_all(&state).ok();
}

/// The chain comes from the configuration's `[[responder]]` entries: the passes before the
/// rules' answers are the webhook's.
#[test]
fn coverage_counts_per_responder_of_the_configured_chain() {
    let rules = rules_dir(crate::support::RULES);
    let state = rules_dir("");
    let config = state.join("gws-botd.toml");
    std::fs::write(
        &config,
        "[[responder]]\ntype = \"webhook\"\nname = \"nlu\"\nformat = \"rasa\"\n\
         url = \"http://127.0.0.1:5005/webhooks/rest/webhook\"\n[[responder]]\ntype = \"rules\"\n",
    )
    .unwrap();
    let ts = jiff::Timestamp::now().to_string();
    let lines = [
        r#""event":"responded","trigger":"accepted","responder":"rules","rules":["greeting"],"matched":false,"replies":[],"then":"stay""#,
        r#""event":"responder_failed","responder":"nlu","error":"HTTP 500","passed":true"#,
        r#""event":"responded","trigger":"message","responder":"rules","rules":["refund"],"matched":true,"replies":[],"then":"stay""#,
        r#""event":"responded","trigger":"message","responder":"nlu","rules":[],"matched":true,"replies":[],"then":"stay""#,
    ];
    let log: String = lines
        .iter()
        .map(|fields| format!("{{\"ts\":\"{ts}\",\"chat_id\":\"c-1\",{fields}}}\n"))
        .collect();
    std::fs::write(state.join(gws_botd::store::decision_log::FILE_NAME), log).unwrap();
    let mut cmd = bin_without_config();
    cmd.env("GWS_BOTD_CONFIG", &config).arg("coverage");
    cmd.arg("--rules")
        .arg(&rules)
        .arg("--state-dir")
        .arg(&state);
    let text = stdout(&cmd.output().unwrap());
    let table = "\
Responders (passes counted from the chain: nlu, rules):
  RESPONDER  ANSWERED  PASSED  FAILED, PASSED ON  FAILED, HANDED OVER
  nlu               1       1                  1                    0
  rules             2       0                  0                    0
";
    assert!(text.contains(table), "{text}");
    std::fs::remove_dir_all(&rules).ok();
    std::fs::remove_dir_all(&state).ok();
}

const HOURS: &str = r#"
[schedule.support]
timezone = "Europe/Berlin"
open = ["mon-fri 08:00-18:00", "fri 22:00-02:00"]
closed = ["2026-12-24 14:00-24:00", "2026-12-25"]

[schedule.us]
timezone = "America/New_York"
open = ["mon-fri 09:00-17:00"]

[[rule]]
name = "after-hours"
on = "accept"
when.schedule = { closed = "support" }
reply = "We are closed."
"#;

#[test]
fn schedule_shows_dst_holidays_and_the_override() {
    let rules = rules_dir(HOURS);
    let state = rules_dir("");
    let dirs = [
        ("--rules", rules.as_path()),
        ("--state-dir", state.as_path()),
    ];
    let args = [
        "schedule",
        "--from",
        "2026-03-23",
        "--weeks",
        "1",
        "--schedule",
        "support",
    ];
    let text = stdout(&run(&args, &dirs));
    assert!(text.starts_with("Schedule \"support\" (Europe/Berlin), 2026-03-23 to 2026-03-29\n"));
    assert!(
        text.contains("  Sun 2026-03-29  closed\n                  clocks go forward 02:00 → 03:00 (+01:00 → +02:00)\n"),
        "{text}"
    );
    let args = ["schedule", "--from", "2026-10-26", "--weeks", "2"];
    let text = stdout(&run(&args, &dirs));
    assert!(
        text.contains("  Sun 2026-11-01  closed\n                  clocks go back 02:00 → 01:00 (-04:00 → -05:00)\n"),
        "{text}"
    );
    assert!(
        text.contains("  Mon 2026-11-02  09:00–17:00 -05:00\n"),
        "{text}"
    );
    assert!(
        text.contains("  Fri 2026-10-30  09:00–17:00 -04:00\n"),
        "{text}"
    );
    let args = [
        "schedule",
        "--from",
        "2026-12-21",
        "--weeks",
        "1",
        "--schedule",
        "support",
    ];
    let text = stdout(&run(&args, &dirs));
    assert!(
        text.contains(
            "  Fri 2026-12-25  closed all day (holiday or closed date: \"2026-12-25\")\n"
        ),
        "{text}"
    );

    // `override` checks --schedule against the daemon's rules, found through the configuration.
    let set = bin_without_config()
        .env("GWS_BOTD__BOT__RULES", &rules)
        .args([
            "override",
            "closed",
            "--until",
            "3h",
            "--schedule",
            "support",
        ])
        .arg("--state-dir")
        .arg(&state)
        .output()
        .unwrap();
    assert!(set.status.success(), "{set:?}");
    let text = stdout(&run(&["schedule", "--weeks", "1"], &dirs));
    let (support, us) = text.split_once("\n\n").unwrap();
    assert!(
        support.contains("  emergency override in force: closed until "),
        "{support}"
    );
    assert!(support.contains("emergency override: closed "), "{support}");
    assert!(!us.contains("override"), "{us}");
    std::fs::remove_dir_all(&rules).ok();
    std::fs::remove_dir_all(&state).ok();
}

#[test]
fn schedule_refuses_unknown_schedules_and_bad_dates() {
    let rules = rules_dir(HOURS);
    let dirs = [("--rules", rules.as_path())];
    for (args, says) in [
        (
            &["schedule", "--schedule", "suport"][..],
            "did you mean \"support\"",
        ),
        (&["schedule", "--from", "2026-13-01"][..], "is not a date"),
        (&["schedule", "--weeks", "0"][..], "--weeks"),
    ] {
        let out = run(args, &dirs);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let out = run(&["schedule"], &[]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    std::fs::remove_dir_all(&rules).ok();
}
