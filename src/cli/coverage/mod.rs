//! `gws-botd coverage`: from the decision log (every file, rotated ones included), how often
//! each live and shadow rule acted in a window, which rules did not fire and which can never
//! fire, the share of customer messages no `message` rule matched per day, and where the
//! shadow rules disagree with the live ones. A supervisor reads it before and after a change
//! of the rules; `--json` gives the same for scripts (`docs/reports.md` documents the fields).

mod report;
mod responders;
mod table;
mod tally;

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::cli::{EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::config::Target;
use crate::responder::rules::RuleSet;
pub use report::{JSON_VERSION, Report, Sets};
pub use responders::ResponderRow;
pub use tally::{DayCount, ResponderCount, Tally};

/// What `gws-botd coverage` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// The live rules (default: `bot.rules` of the configuration).
    pub rules: Option<PathBuf>,
    /// The shadow rules (default: `shadow.rules` of the configuration, if any).
    pub shadow_rules: Option<PathBuf>,
    /// Where the decision log is (default: the configuration's state directory).
    pub state_dir: Option<PathBuf>,
    /// How far back the window reaches.
    pub since: Duration,
    pub json: bool,
    /// The responder names of the chain, in order, which passes are counted from (default:
    /// the `[[responder]]` entries of the configuration, else the rule files alone).
    pub chain: Option<Vec<String>>,
}

/// Run the command at `now`: print the report, or the problem, and return the exit code.
pub fn command(target: &Target, request: &Request, now: Timestamp) -> u8 {
    match report(target, request, now) {
        Ok(report) if request.json => {
            print!("{}", report.json());
            EXIT_OK
        }
        Ok(report) => {
            print!("{}", report.text());
            EXIT_OK
        }
        Err((code, why)) => {
            eprintln!("{why}");
            code
        }
    }
}

/// The report, or an exit code and why there is none.
pub fn report(target: &Target, request: &Request, now: Timestamp) -> Result<Report, (u8, String)> {
    let from = SignedDuration::try_from(request.since)
        .ok()
        .and_then(|since| now.checked_sub(since).ok())
        .ok_or_else(|| (EXIT_USAGE, "--since: that reaches too far back".to_owned()))?;
    let live_dir = request
        .rules
        .clone()
        .or_else(|| target.rules_dir())
        .ok_or_else(|| {
            let why = format!(
                "no rules directory: give --rules DIR, or a configuration ({}) with bot.rules",
                target.describe()
            );
            (EXIT_USAGE, why)
        })?;
    let live = load(&live_dir, "")?;
    let shadow_dir = request
        .shadow_rules
        .clone()
        .or_else(|| shadow_rules_of(target));
    let shadow = match &shadow_dir {
        Some(dir) => Some(load(dir, "shadow ")?),
        None => None,
    };
    let state_dir = request
        .state_dir
        .clone()
        .unwrap_or_else(|| target.state_dir());
    let chain = request.chain.clone().unwrap_or_else(|| chain_of(target));
    let tally = Tally::read(&state_dir, chain, from, now).map_err(|e| {
        let why = format!(
            "cannot read the decision log in {}: {e} (give the state directory with --state-dir)",
            state_dir.display()
        );
        (EXIT_FAILURE, why)
    })?;
    if tally.files == 0 {
        let why = format!(
            "no decision log in {} (no {} files; is [decision_log] enabled, and is this the \
             bot's bot.state_dir? give it with --state-dir)",
            state_dir.display(),
            crate::store::decision_log::FILE_NAME
        );
        return Err((EXIT_FAILURE, why));
    }
    let sets = Sets {
        live: (&live, live_dir.display().to_string()),
        shadow: shadow
            .as_ref()
            .zip(shadow_dir.as_ref())
            .map(|(set, dir)| (set, dir.display().to_string())),
        state_dir: state_dir.display().to_string(),
    };
    Ok(Report::new(&tally, &sets, from, now))
}

/// A rule set, or its problems and exit 78. Its `[[test]]` blocks do not run: coverage
/// counts what happened, whether or not today's tests pass.
fn load(dir: &Path, which: &str) -> Result<RuleSet, (u8, String)> {
    RuleSet::load_dir_untested(dir).map_err(|problems| {
        let why = format!(
            "the {which}rules in {} do not load:\n{problems}",
            dir.display()
        );
        (EXIT_CONFIG, why)
    })
}

/// `[shadow] rules` of the configuration (or `GWS_BOTD__SHADOW__RULES`), read leniently like
/// [`Target::rules_dir`].
fn shadow_rules_of(target: &Target) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(format!("{}__SHADOW__RULES", crate::config::ENV_PREFIX)) {
        return Some(PathBuf::from(dir));
    }
    std::fs::read_to_string(&target.path)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| t.get("shadow")?.get("rules")?.as_str().map(PathBuf::from))
}

/// The responder names of `[[responder]]` in the configuration (`name`, else `type`), read
/// leniently like [`Target::rules_dir`]; without any (or without a readable configuration),
/// the chain of the rule files alone.
fn chain_of(target: &Target) -> Vec<String> {
    let names: Vec<String> = std::fs::read_to_string(&target.path)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| t.get("responder")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|entry| {
            let name = entry.get("name").or_else(|| entry.get("type"))?;
            name.as_str().map(str::to_owned)
        })
        .collect();
    if names.is_empty() {
        vec![tally::OLD_RESPONDER.to_owned()]
    } else {
        names
    }
}

#[cfg(test)]
mod tests;
