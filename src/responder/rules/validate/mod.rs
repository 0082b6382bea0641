//! From raw rule files to a checked [`RuleSet`], collecting every problem across all files.
//!
//! `raw` has already reported wrong types and unknown keys; here the values are checked for
//! meaning: names present and unique across the directory, known triggers, durations,
//! regexes, placeholders, team references and the rules' own examples.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::responder::{Team, TeamMode};
use crate::schedule::Schedule;

use super::RuleSet;
use super::problem::{Problem, Problems, Source, did_you_mean};
use super::raw::{self, RawFile, RawTeam, Text};
use super::rule::{On, Rule};

mod examples;
mod never;
mod reply;
mod rule;
mod schedule;
mod shadow;
mod test;
mod topics;
pub use never::{NeverActs, RuleName};
use rule::check_rule;
use schedule::check_schedule;
pub use test::{RuleTest, parse_time};

/// How long a team's consultation waits when the team does not say.
pub(super) const DEFAULT_WAIT: Duration = Duration::from_secs(60);
/// The longest typing indicator a rule may show.
pub(super) const MAX_TYPING: Duration = Duration::from_secs(30);

pub(super) const TRIGGERS: [&str; 5] =
    ["accept", "message", "no_match", "idle", "escalation_failed"];
const DURATION_HINT: &str = "write a duration like \"45s\", \"1.5s\" or \"2m\"";

/// Check `files` (path, text) in the order given; `problems` are those found before
/// (e.g. unreadable files) and make the load fail too. With `run_tests`, the `[[test]]`
/// blocks run against the checked set and every failure is a problem.
pub(super) fn check(
    files: &[(&Path, &str)],
    problems: Vec<Problem>,
    run_tests: bool,
) -> Result<RuleSet, Problems> {
    let mut sources: Vec<Source<'_>> = files
        .iter()
        .map(|&(path, text)| Source::new(path, text))
        .collect();
    let raws: Vec<Option<RawFile>> = sources.iter_mut().map(raw::read).collect();
    // A file that is unreadable or not valid TOML may define teams, schedules, rules and
    // topics we cannot see: only report unknown names when every file could be read.
    let all_parsed = problems.is_empty() && raws.iter().all(Option::is_some);

    let (teams, team_names) = check_teams(&raws, &mut sources);
    let (schedules, schedule_names) = check_schedules(&raws, &mut sources);
    let known = Known {
        defined: &teams,
        names: &team_names,
        schedules: &schedules,
        schedule_names: &schedule_names,
        check: all_parsed,
    };
    let checked = check_rules(&raws, &mut sources, &known);
    // A rule with a key that could not be read may hold the other side of a topic.
    let rules_readable = raws
        .iter()
        .flatten()
        .flat_map(|f| &f.rules)
        .all(|r| !r.damaged);
    if all_parsed && rules_readable {
        topics::check_pairs(&raws, &mut sources);
    }
    let sound =
        |sources: &[Source<'_>]| problems.is_empty() && sources.iter().all(|s| s.count() == 0);
    if sound(&sources) {
        // Shadowing is only judged on sound rules: a broken rule's condition may be missing.
        shadow::check(&checked.rules, &checked.located, &mut sources);
    }
    // A rule without a readable name may be the one a test expects.
    let names_complete = all_parsed && checked.unnamed == 0;
    let (tests, test_locations) = check_tests(&raws, &mut sources, &checked.names, names_complete);

    let no_rules = checked.rules.is_empty();
    let clean = sound(&sources) && !no_rules;
    let message_examples: Vec<(Location, &[Text])> = checked
        .rules
        .iter()
        .zip(&checked.located)
        .zip(&checked.examples)
        .filter(|((rule, _), _)| rule.on == On::Message)
        .map(|((_, location), examples)| (*location, *examples))
        .collect();
    let set = RuleSet::new(
        checked.rules,
        teams,
        schedules,
        tests,
        run_tests,
        files.len(),
    );
    if run_tests && clean {
        examples::check(&set, &message_examples, &mut sources);
    }
    if run_tests && sound(&sources) && !no_rules {
        // Tests only run against a set without problems: their failures would be noise.
        for (test, location) in set.tests().iter().zip(&test_locations) {
            if let Err(failure) = super::conversation::run_test(&set, test) {
                sources[location.file].report(location.offset, failure.message, failure.hint);
            }
        }
    }
    finish(files, problems, sources, no_rules).map(|()| set)
}

/// All problems, or `Ok` when there are none; a rule set without rules is a problem too.
fn finish(
    files: &[(&Path, &str)],
    mut problems: Vec<Problem>,
    sources: Vec<Source<'_>>,
    no_rules: bool,
) -> Result<(), Problems> {
    for source in sources {
        problems.extend(source.into_problems());
    }
    if problems.is_empty() && no_rules {
        let problem = match files.first() {
            None => Problem::whole("", "no rule files given"),
            Some(&(path, _)) => Problem::whole(
                path.parent().unwrap_or(path),
                "the rule files define no `[[rule]]`",
            )
            .with_hint("add at least one rule, starting with `[[rule]]`"),
        };
        problems.push(problem);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Problems(problems))
    }
}

/// Record the first definition of a team or schedule called `name`; a second one is a
/// problem (and `false`).
fn define(
    names: &mut BTreeMap<String, Location>,
    sources: &mut [Source<'_>],
    file: usize,
    name: &Text,
    kind: &str,
) -> bool {
    let location = Location {
        file,
        offset: name.span().start,
    };
    if let Some(first) = names.get(name.get_ref()) {
        let message = format!(
            "the {kind} `{}` is already defined at {}",
            name.get_ref(),
            first.describe(sources)
        );
        let hint = Some(format!("give each {kind} its own name"));
        sources[file].report(location.offset, message, hint);
        return false;
    }
    names.insert(name.get_ref().clone(), location);
    true
}

type Named<T> = (BTreeMap<String, T>, BTreeMap<String, Location>);

fn check_teams(raws: &[Option<RawFile>], sources: &mut [Source<'_>]) -> Named<Team> {
    let mut teams = BTreeMap::new();
    let mut names = BTreeMap::new();
    for (file, raw) in raws.iter().enumerate() {
        for raw_team in raw.iter().flat_map(|r| &r.teams) {
            if define(&mut names, sources, file, &raw_team.name, "team")
                && let Some(team) = check_team(&mut sources[file], raw_team)
            {
                teams.insert(raw_team.name.get_ref().clone(), team);
            }
        }
    }
    (teams, names)
}

fn check_schedules(raws: &[Option<RawFile>], sources: &mut [Source<'_>]) -> Named<Arc<Schedule>> {
    let mut schedules = BTreeMap::new();
    let mut names = BTreeMap::new();
    for (file, raw) in raws.iter().enumerate() {
        for raw_schedule in raw.iter().flat_map(|r| &r.schedules) {
            if define(&mut names, sources, file, &raw_schedule.name, "schedule")
                && let Some(schedule) = check_schedule(&mut sources[file], raw_schedule)
            {
                schedules.insert(raw_schedule.name.get_ref().clone(), Arc::new(schedule));
            }
        }
    }
    (schedules, names)
}

/// The sound rules of all files, in order, with what else the later checks need.
struct Checked<'r> {
    rules: Vec<Rule>,
    /// Where each rule is (aligned with `rules`).
    located: Vec<Location>,
    /// Each rule's `examples.match` (aligned with `rules`).
    examples: Vec<&'r [Text]>,
    /// Every rule name written, sound rule or not.
    names: BTreeMap<String, Location>,
    /// Rules whose name could not be read.
    unnamed: usize,
}

fn check_rules<'r>(
    raws: &'r [Option<RawFile>],
    sources: &mut [Source<'_>],
    known: &Known<'_>,
) -> Checked<'r> {
    let mut checked = Checked {
        rules: Vec::new(),
        located: Vec::new(),
        examples: Vec::new(),
        names: BTreeMap::new(),
        unnamed: 0,
    };
    for (file, raw) in raws.iter().enumerate() {
        for raw_rule in raw.iter().flat_map(|r| &r.rules) {
            match &raw_rule.name {
                Some(name) => {
                    let location = Location {
                        file,
                        offset: name.span().start,
                    };
                    if let Some(first) = checked.names.get(name.get_ref()) {
                        let first = first.describe(sources);
                        let message = format!(
                            "the rule name {:?} is already used at {first}",
                            name.get_ref()
                        );
                        let hint = Some("give each rule its own name".to_owned());
                        sources[file].report(location.offset, message, hint);
                    } else {
                        checked.names.insert(name.get_ref().clone(), location);
                    }
                }
                None => checked.unnamed += 1,
            }
            if let Some(rule) = check_rule(&mut sources[file], raw_rule, known) {
                let offset = raw_rule
                    .name
                    .as_ref()
                    .map_or(raw_rule.at.start, |n| n.span().start);
                checked.located.push(Location { file, offset });
                checked.examples.push(&raw_rule.examples_match);
                checked.rules.push(rule);
            }
        }
    }
    checked
}

fn check_tests(
    raws: &[Option<RawFile>],
    sources: &mut [Source<'_>],
    rule_names: &BTreeMap<String, Location>,
    names_complete: bool,
) -> (Vec<RuleTest>, Vec<Location>) {
    let mut tests = Vec::new();
    let mut locations = Vec::new();
    for (file, raw) in raws.iter().enumerate() {
        for raw_test in raw.iter().flat_map(|r| &r.tests) {
            let known = test::Names {
                rules: rule_names,
                complete: names_complete,
            };
            if let Some(test) = test::check_test(&mut sources[file], raw_test, &known) {
                let offset = raw_test
                    .name
                    .as_ref()
                    .map_or(raw_test.at.start, |n| n.span().start);
                locations.push(Location { file, offset });
                tests.push(test);
            }
        }
    }
    (tests, locations)
}

/// Where a name was first defined: file index and byte offset.
#[derive(Debug, Clone, Copy)]
struct Location {
    file: usize,
    offset: usize,
}

impl Location {
    fn describe(&self, sources: &[Source<'_>]) -> String {
        let p = sources[self.file].problem_at(self.offset, "");
        format!("{}:{}:{}", p.file.display(), p.line, p.column)
    }
}

/// The teams and schedules rules may refer to.
struct Known<'a> {
    /// Valid teams.
    defined: &'a BTreeMap<String, Team>,
    /// Every team name written, valid or not (an invalid team is reported once, not per use).
    names: &'a BTreeMap<String, Location>,
    /// Valid schedules.
    schedules: &'a BTreeMap<String, Arc<Schedule>>,
    /// Every schedule name written, valid or not.
    schedule_names: &'a BTreeMap<String, Location>,
    /// Whether unknown names can be reported (all files parsed).
    check: bool,
}

fn duration(source: &mut Source<'_>, text: &Text, what: &str) -> Option<Duration> {
    match humantime::parse_duration(text.get_ref()) {
        Ok(d) => Some(d),
        Err(e) => {
            let message = format!("{what} {:?} is not a duration: {e}", text.get_ref());
            source.report(text.span().start, message, Some(DURATION_HINT.into()));
            None
        }
    }
}

fn check_team(source: &mut Source<'_>, raw: &RawTeam) -> Option<Team> {
    let name = raw.name.get_ref();
    let before = source.count();
    let mut agents = Vec::new();
    for agent in raw.agents.iter().flat_map(|a| a.get_ref()) {
        if agent.get_ref().trim().is_empty() {
            source.report(
                agent.span().start,
                format!("an agent id in [team.{name}] is empty"),
                None,
            );
        }
        agents.push(agent.get_ref().clone());
    }
    if let Some(skill) = &raw.skill {
        if skill.get_ref().trim().is_empty() {
            source.report(
                skill.span().start,
                format!("the skill of [team.{name}] is empty"),
                None,
            );
        }
    }
    if agents.is_empty() && raw.skill.is_none() && !raw.damaged {
        let at = raw
            .agents
            .as_ref()
            .map_or(raw.name.span().start, |a| a.span().start);
        let hint = "add `agents = [\"agent-id\", …]` or `skill = \"Skill name\"`";
        source.report(
            at,
            format!("[team.{name}] has neither agents nor a skill to hand chats to"),
            Some(hint.into()),
        );
    }
    let wait = match &raw.wait {
        None => DEFAULT_WAIT,
        Some(text) => {
            let wait = duration(source, text, "`wait`");
            if wait == Some(Duration::ZERO) {
                source.report(
                    text.span().start,
                    "`wait` must be longer than 0s",
                    Some(DURATION_HINT.into()),
                );
            }
            wait?
        }
    };
    let mode = team_mode(source, raw);
    let resume = raw.resume.as_ref().is_some_and(|r| *r.get_ref());
    if let Some(flag) = &raw.resume
        && mode == Some(TeamMode::Transfer)
    {
        source.report(
            flag.span().start,
            format!("`resume` in [team.{name}] only means something with `mode = \"conference\"`"),
            Some("add `mode = \"conference\"`, or remove `resume`".into()),
        );
    }
    (source.count() == before).then(|| Team {
        name: name.clone(),
        agents,
        skill: raw.skill.as_ref().map(|s| s.get_ref().clone()),
        wait,
        mode: mode.unwrap_or_default(),
        resume,
    })
}

/// A team's `mode`: `"transfer"` (the default) or `"conference"`.
fn team_mode(source: &mut Source<'_>, raw: &RawTeam) -> Option<TeamMode> {
    let name = raw.name.get_ref();
    match raw.mode.as_ref().map(|m| (m, m.get_ref().trim())) {
        None | Some((_, "transfer")) => Some(TeamMode::Transfer),
        Some((_, "conference")) => Some(TeamMode::Conference),
        Some((text, other)) => {
            source.report(
                text.span().start,
                format!("[team.{name}] has an unknown `mode` {other:?}"),
                Some("write `mode = \"transfer\"` (the agent takes the chat) or `mode = \"conference\"` (the agent joins next to the bot)".into()),
            );
            None
        }
    }
}

/// Byte offset in the file of byte `inner` of a string value, when the value is written
/// without escapes (else the start of the value).
fn offset_in_string(source: &Source<'_>, span: &Range<usize>, value: &str, inner: usize) -> usize {
    let written = &source.text[span.clone()];
    let quotes = if written.starts_with("\"\"\"") || written.starts_with("'''") {
        3
    } else {
        1
    };
    let body = written
        .get(quotes..written.len().saturating_sub(quotes))
        .unwrap_or("");
    let (skip, body) = match body.strip_prefix('\n') {
        Some(rest) if quotes == 3 => (1, rest),
        _ => (0, body),
    };
    if body == value {
        span.start + quotes + skip + inner
    } else {
        span.start
    }
}

/// Report a schedule name that no `[schedule.NAME]` defines (when all files could be read).
fn unknown_schedule(
    source: &mut Source<'_>,
    known: &Known<'_>,
    at: usize,
    name: &str,
    label: &str,
) {
    if !known.check || known.schedule_names.contains_key(name) {
        // Unreadable files may define it; an invalid schedule has its own problem.
        return;
    }
    let hint = did_you_mean(
        name,
        known.schedule_names.keys().map(String::as_str),
        "defined schedules",
    );
    source.report(
        at,
        format!("unknown schedule {name:?} in {label}"),
        Some(hint),
    );
}
