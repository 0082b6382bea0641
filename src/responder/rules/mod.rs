//! The `rules` responder: answers from rule files written by supervisors.
//!
//! A rules directory (`*.toml`, in name order; see `/work/shared/rules-format.md`) is loaded
//! into a [`RuleSet`]: `raw` reads the TOML with spans, `validate` checks the values and
//! compiles everything (keywords, regexes, templates, teams), and every problem in every file
//! is reported at once as [`Problems`], each with file:line:column. A loaded set is
//! immutable; [`RulesResponder`] evaluates the current set behind an `ArcSwap`, so a reload
//! swaps the whole set atomically.

mod matcher;
mod problem;
mod raw;
mod rule;
mod template;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use async_trait::async_trait;

use super::{ChatView, Outcome, Responder, Response, Team, Then, Trigger};
use matcher::Text;
pub use problem::{Problem, Problems};
use rule::{On, Rule};

/// Rule files larger than this are refused (a rule directory is a few kilobytes).
pub const MAX_FILE_SIZE: u64 = 1 << 20;

/// A checked, compiled set of rules and teams, ready to evaluate.
#[derive(Debug)]
pub struct RuleSet {
    accept: Vec<Rule>,
    message: Vec<Rule>,
    no_match: Vec<Rule>,
    teams: BTreeMap<String, Team>,
    files: usize,
}

/// How much a rule set holds; displays like "3 files, 12 rules, 2 teams".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub rules: usize,
    pub teams: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        write!(
            f,
            "{}, {}, {}",
            plural(self.files, "file"),
            plural(self.rules, "rule"),
            plural(self.teams, "team")
        )
    }
}

impl RuleSet {
    fn new(rules: Vec<Rule>, teams: BTreeMap<String, Team>, files: usize) -> Self {
        let mut set = RuleSet {
            accept: Vec::new(),
            message: Vec::new(),
            no_match: Vec::new(),
            teams,
            files,
        };
        for rule in rules {
            match rule.on {
                On::Accept => set.accept.push(rule),
                On::Message => set.message.push(rule),
                On::NoMatch => set.no_match.push(rule),
            }
        }
        set
    }

    /// Load every `*.toml` file of `dir` in name order (`README*` and hidden files are
    /// ignored). A missing or unreadable directory, an empty one, unreadable, oversized
    /// or non-UTF-8 files are problems like any other. Blocking file I/O: call from
    /// `spawn_blocking` in async code.
    pub fn load_dir(dir: &Path) -> Result<RuleSet, Problems> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            Problems(vec![Problem::whole(
                dir,
                format!("cannot read the rules directory: {e}"),
            )])
        })?;
        let mut problems = Vec::new();
        let mut paths = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let wanted = name.ends_with(".toml")
                        && !name.starts_with("README")
                        && !name.starts_with('.');
                    // `metadata` follows symlinks: a linked rule file counts, a directory does not.
                    if wanted && std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
                        paths.push(entry.path());
                    }
                }
                Err(e) => problems.push(Problem::whole(
                    dir,
                    format!("cannot list the rules directory: {e}"),
                )),
            }
        }
        paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
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
        validate::check(&sources, problems)
    }

    /// Check rule files given as (path, text), in the order given. The paths are only used
    /// in problems.
    pub fn from_sources(files: &[(PathBuf, String)]) -> Result<RuleSet, Problems> {
        let mut problems = Vec::new();
        let mut sources = Vec::with_capacity(files.len());
        for (path, text) in files {
            if text.len() as u64 > MAX_FILE_SIZE {
                problems.push(too_large(path, text.len() as u64));
            } else {
                sources.push((path.as_path(), text.as_str()));
            }
        }
        validate::check(&sources, problems)
    }

    /// Decide what the rules do about `trigger` in `chat`: the first rule that applies acts
    /// and stops the search, unless it says `continue = true`. A message no `message` rule
    /// acted on goes to the `no_match` rules, which see `unanswered` including this message.
    pub fn evaluate(&self, chat: &ChatView<'_>, trigger: &Trigger) -> Outcome {
        let mut response = Response::default();
        match trigger {
            Trigger::Accepted => run(&self.accept, chat, None, chat.unanswered, &mut response),
            Trigger::Message { text } => {
                let text = Text::new(text);
                run(
                    &self.message,
                    chat,
                    Some(&text),
                    chat.unanswered,
                    &mut response,
                );
                response.matched = !response.acted.is_empty();
                if !response.matched {
                    let unanswered = chat.unanswered.saturating_add(1);
                    run(&self.no_match, chat, Some(&text), unanswered, &mut response);
                }
            }
        }
        if response.acted.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Act(response)
        }
    }

    /// The team called `name`, if the rule files define it.
    pub fn team(&self, name: &str) -> Option<&Team> {
        self.teams.get(name)
    }

    /// How many files, rules and teams this set holds.
    pub fn summary(&self) -> Summary {
        Summary {
            files: self.files,
            rules: self.accept.len() + self.message.len() + self.no_match.len(),
            teams: self.teams.len(),
        }
    }
}

/// Try `rules` in order, letting each that applies act, until one without `continue`.
fn run(
    rules: &[Rule],
    chat: &ChatView<'_>,
    text: Option<&Text<'_>>,
    unanswered: u32,
    response: &mut Response,
) {
    for rule in rules {
        if !rule.applies(chat, text, unanswered) {
            continue;
        }
        rule.act(chat, &mut response.actions);
        if rule.then != Then::Stay {
            response.then = rule.then.clone();
        }
        response.acted.push(rule.name.clone());
        if !rule.cont {
            break;
        }
    }
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
}

impl RulesResponder {
    /// A responder evaluating whatever set `rules` holds at each message.
    pub fn new(rules: Arc<ArcSwap<RuleSet>>) -> Self {
        RulesResponder { rules }
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
        let outcome = rules.evaluate(chat, trigger);
        if let Outcome::Act(response) = &outcome {
            tracing::debug!(chat_id = %chat.id, rules = ?response.acted, "rules acted");
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_problems;
