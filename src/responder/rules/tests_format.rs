//! Tests of the parts of the format built on schedules, idle, failed hand-overs, `[[test]]`
//! blocks, overrides and unreachable rules: what they do and every bad input's problem.

use std::path::PathBuf;
use std::time::Duration;

use super::conversation::{Conversation, Line};
use super::tests_problems::{OK_RULE, assert_at, problem, problems_in};
use super::*;
use crate::event::UserData;
use crate::responder::Action;

fn set(text: &str) -> RuleSet {
    RuleSet::from_sources(&[(PathBuf::from("rules/t.toml"), text.to_owned())])
        .unwrap_or_else(|e| panic!("{e}"))
}

const HOURS: &str = r#"
[schedule.support]
timezone = "Europe/Berlin"
open = ["mon-fri 08:00-18:00", "sat 09:00-13:00"]
closed = ["2026-12-24 14:00-24:00", "2026-12-25", "2026-12-26"]

[[rule]]
name = "after-hours"
on = "accept"
when.schedule = { closed = "support" }
reply = "Hello {customer}! We are closed now and back {next_open.support}."
then = "close"

[[rule]]
name = "greeting"
on = "accept"
reply = "Hi {customer}!"

[[rule]]
name = "still-there"
on = "idle"
after = "2m"
once = true
reply = "Are you still there?"

[[rule]]
name = "bye-idle"
on = "idle"
after = "5m"
reply = "I'll close this chat now."
then = "close"

[[rule]]
name = "hours"
on = "message"
match.keywords = ["open"]
reply = "We are {next_open.support}."

[[rule]]
name = "sorry"
on = "escalation_failed"
reply = "Nobody is free; we open again {next_open.support}."

[[test]]
name = "office hours"
at = "2026-11-24T10:00:00+01:00"
say = ["are you open", "/idle 2m", "/idle 5m"]
expect = ["greeting", "hours", "still-there", "bye-idle"]

[[test]]
name = "christmas eve afternoon"
at = 2026-12-24T15:00:00+01:00
expect = ["after-hours"]
"#;

fn replies(step: &conversation::Step) -> Vec<String> {
    step.actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply(text) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn schedules_pick_the_accept_rule_and_render_the_next_opening() {
    let rules = set(HOURS);
    assert_eq!(rules.summary().schedules, 1);
    assert_eq!(rules.summary().tests, 2);
    let at = |s: &str| s.parse().unwrap();
    let mut chat = Conversation::new(&rules, at("2026-12-24T15:00:00+01:00"), UserData::new());
    chat.customer = Some("Kim".into());
    let step = chat.accept();
    assert_eq!(step.acted, ["after-hours"]);
    assert_eq!(
        replies(&step),
        ["Hello Kim! We are closed now and back Monday at 08:00."]
    );
    assert_eq!(chat.ended, Some(Then::Close));
    let mut chat = Conversation::new(&rules, at("2026-11-28T12:59:00+01:00"), UserData::new());
    assert_eq!(
        chat.accept().acted,
        ["greeting"],
        "Saturday morning is open"
    );
    let step = chat.line(&Line::Say("open?".into()));
    assert_eq!(replies(&step), ["We are now."]);
    chat.now = at("2026-11-28T13:00:00+01:00");
    let step = chat.line(&Line::Say("open?".into()));
    assert_eq!(replies(&step), ["We are Monday at 08:00."]);
}

#[test]
fn idle_rules_fire_by_silence_and_once() {
    let rules = set(HOURS);
    assert_eq!(
        *rules.idle_timeouts(),
        [Duration::from_secs(120), Duration::from_secs(300)]
    );
    let mut chat = Conversation::new(
        &rules,
        "2026-11-24T10:00:00+01:00".parse().unwrap(),
        UserData::new(),
    );
    chat.accept();
    assert!(
        chat.line(&Line::Idle(Duration::from_secs(60)))
            .acted
            .is_empty()
    );
    let step = chat.line(&Line::Idle(Duration::from_secs(120)));
    assert_eq!(step.acted, ["still-there"]);
    let step = chat.line(&Line::Idle(Duration::from_secs(130)));
    assert!(step.acted.is_empty(), "once");
    let why = &step.tried[0].result;
    assert!(why.as_ref().unwrap_err().contains("once"), "{why:?}");
    assert_eq!(
        chat.line(&Line::Idle(Duration::from_secs(300))).acted,
        ["bye-idle"]
    );
}

#[test]
fn escalation_failed_rules_reply_and_end_the_chat() {
    let rules = set(HOURS);
    let mut chat = Conversation::new(
        &rules,
        "2026-11-27T17:59:00+01:00".parse().unwrap(),
        UserData::new(),
    );
    let step = chat.line(&Line::EscalationFailed);
    assert_eq!(step.acted, ["sorry"]);
    assert_eq!(replies(&step), ["Nobody is free; we open again now."]);
    assert_eq!(chat.ended, Some(Then::Close));
}

#[test]
fn override_closes_the_schedule_and_its_message_replaces_the_reply() {
    let rules = set(HOURS);
    let now: jiff::Timestamp = "2026-11-24T10:00:00+01:00".parse().unwrap();
    let mut chat = Conversation::new(&rules, now, UserData::new());
    chat.active = Some(Override {
        until: "2026-11-24T15:00:00+01:00".parse().unwrap(),
        schedule: None,
        message: Some("We are closed today because of a power cut.".into()),
        set_at: now,
    });
    let step = chat.accept();
    assert_eq!(step.acted, ["after-hours"]);
    assert_eq!(
        replies(&step),
        ["We are closed today because of a power cut."]
    );
    chat.active.as_mut().unwrap().message = None;
    let mut chat2 = Conversation::new(&rules, now, UserData::new());
    chat2.active = chat.active.clone();
    assert_eq!(
        replies(&chat2.accept()),
        ["Hello! We are closed now and back today at 15:00."]
    );
}

#[test]
fn explain_lists_every_rule_tried_and_why() {
    let rules = set(HOURS);
    let mut chat = Conversation::new(
        &rules,
        "2026-11-29T10:00:00+01:00".parse().unwrap(),
        UserData::new(),
    );
    let step = chat.accept();
    assert_eq!(step.tried.len(), 1);
    assert_eq!(step.tried[0].rule, "after-hours");
    assert!(step.tried[0].result.is_ok());
    let mut chat = Conversation::new(
        &rules,
        "2026-11-24T10:00:00+01:00".parse().unwrap(),
        UserData::new(),
    );
    let step = chat.accept();
    let reason = step.tried[0].result.clone().unwrap_err();
    assert!(
        reason.contains("wants \"support\" closed, it is open (\"mon-fri 08:00-18:00\")"),
        "{reason}"
    );
}

#[test]
fn failing_tests_keep_the_set_from_loading_and_show_expected_and_actual() {
    let text = HOURS.replace(
        r#"expect = ["greeting", "hours", "still-there", "bye-idle"]"#,
        r#"expect = ["greeting", "still-there", "hours"]"#,
    );
    let problems = problems_in(&[("rules/t.toml", &text)]);
    assert_eq!(problems.len(), 1, "{}", Problems(problems.clone()));
    let p = &problems[0];
    assert!(p.message.starts_with("test \"office hours\" failed"), "{p}");
    assert!(
        p.message
            .contains("expected: greeting, still-there, hours\nactual:   greeting, hours, still-there, bye-idle"),
        "{p}"
    );
    assert!(
        p.hint
            .as_deref()
            .unwrap()
            .contains("first differ after \"are you open\""),
        "{p}"
    );
}

#[test]
fn bad_schedules_are_reported_where_they_are() {
    let cases = [
        (
            "[schedule.s]\ntimezone = \"Europe/Berlinn\"\nopen = [\"mon 08:00-18:00\"]\n",
            2,
            12,
            "unknown time zone \"Europe/Berlinn\" in [schedule.s]",
        ),
        (
            "[schedule.s]\ntimezone = \"UTC\"\nopen = [\"mon-fri 08:00-25:00\"]\n",
            3,
            24,
            "\"25:00\" is not a time of day in [schedule.s]",
        ),
        (
            "[schedule.s]\ntimezone = \"UTC\"\nopen = [\"mon 08:00-18:00\", \"mon 17:00-19:00\"]\n",
            3,
            28,
            "\"mon 17:00-19:00\" overlaps \"mon 08:00-18:00\" in [schedule.s]",
        ),
        (
            "[schedule.s]\ntimezone = \"UTC\"\nopen = [\"mon 08:00-18:00\"]\nclosed = [\"2026-12-24 14:00-10:00\"]\n",
            4,
            23,
            "\"14:00-10:00\" ends before it starts in [schedule.s]",
        ),
        (
            "[schedule.s]\ntimezone = \"UTC\"\nopen = [\"mon 08:00-08:00\"]\n",
            3,
            14,
            "\"08:00-08:00\" starts and ends at the same time in [schedule.s]",
        ),
        (
            "[schedule.s]\ntimezone = \"UTC\"\n",
            1,
            11,
            "[schedule.s] has no opening times",
        ),
        (
            "[schedule.s]\nopen = [\"mon 08:00-18:00\"]\n",
            1,
            11,
            "[schedule.s] has no `timezone`",
        ),
        (
            "[schedule.s]\ntimezone = 1\nopen = [\"mon 08:00-18:00\"]\n",
            2,
            12,
            "`timezone` must be text in quotes, not a whole number",
        ),
        (
            "[schedule.s]\ntimezone = \"UTC\"\nopen = [\"mon 08:00-18:00\"]\nholidays = []\n",
            4,
            1,
            "unknown key `holidays` in [schedule.s]",
        ),
    ];
    for (text, line, column, message) in cases {
        let text = format!("{text}\n{OK_RULE}");
        assert_at(&problem(&text), line, column, message);
    }
    // Overnight intervals are fine, and do not overlap the next morning's.
    set(
        "[schedule.s]\ntimezone = \"UTC\"\nopen = [\"fri 22:00-02:00\", \"sat 09:00-13:00\"]\n[[rule]]\nname = \"ok\"\non = \"accept\"\nwhen.schedule = { open = \"s\" }\n",
    );
}

#[test]
fn bad_rule_parts_of_the_new_format_are_reported() {
    let cases = [
        (
            "[[rule]]\nname = \"i\"\non = \"idle\"\n",
            3,
            6,
            "rule \"i\" is `on = \"idle\"` but has no `after`",
        ),
        (
            "[[rule]]\nname = \"i\"\non = \"accept\"\nafter = \"2m\"\n",
            4,
            9,
            "`after` only applies to `on = \"idle\"` rules (rule \"i\")",
        ),
        (
            "[[rule]]\nname = \"i\"\non = \"idle\"\nafter = \"soon\"\n",
            4,
            9,
            "`after` \"soon\" is not a duration: expected number at 0",
        ),
        (
            "[[rule]]\nname = \"s\"\non = \"accept\"\nwhen.schedule = { closed = \"x\" }\n",
            4,
            28,
            "unknown schedule \"x\" in rule \"s\"",
        ),
        (
            "[[rule]]\nname = \"s\"\non = \"accept\"\nwhen.schedule = { shut = \"x\" }\n",
            4,
            19,
            "unknown key `shut` under `when.schedule` in rule \"s\"",
        ),
        (
            "[[rule]]\nname = \"n\"\non = \"accept\"\nreply = \"Back {next_open.support}.\"\n",
            4,
            15,
            "unknown schedule \"support\" in rule \"n\"",
        ),
        (
            "[team.t]\nskill = \"S\"\n[[rule]]\nname = \"f\"\non = \"escalation_failed\"\nthen = { escalate = \"t\" }\n",
            6,
            8,
            "rule \"f\" cannot hand the chat on again: nobody could take it",
        ),
        (
            "[[test]]\nname = \"t\"\nat = \"tomorrow\"\nexpect = [\"ok\"]\n",
            3,
            6,
            "`at` \"tomorrow\" of test \"t\" is not a point in time",
        ),
        (
            "[[test]]\nname = \"t\"\nat = \"2026-11-24T10:00:00Z\"\nexpect = [\"okk\"]\n",
            4,
            11,
            "test \"t\" expects the unknown rule \"okk\"",
        ),
        (
            "[[test]]\nname = \"t\"\nat = \"2026-11-24T10:00:00Z\"\nexpect = [\"ok\"]\nwhen = 1\n",
            5,
            1,
            "unknown key `when` in test \"t\"",
        ),
    ];
    for (text, line, column, message) in cases {
        let text = format!("{text}\n{OK_RULE}");
        assert_at(&problem(&text), line, column, message);
    }
}

#[test]
fn unreachable_rules_are_reported_when_decidable() {
    let p = problem(
        "[[rule]]\nname = \"a\"\non = \"accept\"\n[[rule]]\nname = \"b\"\non = \"accept\"\n",
    );
    assert_at(
        &p,
        5,
        8,
        "rule \"b\" can never act: the earlier rule \"a\" at rules/t.toml:2:8 always acts first on the same trigger",
    );
    let p = problem(
        "[[rule]]\nname = \"a\"\non = \"message\"\nmatch.keywords = [\"open\"]\n[[rule]]\nname = \"b\"\non = \"message\"\nmatch.keywords = [\"are you open today\", \"open\"]\n",
    );
    assert!(p.message.starts_with("rule \"b\" can never act"), "{p}");
    // Not shadowed: a condition, `continue`, a different keyword, a regex.
    set(
        "[[rule]]\nname = \"a\"\non = \"accept\"\nwhen.turn = { min = 1 }\n[[rule]]\nname = \"b\"\non = \"accept\"\n",
    );
    set(
        "[[rule]]\nname = \"a\"\non = \"accept\"\ncontinue = true\n[[rule]]\nname = \"b\"\non = \"accept\"\n",
    );
    set(
        "[[rule]]\nname = \"a\"\non = \"message\"\nmatch.keywords = [\"open\"]\n[[rule]]\nname = \"b\"\non = \"message\"\nmatch.keywords = [\"opening\"]\n",
    );
    set(
        "[[rule]]\nname = \"a\"\non = \"message\"\nmatch.regex = 'open'\n[[rule]]\nname = \"b\"\non = \"message\"\nmatch.keywords = [\"open\"]\n",
    );
    set(
        "[[rule]]\nname = \"a\"\non = \"idle\"\nafter = \"5m\"\n[[rule]]\nname = \"b\"\non = \"idle\"\nafter = \"2m\"\n",
    );
}

#[test]
fn empty_files_and_duplicate_schedules() {
    let p = problem("");
    assert_eq!(p.message, "the rule files define no `[[rule]]`");
    let schedule = "[schedule.support]\ntimezone = \"UTC\"\nopen = [\"daily 00:00-24:00\"]\n";
    let problems = problems_in(&[
        ("rules/10-a.toml", &format!("{schedule}{OK_RULE}")),
        ("rules/20-b.toml", schedule),
    ]);
    assert_eq!(problems.len(), 1, "{}", Problems(problems.clone()));
    assert_at(
        &problems[0],
        1,
        11,
        "the schedule `support` is already defined at rules/10-a.toml:1:11",
    );
}
