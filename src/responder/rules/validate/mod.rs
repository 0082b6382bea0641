//! From raw rule files to a checked [`RuleSet`], collecting every problem across all files.
//!
//! `raw` has already reported wrong types and unknown keys; here the values are checked for
//! meaning: names present and unique across the directory, known triggers, durations,
//! regexes, placeholders, team references and the rules' own examples.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::responder::{Team, TeamMode};
use crate::schedule::Schedule;

use super::RuleSet;
use super::problem::{Problem, Problems, Source};
use super::raw::{self, RawFile, RawTeam, Text};

mod rule;
mod schedule;
mod shadow;
mod test;
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
/// (e.g. unreadable files) and make the load fail too.
pub(super) fn check(files: &[(&Path, &str)], problems: Vec<Problem>) -> Result<RuleSet, Problems> {
    let mut sources: Vec<Source<'_>> = files
        .iter()
        .map(|&(path, text)| Source::new(path, text))
        .collect();
    let raws: Vec<Option<RawFile>> = sources.iter_mut().map(raw::read).collect();
    // A file that is unreadable or not valid TOML may define teams we cannot see: only
    // report unknown teams when every file could be read.
    let all_parsed = problems.is_empty() && raws.iter().all(Option::is_some);

    let mut teams: BTreeMap<String, Team> = BTreeMap::new();
    let mut team_names: BTreeMap<String, Location> = BTreeMap::new();
    for (file, raw) in raws.iter().enumerate() {
        for raw_team in raw.iter().flat_map(|r| &r.teams) {
            let name = raw_team.name.get_ref();
            let location = Location {
                file,
                offset: raw_team.name.span().start,
            };
            if let Some(first) = team_names.get(name) {
                let message = format!(
                    "the team `{name}` is already defined at {}",
                    first.describe(&sources)
                );
                let hint = Some("give each team its own name".to_owned());
                sources[file].report(location.offset, message, hint);
                continue;
            }
            team_names.insert(name.clone(), location);
            if let Some(team) = check_team(&mut sources[file], raw_team) {
                teams.insert(name.clone(), team);
            }
        }
    }

    let mut schedules: BTreeMap<String, Arc<Schedule>> = BTreeMap::new();
    let mut schedule_names: BTreeMap<String, Location> = BTreeMap::new();
    for (file, raw) in raws.iter().enumerate() {
        for raw_schedule in raw.iter().flat_map(|r| &r.schedules) {
            let name = raw_schedule.name.get_ref();
            let location = Location {
                file,
                offset: raw_schedule.name.span().start,
            };
            if let Some(first) = schedule_names.get(name) {
                let message = format!(
                    "the schedule `{name}` is already defined at {}",
                    first.describe(&sources)
                );
                let hint = Some("give each schedule its own name".to_owned());
                sources[file].report(location.offset, message, hint);
                continue;
            }
            schedule_names.insert(name.clone(), location);
            if let Some(schedule) = check_schedule(&mut sources[file], raw_schedule) {
                schedules.insert(name.clone(), Arc::new(schedule));
            }
        }
    }

    let mut rules = Vec::new();
    let mut located = Vec::new();
    let mut rule_names: BTreeMap<String, Location> = BTreeMap::new();
    let known = Known {
        defined: &teams,
        names: &team_names,
        schedules: &schedules,
        schedule_names: &schedule_names,
        check: all_parsed,
    };
    for (file, raw) in raws.iter().enumerate() {
        for raw_rule in raw.iter().flat_map(|r| &r.rules) {
            if let Some(name) = &raw_rule.name {
                let location = Location {
                    file,
                    offset: name.span().start,
                };
                if let Some(first) = rule_names.get(name.get_ref()) {
                    let first = first.describe(&sources);
                    let message = format!(
                        "the rule name {:?} is already used at {first}",
                        name.get_ref()
                    );
                    let hint = Some("give each rule its own name".to_owned());
                    sources[file].report(location.offset, message, hint);
                } else {
                    rule_names.insert(name.get_ref().clone(), location);
                }
            }
            if let Some(rule) = check_rule(&mut sources[file], raw_rule, &known) {
                let offset = raw_rule
                    .name
                    .as_ref()
                    .map_or(raw_rule.at.start, |n| n.span().start);
                located.push(Location { file, offset });
                rules.push(rule);
            }
        }
    }
    if problems.is_empty() && sources.iter().all(|s| s.count() == 0) {
        // Shadowing is only judged on sound rules: a broken rule's condition may be missing.
        shadow::check(&rules, &located, &mut sources);
    }

    let mut tests = Vec::new();
    let mut test_locations = Vec::new();
    for (file, raw) in raws.iter().enumerate() {
        for raw_test in raw.iter().flat_map(|r| &r.tests) {
            if let Some(test) = test::check_test(&mut sources[file], raw_test, &rule_names) {
                test_locations.push(Location {
                    file,
                    offset: raw_test
                        .name
                        .as_ref()
                        .map_or(raw_test.at.start, |n| n.span().start),
                });
                tests.push(test);
            }
        }
    }

    let no_rules = rules.is_empty();
    let clean = problems.is_empty() && sources.iter().all(|s| s.count() == 0) && !no_rules;
    let set = RuleSet::new(rules, teams, schedules, tests, files.len());
    if clean {
        // Tests only run against a set without problems: their failures would be noise.
        for (test, location) in set.tests().iter().zip(&test_locations) {
            if let Err(failure) = super::conversation::run_test(&set, test) {
                sources[location.file].report(location.offset, failure.message, failure.hint);
            }
        }
    }
    let mut problems = problems;
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
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    Ok(set)
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
    let mode = match raw.mode.as_ref().map(|m| (m, m.get_ref().trim())) {
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
    };
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
