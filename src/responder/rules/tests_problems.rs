//! Tests of load problems: every kind of bad input is reported with its message, line and
//! column, all at once, and never panics or hangs.

use std::path::{Path, PathBuf};

use super::*;

pub(super) fn problems_in(files: &[(&str, &str)]) -> Vec<Problem> {
    let files: Vec<_> = files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), (*t).to_owned()))
        .collect();
    match RuleSet::from_sources(&files) {
        Ok(_) => panic!("expected problems"),
        Err(Problems(problems)) => problems,
    }
}

/// The single problem of one file `rules/t.toml`.
pub(super) fn problem(text: &str) -> Problem {
    let mut problems = problems_in(&[("rules/t.toml", text)]);
    assert_eq!(
        problems.len(),
        1,
        "expected exactly one problem, got:\n{}",
        Problems(problems.clone())
    );
    problems.remove(0)
}

#[track_caller]
pub(super) fn assert_at(p: &Problem, line: usize, column: usize, message: &str) {
    assert_eq!(
        (p.line, p.column, p.message.as_str()),
        (line, column, message),
        "\n{p}"
    );
}

pub(super) const OK_RULE: &str = "[[rule]]\nname = \"ok\"\non = \"accept\"\n";

/// A scratch directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("gws-botd-rules-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> &Self {
        std::fs::write(self.0.join(name), bytes).unwrap();
        self
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn invalid_toml_uses_tomls_location() {
    let p = problem("[[rule]]\nname = \"a\"\non = accept\n");
    assert_eq!((p.line, p.column), (3, 6));
    assert!(p.message.starts_with("this is not valid TOML: "), "{p}");
    assert_eq!(p.snippet.as_deref(), Some("on = accept"));
}

#[test]
fn unknown_key_has_snippet_and_did_you_mean() {
    let p = problem("[[rule]]\nname = \"greeting\"\non = \"accept\"\n  replly = \"Hi\"\n");
    assert_at(&p, 4, 3, "unknown key `replly` in rule \"greeting\"");
    assert_eq!(p.hint.as_deref(), Some("did you mean `reply`?"));
    assert_eq!(
        p.to_string(),
        "rules/t.toml:4:3: unknown key `replly` in rule \"greeting\"\n   |    replly = \"Hi\"\n   |    ^\n   = hint: did you mean `reply`?"
    );
    let p = problem(&format!("{OK_RULE}[teams.x]\nagents = []\n"));
    assert_at(&p, 4, 2, "unknown key `teams` at the top level of the file");
    assert_eq!(p.hint.as_deref(), Some("did you mean `team`?"));
    let p = problem("[[rule]]\nname = \"ok\"\non = \"message\"\nmatch.keyword = [\"a\"]\n");
    assert_eq!(
        p.message,
        "unknown key `keyword` under `match` in rule \"ok\""
    );
}

#[test]
fn byte_order_mark_does_not_shift_columns() {
    let p = problem("\u{feff}x = 1\n");
    assert_at(&p, 1, 1, "unknown key `x` at the top level of the file");
    assert_eq!(p.snippet.as_deref(), Some("x = 1"));
}

#[test]
fn wrong_types_name_the_expected_type() {
    let p = problem(&format!("{OK_RULE}once = \"yes\"\n"));
    assert_at(&p, 4, 8, "`once` must be true or false, not text");
    let p = problem("rule = 3\n");
    assert_at(
        &p,
        1,
        8,
        "`rule` must be a list of rules, not a whole number",
    );
    let p = problem(&format!("{OK_RULE}[team.x]\nagents = \"agent-1\"\n"));
    assert_at(&p, 5, 10, "`agents` must be a list of texts, not text");
    let p = problem("[rule]\nname = \"a\"\non = \"accept\"\n");
    assert_eq!(
        p.hint.as_deref(),
        Some("start each rule with `[[rule]]` (two brackets)")
    );
}

#[test]
fn duplicate_names_across_files_point_at_the_first() {
    let problems = problems_in(&[
        (
            "rules/10-a.toml",
            "[team.billing]\nskill = \"B\"\n\n[[rule]]\nname = \"hi\"\non = \"accept\"\n",
        ),
        (
            "rules/20-b.toml",
            "[team.billing]\nskill = \"C\"\n[[rule]]\nname = \"hi\"\non = \"accept\"\n",
        ),
    ]);
    assert_eq!(problems.len(), 2, "{}", Problems(problems.clone()));
    assert_eq!(problems[0].file, Path::new("rules/20-b.toml"));
    assert_at(
        &problems[0],
        1,
        7,
        "the team `billing` is already defined at rules/10-a.toml:1:7",
    );
    assert_at(
        &problems[1],
        4,
        8,
        "the rule name \"hi\" is already used at rules/10-a.toml:5:8",
    );
}

#[test]
fn unknown_team_suggests_a_close_name() {
    let text = "[team.billing]\nagents = [\"a-1\"]\n[[rule]]\nname = \"r\"\non = \"accept\"\nthen = { escalate = \"biling\" }\n";
    let p = problem(text);
    assert_at(&p, 6, 21, "unknown team \"biling\" in rule \"r\"");
    assert_eq!(p.hint.as_deref(), Some("did you mean `billing`?"));
    let p = problem(&format!("{OK_RULE}then = {{ escalate = \"x\" }}\n"));
    assert_eq!(p.hint.as_deref(), Some("no defined teams are defined"));
}

#[test]
fn unknown_placeholder_points_into_the_string() {
    let p = problem(&format!("{OK_RULE}reply = \"Hi {{custmer}}!\"\n"));
    assert_at(&p, 4, 13, "unknown placeholder `{custmer}` in rule \"ok\"");
    assert_eq!(p.hint.as_deref(), Some("did you mean `{customer}`?"));
    // With escapes in the string the exact offset is unknown: point at the string.
    let p = problem(&format!("{OK_RULE}reply = [\"ok\", \"\\\"{{x}}\"]\n"));
    assert_at(&p, 4, 16, "unknown placeholder `{x}` in rule \"ok\"");
}

#[test]
fn invalid_regexes_carry_the_regex_error() {
    let p = problem("[[rule]]\nname = \"r\"\non = \"message\"\nmatch.regex = '(?i)(refund'\n");
    assert_at(&p, 4, 20, "invalid regex in rule \"r\": unclosed group");
    assert!(p.hint.as_deref().unwrap().contains("no look-around"));
    let p = problem("[[rule]]\nname = \"r\"\non = \"message\"\nmatch.regex = '(?<=a)b'\n");
    let look_around = "look-around, including look-ahead and look-behind, is not supported";
    assert_at(
        &p,
        4,
        16,
        &format!("invalid regex in rule \"r\": {look_around}"),
    );
    let p = problem(&format!(
        "{OK_RULE}when.user_data = {{ Subject = {{ regex = \"[a\" }} }}\n"
    ));
    assert_at(
        &p,
        4,
        41,
        "invalid regex in rule \"ok\": unclosed character class",
    );
    let p = problem(
        "[[rule]]\nname = \"r\"\non = \"message\"\nmatch.regex = '\\w{1000}\\w{1000}\\w{1000}'\n",
    );
    assert_at(
        &p,
        4,
        15,
        "the regex in rule \"r\" is too large once compiled (limit: 1 MiB)",
    );
}

#[test]
fn bad_durations_are_reported_with_a_hint() {
    let p = problem(&format!("{OK_RULE}typing = \"1,5s\"\n"));
    assert_eq!((p.line, p.column), (4, 10));
    assert!(
        p.message
            .starts_with("`typing` \"1,5s\" is not a duration: "),
        "{p}"
    );
    assert_eq!(p.hint.as_deref(), Some(DURATION_HINT_FOR_TESTS));
    let p = problem(&format!(
        "{OK_RULE}[team.t]\nskill = \"S\"\nwait = \"0s\"\n"
    ));
    assert_at(&p, 6, 8, "`wait` must be longer than 0s");
    let p = problem(&format!("{OK_RULE}typing = \"5m\"\n"));
    assert_at(&p, 4, 10, "`typing` may be at most 30s");
}

const DURATION_HINT_FOR_TESTS: &str = "write a duration like \"45s\", \"1.5s\" or \"2m\"";

#[test]
fn empty_replies_are_reported() {
    let p = problem(&format!("{OK_RULE}reply = \"  \"\n"));
    assert_at(&p, 4, 9, "empty reply in rule \"ok\"");
    let p = problem(&format!("{OK_RULE}reply = []\n"));
    assert_at(&p, 4, 9, "`reply` of rule \"ok\" is an empty list");
}

#[test]
fn match_is_required_on_message_rules_and_refused_elsewhere() {
    let p = problem("[[rule]]\nname = \"m\"\non = \"message\"\nreply = \"x\"\n");
    assert_at(
        &p,
        1,
        1,
        "rule \"m\" is `on = \"message\"` but has no `match`",
    );
    let p = problem(&format!("{OK_RULE}match.keywords = [\"hi\"]\n"));
    assert_at(
        &p,
        4,
        1,
        "`match` only applies to `on = \"message\"` rules (rule \"ok\")",
    );
    let p = problem(&format!("{OK_RULE}examples.match = [\"hi\"]\n"));
    assert_at(
        &p,
        4,
        1,
        "`examples` only apply to `on = \"message\"` rules (rule \"ok\")",
    );
}

#[test]
fn examples_that_misbehave_name_the_rule_and_example() {
    let text = "[[rule]]\nname = \"hours\"\non = \"message\"\nmatch.keywords = [\"open\"]\n\
                examples.match = [\"opening hours?\"]\nexamples.no_match = [\"open an account\"]\n";
    let problems = problems_in(&[("rules/t.toml", text)]);
    assert_eq!(problems.len(), 2);
    assert_at(
        &problems[0],
        5,
        19,
        "the example \"opening hours?\" should match rule \"hours\", but it does not",
    );
    assert_at(
        &problems[1],
        6,
        22,
        "the example \"open an account\" should not match rule \"hours\", but it does",
    );
}

#[test]
fn missing_name_and_on_and_unknown_values() {
    let problems = problems_in(&[(
        "rules/t.toml",
        "[[rule]]\nreply = \"x\"\n\n[[rule]]\nname = \"b\"\non = \"mesage\"\n",
    )]);
    assert_eq!(problems.len(), 3, "{}", Problems(problems.clone()));
    assert_at(&problems[0], 1, 1, "this rule has no `name`");
    assert_at(&problems[1], 1, 1, "this rule has no `on`");
    assert_at(
        &problems[2],
        6,
        6,
        "unknown trigger `on = \"mesage\"` in rule \"b\"",
    );
    assert_eq!(problems[2].hint.as_deref(), Some("did you mean `message`?"));
    let p = problem(&format!("{OK_RULE}then = \"closed\"\n"));
    assert_at(&p, 4, 8, "unknown `then = \"closed\"` in rule \"ok\"");
    assert_eq!(p.hint.as_deref(), Some("did you mean `close`?"));
}

#[test]
fn teams_need_agents_or_a_skill() {
    let p = problem(&format!("{OK_RULE}[team.empty]\nagents = []\n"));
    assert_at(
        &p,
        5,
        10,
        "[team.empty] has neither agents nor a skill to hand chats to",
    );
}

#[test]
fn team_modes_and_resume_are_checked() {
    let p = problem(&format!(
        "{OK_RULE}[team.t]\nskill = \"S\"\nmode = \"conferense\"\n"
    ));
    assert_at(&p, 6, 8, "[team.t] has an unknown `mode` \"conferense\"");
    assert!(p.hint.as_deref().unwrap().contains("mode = \"conference\""));
    // `resume` means something only in a conference; an unknown mode is not reported twice.
    let p = problem(&format!(
        "{OK_RULE}[team.t]\nskill = \"S\"\nresume = true\n"
    ));
    assert_at(
        &p,
        6,
        10,
        "`resume` in [team.t] only means something with `mode = \"conference\"`",
    );
    let p = problem(&format!(
        "{OK_RULE}[team.t]\nskill = \"S\"\nmode = \"x\"\nresume = true\n"
    ));
    assert!(p.message.contains("unknown `mode`"), "{p}");
    let p = problem(&format!(
        "{OK_RULE}[team.t]\nskill = \"S\"\nresume = \"yes\"\n"
    ));
    assert!(p.message.contains("`resume`"), "{p}");
}

#[test]
fn all_problems_of_all_files_are_reported_at_once() {
    let problems = problems_in(&[
        (
            "rules/10-a.toml",
            "[[rule]]\nname = \"a\"\non = \"accept\"\nreplly = \"x\"\ntyping = \"soon\"\n",
        ),
        ("rules/20-b.toml", "[[rule]\n"),
        (
            "rules/30-c.toml",
            "[[rule]]\nname = \"c\"\non = \"accept\"\nreply = \"{bott}\"\nonce = 1\n",
        ),
    ]);
    let located: Vec<_> = problems
        .iter()
        .map(|p| (p.file.to_str().unwrap(), p.line, p.column))
        .collect();
    assert_eq!(
        located,
        [
            ("rules/10-a.toml", 4, 1),
            ("rules/10-a.toml", 5, 10),
            ("rules/20-b.toml", 1, 8),
            ("rules/30-c.toml", 4, 10),
            ("rules/30-c.toml", 5, 8),
        ]
    );
}

#[test]
fn directory_problems() {
    let missing = RuleSet::load_dir(Path::new("/nonexistent/gws-botd/rules")).unwrap_err();
    assert!(
        missing.0[0]
            .message
            .starts_with("cannot read the rules directory: "),
        "{missing}"
    );

    let dir = TempDir::new("empty");
    dir.write("README.md", "# not rules")
        .write("notes.txt", "x");
    let empty = RuleSet::load_dir(&dir.0).unwrap_err();
    assert_eq!(empty.0.len(), 1);
    assert_eq!(
        empty.0[0].message,
        format!("no rule files in {}", dir.0.display())
    );
    assert_eq!((empty.0[0].line, empty.0[0].column), (0, 0));

    let only_teams = problem("[team.t]\nskill = \"S\"\n");
    assert_eq!(only_teams.message, "the rule files define no `[[rule]]`");
    assert_eq!(problems_in(&[])[0].message, "no rule files given");
}

#[test]
fn non_utf8_file_is_named_with_its_position() {
    let dir = TempDir::new("utf8");
    dir.write("10-ok.toml", OK_RULE)
        .write("20-bad.toml", b"# ok\nreply = \"caf\xe9\"\n");
    let problems = RuleSet::load_dir(&dir.0).unwrap_err().0;
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].file, dir.0.join("20-bad.toml"));
    assert_at(&problems[0], 2, 13, "this file is not valid UTF-8 text");
}

#[test]
fn huge_files_are_refused_quickly() {
    let dir = TempDir::new("huge");
    let huge = "# padding\n".repeat(1_000_000);
    dir.write("10-huge.toml", &huge)
        .write("20-ok.toml", OK_RULE);
    let problems = RuleSet::load_dir(&dir.0).unwrap_err().0;
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0]
            .message
            .starts_with("this file is too large (10000000 bytes"),
        "{}",
        problems[0]
    );
    // The other files are still checked, but an unknown team is not guessed at: the
    // refused file might define it.
    let other = "[[rule]]\nname = \"x\"\non = \"accept\"\nthen = { escalate = \"t\" }\nonce = 1\n";
    let from_memory = problems_in(&[("rules/huge.toml", &huge), ("rules/other.toml", other)]);
    assert_eq!(from_memory.len(), 2, "{}", Problems(from_memory.clone()));
    assert!(from_memory[0].message.starts_with("this file is too large"));
    assert_at(
        &from_memory[1],
        5,
        8,
        "`once` must be true or false, not a whole number",
    );
}

#[test]
fn pathological_input_does_not_panic() {
    let nested = format!("a = {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    assert!(
        problem(&nested)
            .message
            .starts_with("this is not valid TOML")
    );
    let many_unknown: String = (0..500).map(|i| format!("k{i} = 1\n")).collect();
    let problems = problems_in(&[("rules/t.toml", &many_unknown)]);
    assert_eq!(problems.len(), problem::MAX_PROBLEMS_PER_FILE + 1);
    assert_eq!(
        problems.last().unwrap().message,
        "… and 450 more problems in this file"
    );
}

#[test]
fn load_dir_reads_toml_files_in_name_order() {
    let dir = TempDir::new("order");
    dir.write(
        "20-b.toml",
        "[[rule]]\nname = \"b\"\non = \"accept\"\nreply = \"B\"\n",
    )
    .write(
        "10-a.toml",
        "[[rule]]\nname = \"a\"\non = \"accept\"\ncontinue = true\nreply = \"A\"\n",
    )
    .write("README.toml", "not = [valid")
    .write(".hidden.toml", "not = [valid");
    let rules = RuleSet::load_dir(&dir.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rules.summary().files, 2);
    let chat_id = crate::event::ChatId::from("c");
    let (data, fired) = (Default::default(), Default::default());
    let chat = ChatView {
        id: &chat_id,
        message_id: None,
        recent: &[],
        customer: None,
        bot: "b",
        user_data: &data,
        turn: 0,
        unanswered: 0,
        fired: &fired,
        awaiting: None,
        now: jiff::Timestamp::UNIX_EPOCH,
    };
    match rules.evaluate(&chat, &Trigger::Accepted) {
        Outcome::Act(r) => assert_eq!(r.acted, ["a", "b"]),
        Outcome::Pass => panic!("accept rules should act"),
    }
}
