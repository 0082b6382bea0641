//! The `rules` responder: answers from rule files written by supervisors.
//!
//! A rules directory (`*.toml`, in name order; see `docs/rules.md`) is loaded
//! into a [`RuleSet`]: `raw` reads the TOML with spans, `validate` checks the values and
//! compiles everything (keywords, regexes, templates, teams), and every problem in every file
//! is reported at once as [`Problems`], each with file:line:column. The `[[test]]` blocks of
//! the files then run against the new set (`conversation`); a set whose tests fail is not
//! loaded. A loaded set is immutable; [`RulesResponder`] evaluates the current set behind an
//! `ArcSwap`, so a reload swaps the whole set atomically.

pub(crate) mod conversation;
mod matcher;
pub(crate) mod override_message;
mod pattern;
mod problem;
mod raw;
mod rule;
mod template;
mod validate;
pub mod watch;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use async_trait::async_trait;

use super::{ChatView, Outcome, Responder, Response, Team, Then, Trigger};
use crate::schedule::Schedule;
use crate::schedule::overrides::{self, Override};
use matcher::{Index, Text};
pub use problem::{Problem, Problems};
use rule::{Env, On, Rule, Try};
pub use validate::{NeverActs, RuleName, RuleTest, parse_time as parse_test_time};

/// Rule files larger than this are refused (a rule directory is a few kilobytes).
pub const MAX_FILE_SIZE: u64 = 1 << 20;
/// A rules directory with more rule files than this is refused.
pub const MAX_FILES: usize = 1_000;
/// A rule set with more rules than this is refused.
pub const MAX_RULES: usize = 100_000;

/// A checked, compiled set of rules and teams, ready to evaluate.
#[derive(Debug)]
pub struct RuleSet {
    accept: Vec<Rule>,
    message: Vec<Rule>,
    /// All `message` rules' matchers, for one pass per message.
    index: Index,
    no_match: Vec<Rule>,
    idle: Vec<Rule>,
    /// The `after` of every `idle` rule, shortest first: computed once per load.
    idle_after: Arc<[std::time::Duration]>,
    escalation_failed: Vec<Rule>,
    teams: BTreeMap<String, Team>,
    schedules: BTreeMap<String, Arc<Schedule>>,
    tests: Vec<RuleTest>,
    /// Whether the tests ran (and passed) when the set was loaded.
    tested: bool,
    files: usize,
}

/// One rule tried for `--explain`: whether it acted, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    /// The trigger whose rules were tried (`message`, `no_match`, …).
    pub on: &'static str,
    pub rule: String,
    /// `Ok` when it acted; else why it did not.
    pub result: Result<(), String>,
}

/// How much a rule set holds; displays like "3 files, 12 rules, 2 teams".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub rules: usize,
    pub teams: usize,
    pub schedules: usize,
    pub tests: usize,
    /// Whether the tests ran and passed (the display says "N tests passed", else "N tests").
    pub tested: bool,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        write!(
            f,
            "{}, {}, {}, {}, {}{}",
            plural(self.files, "file"),
            plural(self.rules, "rule"),
            plural(self.teams, "team"),
            plural(self.schedules, "schedule"),
            plural(self.tests, "test"),
            if self.tested { " passed" } else { "" }
        )
    }
}

impl RuleSet {
    fn new(
        rules: Vec<Rule>,
        teams: BTreeMap<String, Team>,
        schedules: BTreeMap<String, Arc<Schedule>>,
        tests: Vec<RuleTest>,
        tested: bool,
        files: usize,
    ) -> Self {
        let mut set = RuleSet {
            accept: Vec::new(),
            message: Vec::new(),
            index: Index::new(&[]),
            no_match: Vec::new(),
            idle: Vec::new(),
            idle_after: Arc::from(Vec::new()),
            escalation_failed: Vec::new(),
            teams,
            schedules,
            tests,
            tested,
            files,
        };
        for rule in rules {
            match rule.on {
                On::Accept => set.accept.push(rule),
                On::Message => set.message.push(rule),
                On::NoMatch => set.no_match.push(rule),
                On::Idle => set.idle.push(rule),
                On::EscalationFailed => set.escalation_failed.push(rule),
            }
        }
        let matchers: Vec<_> = set
            .message
            .iter()
            .filter_map(|r| r.matcher.as_ref())
            .collect();
        set.index = Index::new(&matchers);
        let mut after: Vec<_> = set.idle.iter().map(|r| r.after).collect();
        after.sort();
        after.dedup();
        set.idle_after = Arc::from(after);
        set
    }

    /// Load every `*.toml` file of `dir` in name order (`README*` and hidden files are
    /// ignored). A missing or unreadable directory, an empty one, unreadable, oversized
    /// or non-UTF-8 files are problems like any other, and so is a failing `[[test]]`.
    /// Blocking file I/O: call from `spawn_blocking` in async code.
    pub fn load_dir(dir: &Path) -> Result<RuleSet, Problems> {
        Self::load_dir_with(dir, true)
    }

    /// Like [`RuleSet::load_dir`], but without running the `[[test]]` blocks: for
    /// `gws-botd simulate`, which replays a failing test to show why it fails.
    pub fn load_dir_untested(dir: &Path) -> Result<RuleSet, Problems> {
        Self::load_dir_with(dir, false)
    }

    fn load_dir_with(dir: &Path, run_tests: bool) -> Result<RuleSet, Problems> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            Problems(vec![Problem::whole(
                dir,
                format!("cannot read the rules directory: {e}"),
            )])
        })?;
        let mut problems = Vec::new();
        let mut paths = Vec::new();
        // Symbolic links must stay inside the directory (as Kubernetes ConfigMap links do).
        let inside = std::fs::canonicalize(dir).ok();
        for entry in entries {
            match entry {
                Ok(entry) => {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let wanted = name.ends_with(".toml")
                        && !name.starts_with("README")
                        && !name.starts_with('.');
                    if !wanted {
                        continue;
                    }
                    let path = entry.path();
                    let link = entry.file_type().is_ok_and(|t| t.is_symlink());
                    if link && !link_stays_inside(&path, inside.as_deref()) {
                        problems.push(outside_link(&path));
                        continue;
                    }
                    // `metadata` follows symlinks: a linked rule file counts, a directory does not.
                    if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                        paths.push(path);
                    }
                }
                Err(e) => problems.push(Problem::whole(
                    dir,
                    format!("cannot list the rules directory: {e}"),
                )),
            }
        }
        paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        if paths.len() > MAX_FILES {
            return Err(Problems(vec![too_many_files(dir, paths.len())]));
        }
        if paths.is_empty() && problems.is_empty() {
            let problem = Problem::whole(dir, format!("no rule files in {}", dir.display()))
                .with_hint("rule files end in `.toml`, for example `10-greeting.toml`");
            return Err(Problems(vec![problem]));
        }
        let mut files = Vec::new();
        for path in paths {
            match read_file(&path) {
                Ok(text) => files.push((path, text)),
                Err(problem) => problems.push(problem),
            }
        }
        let sources: Vec<_> = files
            .iter()
            .map(|(p, t)| (p.as_path(), t.as_str()))
            .collect();
        within_limits(dir, validate::check(&sources, problems, run_tests)?)
    }

    /// Check rule files given as (path, text), in the order given. The paths are only used
    /// in problems.
    pub fn from_sources(files: &[(PathBuf, String)]) -> Result<RuleSet, Problems> {
        let mut problems = Vec::new();
        let mut sources = Vec::with_capacity(files.len());
        let dir = files
            .first()
            .and_then(|(p, _)| p.parent())
            .unwrap_or(Path::new("."));
        if files.len() > MAX_FILES {
            return Err(Problems(vec![too_many_files(dir, files.len())]));
        }
        for (path, text) in files {
            if text.len() as u64 > MAX_FILE_SIZE {
                problems.push(too_large(path, text.len() as u64));
            } else {
                sources.push((path.as_path(), text.as_str()));
            }
        }
        within_limits(dir, validate::check(&sources, problems, true)?)
    }

    /// Decide what the rules do about `trigger` in `chat` (no override in force).
    pub fn evaluate(&self, chat: &ChatView<'_>, trigger: &Trigger) -> Outcome {
        self.evaluate_traced(chat, trigger, None, None)
    }

    /// Decide what the rules do about `trigger` in `chat`: the first rule that applies acts
    /// and stops the search, unless it says `continue = true`. A message no `message` rule
    /// acted on goes to the `no_match` rules, which see `unanswered` including this message.
    /// While the bot awaits an answer, the rules with that `when.awaiting` come first.
    /// `active` is the emergency override in force; `trace` collects every rule tried.
    pub fn evaluate_traced(
        &self,
        chat: &ChatView<'_>,
        trigger: &Trigger,
        active: Option<&Override>,
        trace: Option<&mut Vec<Tried>>,
    ) -> Outcome {
        let env = Env {
            now: chat.now,
            active,
            schedules: &self.schedules,
        };
        let plain = Try {
            unanswered: chat.unanswered,
            ..Try::default()
        };
        let mut pass = Pass {
            chat,
            env: &env,
            response: Response::default(),
            trace,
        };
        match trigger {
            Trigger::Accepted => pass.run("accept", &self.accept, None, &|_| plain),
            Trigger::Message { text } => self.evaluate_message(&mut pass, text, plain),
            Trigger::Idle { silent } => {
                let tried = Try {
                    silent: Some(*silent),
                    ..plain
                };
                pass.run("idle", &self.idle, None, &|_| tried);
            }
            Trigger::EscalationFailed => {
                pass.run("escalation_failed", &self.escalation_failed, None, &|_| {
                    plain
                })
            }
        }
        if pass.response.acted.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Act(pass.response)
        }
    }

    /// The `message` rules for `text`, then the `no_match` rules if none acted.
    fn evaluate_message(&self, pass: &mut Pass<'_, '_>, text: &str, plain: Try<'_>) {
        let awaiting = pass.chat.awaiting.is_some();
        let message = Text::new(text);
        let hits = self.index.matches(&message);
        let tried = |i: usize| Try {
            matched: Some(hits.binary_search(&i).is_ok()),
            text: Some(text),
            ..plain
        };
        // Without a trace, only rules whose `match` matched can act: try just those.
        let candidates = (pass.trace.is_none()).then_some(hits.as_slice());
        let order = awaiting.then(|| awaiting_first(&self.message, candidates));
        pass.run(
            "message",
            &self.message,
            order.as_deref().or(candidates),
            &tried,
        );
        pass.response.matched = !pass.response.acted.is_empty();
        if !pass.response.matched {
            let tried = Try {
                unanswered: pass.chat.unanswered.saturating_add(1),
                text: Some(text),
                ..plain
            };
            let order = awaiting.then(|| awaiting_first(&self.no_match, None));
            pass.run("no_match", &self.no_match, order.as_deref(), &|_| tried);
        }
    }

    /// The `after` of every `idle` rule, shortest first.
    pub fn idle_timeouts(&self) -> Arc<[std::time::Duration]> {
        self.idle_after.clone()
    }

    /// The schedule called `name`, if the rule files define it.
    pub fn schedule(&self, name: &str) -> Option<&Schedule> {
        self.schedules.get(name).map(|s| s.as_ref())
    }

    /// All schedules, by name.
    pub fn schedules(&self) -> impl Iterator<Item = &Schedule> {
        self.schedules.values().map(|s| s.as_ref())
    }

    /// The `[[test]]` blocks of the files (all passed when the set was loaded with its tests).
    pub fn tests(&self) -> &[RuleTest] {
        &self.tests
    }

    /// The team called `name`, if the rule files define it.
    pub fn team(&self, name: &str) -> Option<&Team> {
        self.teams.get(name)
    }

    /// How many files, rules and teams this set holds.
    pub fn summary(&self) -> Summary {
        Summary {
            files: self.files,
            rules: self.accept.len()
                + self.message.len()
                + self.no_match.len()
                + self.idle.len()
                + self.escalation_failed.len(),
            teams: self.teams.len(),
            schedules: self.schedules.len(),
            tests: self.tests.len(),
            tested: self.tested,
        }
    }
}

/// One evaluation of a trigger: what the rules see and what they have decided so far.
struct Pass<'p, 'c> {
    chat: &'p ChatView<'c>,
    env: &'p Env<'p>,
    response: Response,
    trace: Option<&'p mut Vec<Tried>>,
}

impl Pass<'_, '_> {
    /// Try `rules` in order (only those at the indices `only`, in that order, when given),
    /// letting each that applies act, until one without `continue`. `tried(i)` is what rule
    /// `i` is tried against.
    fn run<'t>(
        &mut self,
        on: &'static str,
        rules: &[Rule],
        only: Option<&[usize]>,
        tried: &dyn Fn(usize) -> Try<'t>,
    ) {
        let indices: Box<dyn Iterator<Item = usize>> = match only {
            Some(list) => Box::new(list.iter().copied()),
            None => Box::new(0..rules.len()),
        };
        for i in indices {
            let rule = &rules[i];
            let result = rule.check(self.chat, self.env, tried(i));
            if let Some(trace) = self.trace.as_deref_mut() {
                trace.push(Tried {
                    on,
                    rule: rule.name.clone(),
                    result: result.clone(),
                });
            }
            if result.is_err() {
                continue;
            }
            let response = &mut self.response;
            if let Some(topic) = rule.act(self.chat, self.env, tried(i), &mut response.actions) {
                response.awaiting = Some(topic.to_owned());
            }
            if rule.then != Then::Stay {
                response.then = rule.then.clone();
            }
            response.acted.push(rule.name.clone());
            if !rule.cont {
                break;
            }
        }
    }
}

/// The indices of `rules` (or of `only`) with the `when.awaiting` rules first, each group in
/// its own order.
fn awaiting_first(rules: &[Rule], only: Option<&[usize]>) -> Vec<usize> {
    let all: Vec<usize> = only.map_or_else(|| (0..rules.len()).collect(), <[usize]>::to_vec);
    let (mut first, rest): (Vec<usize>, Vec<usize>) =
        all.into_iter().partition(|&i| rules[i].awaiting.is_some());
    first.extend(rest);
    first
}

/// Whether the symbolic link at `path` resolves to a place inside the directory whose
/// canonical path is `inside`.
fn link_stays_inside(path: &Path, inside: Option<&Path>) -> bool {
    match (std::fs::canonicalize(path), inside) {
        (Ok(target), Some(inside)) => target.starts_with(inside),
        _ => false,
    }
}

/// A rule-file link that leads out of the rules directory. Neither the target nor its
/// content is shown: the link may point at a credential.
fn outside_link(path: &Path) -> Problem {
    Problem::whole(
        path,
        "this symbolic link leads outside the rules directory (or nowhere); it is not read",
    )
    .with_hint(
        "copy the rule file into the rules directory, or link only to files inside it \
         (as Kubernetes ConfigMap volumes do)",
    )
}

fn too_many_files(dir: &Path, n: usize) -> Problem {
    Problem::whole(
        dir,
        format!("{n} rule files; a rules directory may hold at most {MAX_FILES}"),
    )
    .with_hint("merge rules into fewer files")
}

/// A loaded set within the limits on rules and regular expressions, or the problem.
fn within_limits(dir: &Path, set: RuleSet) -> Result<RuleSet, Problems> {
    let rules = set.summary().rules;
    if rules > MAX_RULES {
        let problem = Problem::whole(
            dir,
            format!("{rules} rules; a rule set may have at most {MAX_RULES}"),
        )
        .with_hint("remove rules that never act (`gws-botd check` reports shadowed ones)");
        return Err(Problems(vec![problem]));
    }
    let sizes = regex_sizes(&set);
    let total: usize = sizes.iter().map(|(_, size)| size).sum();
    if set.index.too_large() || total > matcher::REGEX_SET_SIZE_LIMIT {
        return Err(Problems(vec![regexes_too_large(dir, sizes)]));
    }
    Ok(set)
}

/// The compiled size of every regex of `set` (`match.regex` and `when.user_data`), largest
/// first, with its rule's name (names are unique in a set).
fn regex_sizes(set: &RuleSet) -> Vec<(&str, usize)> {
    let mut sizes: Vec<(&str, usize)> = Vec::new();
    for rule in &set.message {
        if let Some(regex) = rule.matcher.as_ref().and_then(|m| m.regex()) {
            sizes.push((&rule.name, regex.compiled_size()));
        }
    }
    let all = [
        &set.accept,
        &set.message,
        &set.no_match,
        &set.idle,
        &set.escalation_failed,
    ];
    for rule in all.into_iter().flatten() {
        for (_, condition) in &rule.user_data {
            if let rule::Condition::Matches(regex) = condition {
                // Measured as a pattern; it compiled as a regex under the same limit.
                let size = matcher::compile_pattern(regex.as_str())
                    .map_or(matcher::REGEX_SIZE_LIMIT, |p| p.compiled_size());
                sizes.push((&rule.name, size));
            }
        }
    }
    sizes.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    sizes
}

/// The regexes of a set together are over [`matcher::REGEX_SET_SIZE_LIMIT`]; names the rules
/// with the largest (`sizes` largest first).
fn regexes_too_large(dir: &Path, sizes: Vec<(&str, usize)>) -> Problem {
    let largest: Vec<String> = sizes
        .iter()
        .take(3)
        .map(|(rule, size)| format!("rule {rule:?} ({} KiB)", size.div_ceil(1024)))
        .collect();
    Problem::whole(
        dir,
        format!(
            "the regexes of all rules (`match.regex`, `when.user_data`) together compile to \
             more than {} MiB; the largest: {}",
            matcher::REGEX_SET_SIZE_LIMIT >> 20,
            largest.join(", ")
        ),
    )
    .with_hint("use keywords where they do, or simpler patterns (fewer `\\w{n}` repetitions)")
}

fn too_large(path: &Path, size: u64) -> Problem {
    Problem::whole(
        path,
        format!(
            "this file is too large ({size} bytes; rule files may have at most {MAX_FILE_SIZE})"
        ),
    )
    .with_hint("split the rules into several smaller files")
}

/// Read one rule file as UTF-8 text, refusing oversized files without reading them whole.
fn read_file(path: &Path) -> Result<String, Problem> {
    let unreadable =
        |e: std::io::Error| Problem::whole(path, format!("cannot read this file: {e}"));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        let size = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
        return Err(too_large(path, size));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let prefix = std::str::from_utf8(&e.as_bytes()[..valid]).unwrap_or_default();
        problem::Source::new(path, prefix)
            .problem_at(valid, "this file is not valid UTF-8 text")
            .with_hint("save the file as UTF-8 (\"Unicode\") in your editor")
    })
}

/// The `rules` responder: evaluates the current [`RuleSet`], which a reload may swap.
pub struct RulesResponder {
    rules: Arc<ArcSwap<RuleSet>>,
    overrides: Option<Arc<overrides::Watch>>,
}

impl RulesResponder {
    /// A responder evaluating whatever set `rules` holds at each message.
    pub fn new(rules: Arc<ArcSwap<RuleSet>>) -> Self {
        RulesResponder {
            rules,
            overrides: None,
        }
    }

    /// The same, consulting the emergency override file that `watch` follows.
    pub fn with_overrides(mut self, watch: Arc<overrides::Watch>) -> Self {
        self.overrides = Some(watch);
        self
    }
}

#[async_trait]
impl Responder for RulesResponder {
    fn name(&self) -> &str {
        "rules"
    }

    async fn respond(&self, chat: &ChatView<'_>, trigger: &Trigger) -> anyhow::Result<Outcome> {
        // One snapshot per trigger: a reload in between never mixes two rule sets.
        let rules = self.rules.load();
        let active = self.overrides.as_ref().and_then(|w| w.current(chat.now));
        let outcome = rules.evaluate_traced(chat, trigger, active.as_deref(), None);
        if let Outcome::Act(response) = &outcome {
            tracing::debug!(chat_id = %chat.id, rules = ?response.acted, "rules acted");
        }
        Ok(outcome)
    }

    fn idle_timeouts(&self) -> Arc<[std::time::Duration]> {
        self.rules.load().idle_timeouts()
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_format;
#[cfg(test)]
mod tests_problems;
#[cfg(test)]
mod tests_supervisor;
