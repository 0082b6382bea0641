//! The supervisor commands as a supervisor runs them: `check`, `simulate` and `override` on
//! the shipped rules and on broken copies of them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::bin_without_config;

fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gws-botd-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A copy of the shipped rules in a fresh directory.
fn copy_of_shipped(name: &str) -> PathBuf {
    let dir = scratch(name);
    for entry in std::fs::read_dir(shipped()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    dir
}

fn run(cmd: &mut Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_passes_the_shipped_rules_and_reports_tests() {
    let out = run(
        bin_without_config()
            .args(["check", "--rules"])
            .arg(shipped()),
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("13 tests passed"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_fails_on_broken_copies_with_located_problems() {
    let dir = copy_of_shipped("broken");
    let hours = dir.join("05-hours.toml");
    let original = std::fs::read_to_string(&hours).unwrap();
    std::fs::write(
        &hours,
        original.replace("Europe/Berlin\"", "Europe/Berln\""),
    )
    .unwrap();
    let faq = dir.join("20-faq.toml");
    let original = std::fs::read_to_string(&faq).unwrap();
    std::fs::write(
        &faq,
        original.replace(
            "expect = [\"greeting\", \"opening-hours\", \"delivery\", \"password-reset\"]",
            "expect = [\"greeting\", \"delivery\", \"opening-hours\", \"password-reset\"]",
        ),
    )
    .unwrap();
    let out = run(
        bin_without_config().args(["check", "--rules"]).arg(&dir),
        "",
    );
    assert_eq!(out.status.code(), Some(78));
    let err = text(&out.stderr);
    assert!(
        err.contains("05-hours.toml:23:12: unknown time zone \"Europe/Berln\""),
        "{err}"
    );
    assert!(err.contains("did you mean `Europe/Berlin`?"), "{err}");
    // With a file broken, tests do not run: fix it and the failing test shows.
    std::fs::write(
        &hours,
        std::fs::read_to_string(shipped().join("05-hours.toml")).unwrap(),
    )
    .unwrap();
    let out = run(
        bin_without_config().args(["check", "--rules"]).arg(&dir),
        "",
    );
    assert_eq!(out.status.code(), Some(78));
    let err = text(&out.stderr);
    assert!(
        err.contains("test \"three questions in a row\" failed"),
        "{err}"
    );
    assert!(
        err.contains("expected: greeting, delivery, opening-hours, password-reset"),
        "{err}"
    );
    assert!(
        err.contains("actual:   greeting, opening-hours, delivery, password-reset"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulate_runs_a_transcript_from_stdin() {
    let out = run(
        bin_without_config()
            .args(["simulate", "--rules"])
            .arg(shipped())
            .args([
                "--at",
                "2026-11-24T10:00[Europe/Berlin]",
                "--customer",
                "Kim",
                "--explain",
            ]),
        "# a comment\nopening hours?\nI want a refund\n/escalation_failed\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = text(&out.stdout);
    for expected in [
        "schedule support: open (\"mon-fri 08:00-18:00\")",
        "bot [greeting]: Hi Kim, I'm Bot, the virtual assistant. How can I help?",
        "? accept rule \"after-hours\": no, `when.schedule` wants \"support\" closed",
        "customer: opening hours?",
        "bot [opening-hours]: We're open Monday to Friday",
        "→ escalate to team \"billing\": consult agent-101 (waits 20s), then agent-102 (waits 20s); the first who joins gets the chat; if nobody joins, transfer to skill \"Billing\"",
        "bot [nobody-free]: I'm sorry, all my colleagues are busy.",
        "[chat over: the bot closed it]",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn simulate_tells_a_conference_team_apart() {
    let out = run(
        bin_without_config()
            .args(["simulate", "--rules"])
            .arg(shipped())
            .args(["--at", "2026-11-24T10:00[Europe/Berlin]"]),
        "where is my order?\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = text(&out.stdout);
    let expected = "→ escalate to team \"orders\": consult agent-301 (waits 20s); the first who joins comes into the conversation next to the bot (conference); the bot stays silent while they are there, and answers again once they have left; if nobody joins, transfer to skill \"Support\"";
    assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
}

#[test]
fn simulate_after_hours_and_with_an_override() {
    let out = run(
        bin_without_config()
            .args(["simulate", "--rules"])
            .arg(shipped())
            .args(["--at", "2026-12-24T15:00:00+01:00"]),
        "hello\n",
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .contains("bot [after-hours]: Hello! We're closed right now and back Monday at 08:00."),
        "{stdout}"
    );

    let state = scratch("override");
    let message = state.join("message.txt");
    std::fs::write(
        &message,
        "We are closed today because of a power cut, {customer}.\n",
    )
    .unwrap();
    let set = run(
        bin_without_config()
            .args([
                "override",
                "closed",
                "--until",
                "2099-01-01T00:00:00Z",
                "--message",
            ])
            .arg(&message)
            .arg("--state-dir")
            .arg(&state),
        "",
    );
    assert_eq!(set.status.code(), Some(0), "{}", text(&set.stderr));
    let show = run(
        bin_without_config()
            .args(["override", "show", "--state-dir"])
            .arg(&state),
        "",
    );
    assert!(
        text(&show.stdout)
            .contains("all schedules closed until 2099-01-01T00:00:00Z, with a message (in force")
    );
    let out = run(
        bin_without_config()
            .args(["simulate", "--rules"])
            .arg(shipped())
            .args(["--at", "2026-11-24T10:00:00+01:00", "--customer", "Ann"])
            .arg("--state-dir")
            .arg(&state),
        "",
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("emergency override: all schedules closed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("bot [after-hours]: We are closed today because of a power cut, Ann."),
        "{stdout}"
    );
    let clear = run(
        bin_without_config()
            .args(["override", "clear", "--state-dir"])
            .arg(&state),
        "",
    );
    assert!(text(&clear.stdout).contains("override cleared"));
    let show = run(
        bin_without_config()
            .args(["override", "show", "--state-dir"])
            .arg(&state),
        "",
    );
    assert!(text(&show.stdout).contains("no override"));
    let bad = run(
        bin_without_config()
            .args([
                "override",
                "closed",
                "--until",
                "yesterday-ish",
                "--state-dir",
            ])
            .arg(&state),
        "",
    );
    assert_eq!(bad.status.code(), Some(64));
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn simulate_refuses_broken_rules_and_bad_times() {
    let dir = scratch("sim-broken");
    std::fs::write(
        dir.join("r.toml"),
        "[[rule]]\nname = \"x\"\non = \"accept\"\nreply = \"{nope}\"\n",
    )
    .unwrap();
    let out = run(
        bin_without_config().args(["simulate", "--rules"]).arg(&dir),
        "",
    );
    assert_eq!(out.status.code(), Some(78));
    assert!(text(&out.stdout).contains("unknown placeholder `{nope}`"));
    let out = run(
        bin_without_config()
            .args(["simulate", "--rules"])
            .arg(shipped())
            .args(["--at", "noon"]),
        "",
    );
    assert_eq!(out.status.code(), Some(64));
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}

/// `state list` and `state show` read the database of a running store (WAL readers), in text
/// and JSON, and fail with the project's exit codes.
#[tokio::test]
async fn state_list_and_show_read_the_saved_chats() {
    use gws_botd::event::ChatId;
    use gws_botd::store::state::{Escalation, Record, Stage, Store};
    let dir = scratch("state").join("state");
    let store = Store::open(&dir).unwrap();
    let record = Record {
        greeted: true,
        cursor: Some("e-7".into()),
        escalation: Some(Escalation {
            team: "billing".into(),
            agents: vec!["a1".into()],
            stage: Stage::Consulting,
            ..Escalation::default()
        }),
        ..Record::default()
    };
    store.save(&ChatId::from("c-1"), &record);
    let last = store.save(&ChatId::from("c 2"), &Record::default());
    store.committed(last).await;

    let state = |args: &[&str]| {
        run(
            bin_without_config()
                .arg("state")
                .args(args)
                .arg("--state-dir")
                .arg(&dir),
            "",
        )
    };
    let out = state(&["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let list = text(&out.stdout);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(
        lines[0].starts_with("CHAT") && lines[0].contains("HAND-OVER"),
        "{list}"
    );
    assert!(
        lines[1].starts_with("c 2 ") && lines[1].contains(" no "),
        "{list}"
    );
    for part in ["c-1", " yes ", "consulting (team billing)", "e-7"] {
        assert!(lines[2].contains(part), "{part:?} in {list}");
    }

    let out = state(&["list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");

    let out = state(&["show", "c-1", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["chat_id"], "c-1");
    assert_eq!(shown["record"]["cursor"], "e-7");
    assert_eq!(shown["record"]["escalation"]["stage"], "consulting");
    let saved: Record = serde_json::from_value(shown["record"].clone()).unwrap();
    assert_eq!(saved, record);
    assert!(
        shown["written_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{shown}"
    );

    let out = state(&["show", "c-1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("hand-over:    team billing, consulting"));

    let out = state(&["show", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no saved state for chat nope"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        bin_without_config().args(["state", "list", "--state-dir", "/nonexistent/gws-botd"]),
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no saved chat state in /nonexistent/gws-botd"));
    let out = run(bin_without_config().args(["state", "show"]), "");
    assert_eq!(
        out.status.code(),
        Some(64),
        "a missing chat id is a usage error"
    );

    drop(store);
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}
