//! `gws-botd simulate`: talk to a rule set without any server. Customer lines come from a
//! terminal (interactive) or from stdin / a transcript file (one message per line, batch);
//! each bot action is printed with the rule that produced it, the schedules' state and what a
//! hand-over would do. `--explain` lists every rule tried and why it did or did not act.
//!
//! Besides text, a line may be `/idle 2m` (the customer is silent that long) or
//! `/escalation_failed` (the hand-over found nobody). Empty lines and `#` comments are skipped.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::cli::{EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::event::UserData;
use crate::responder::rules::conversation::{Conversation, Line, Step, run_test};
use crate::responder::rules::{RuleSet, Summary, Tried};
use crate::responder::{Action, Team, TeamMode, Then};
use crate::schedule::overrides;

/// What `simulate` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub rules: PathBuf,
    /// The fixed time of the conversation (default: now).
    pub at: Option<String>,
    /// `KEY=VALUE` pairs of attached data.
    pub user_data: Vec<String>,
    pub explain: bool,
    /// The customer's nickname.
    pub customer: Option<String>,
    /// Consult the emergency override of this state directory.
    pub state_dir: Option<PathBuf>,
    /// A transcript file; stdin when absent or `-`.
    pub transcript: Option<PathBuf>,
}

/// Parse a point in time for the command line: with an offset (`2026-11-24T10:00:00+01:00`,
/// `…Z`), with a zone (`2026-11-24T10:00[Europe/Berlin]`), or a civil time in the system's
/// time zone (`2026-11-24T10:00`, `2026-11-24 10:00`).
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Some(ts) = crate::responder::rules::parse_test_time(text) {
        return Ok(ts);
    }
    text.replacen(' ', "T", 1)
        .parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::system()).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            format!(
                "{text:?} is not a point in time; write it like \"2026-11-24T10:00\" (local time), \"2026-11-24T10:00:00+01:00\" or \"2026-11-24T10:00[Europe/Berlin]\""
            )
        })
}

/// Run `simulate`, writing to `out`; returns the exit code.
pub fn run(
    options: &Options,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    interactive: bool,
) -> u8 {
    // Failing tests do not stop a simulation: it is how a supervisor sees why they fail.
    let rules = match RuleSet::load_dir_untested(&options.rules) {
        Ok(rules) => rules,
        Err(problems) => {
            let _ = writeln!(out, "{problems}");
            return EXIT_CONFIG;
        }
    };
    let now = match options.at.as_deref().map(parse_time) {
        None => Timestamp::now(),
        Some(Ok(ts)) => ts,
        Some(Err(e)) => {
            let _ = writeln!(out, "--at: {e}");
            return EXIT_USAGE;
        }
    };
    let mut user_data = UserData::new();
    for pair in &options.user_data {
        let Some((k, v)) = pair.split_once('=') else {
            let _ = writeln!(out, "--user-data: {pair:?} is not KEY=VALUE");
            return EXIT_USAGE;
        };
        user_data.insert(k.trim().to_owned(), serde_json::Value::String(v.to_owned()));
    }
    let active = match &options.state_dir {
        None => None,
        Some(dir) => match overrides::read(dir) {
            Ok(o) => o.filter(|o| o.active(now)),
            Err(e) => {
                let _ = writeln!(out, "override: {e}");
                return EXIT_FAILURE;
            }
        },
    };
    match simulate(
        &rules,
        options,
        now,
        user_data,
        active,
        input,
        out,
        interactive,
    ) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("simulate: {e}");
            EXIT_FAILURE
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn simulate(
    rules: &RuleSet,
    options: &Options,
    now: Timestamp,
    user_data: UserData,
    active: Option<overrides::Override>,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    interactive: bool,
) -> std::io::Result<()> {
    print_header(rules, options, now, active.as_ref(), out)?;
    let mut chat = Conversation::new(rules, now, user_data);
    chat.customer = options.customer.clone();
    chat.active = active;
    writeln!(out, "\n[the bot accepts the chat]")?;
    let step = chat.accept();
    print_step(rules, &step, options.explain, out)?;
    let mut buf = String::new();
    loop {
        let handed_on = match &chat.ended {
            None => false,
            Some(Then::Close) => break,
            Some(_) => true,
        };
        if interactive {
            write!(out, "customer> ")?;
            out.flush()?;
        }
        buf.clear();
        if input.read_line(&mut buf)? == 0 {
            break;
        }
        let text = buf.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() || text.trim_start().starts_with('#') {
            continue;
        }
        let line = match Line::parse(text) {
            Ok(line) => line,
            Err(e) => {
                writeln!(out, "  ! {e}")?;
                continue;
            }
        };
        if handed_on && line != Line::EscalationFailed {
            writeln!(
                out,
                "  (the chat was handed on; only /escalation_failed applies now)"
            )?;
            break;
        }
        if !interactive {
            match &line {
                Line::Say(text) => writeln!(out, "\ncustomer: {text}")?,
                Line::Idle(d) => {
                    writeln!(out, "\n[silence for {}]", humantime::format_duration(*d))?
                }
                Line::EscalationFailed => writeln!(out, "\n[the hand-over found nobody]")?,
            }
        }
        let step = chat.line(&line);
        print_step(rules, &step, options.explain, out)?;
    }
    match &chat.ended {
        Some(Then::Close) => writeln!(out, "\n[chat over: the bot closed it]")?,
        Some(_) => writeln!(out, "\n[chat over: handed on]")?,
        None => writeln!(out, "\n[end of input; the chat is still open]")?,
    }
    Ok(())
}

/// The rule set (and its failing tests), the time, the override and each schedule's state.
fn print_header(
    rules: &RuleSet,
    options: &Options,
    now: Timestamp,
    active: Option<&overrides::Override>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let failing: Vec<&str> = rules
        .tests()
        .iter()
        .filter(|t| run_test(rules, t).is_err())
        .map(|t| t.name.as_str())
        .collect();
    let summary = Summary {
        tested: failing.is_empty(),
        ..rules.summary()
    };
    writeln!(out, "rules: {summary} from {}", options.rules.display())?;
    if !failing.is_empty() {
        writeln!(
            out,
            "failing tests (simulated anyway; `gws-botd check` says why): {failing:?}"
        )?;
    }
    writeln!(out, "time: {now}")?;
    if let Some(o) = active {
        writeln!(out, "emergency override: {o}")?;
    }
    for schedule in rules.schedules() {
        let local = now.to_zoned(schedule.tz.clone());
        writeln!(
            out,
            "schedule {}: {} at {} {}",
            schedule.name,
            schedule.state(now, active),
            local.strftime("%a %Y-%m-%d %H:%M"),
            schedule.tz.iana_name().unwrap_or("")
        )?;
    }
    Ok(())
}

fn print_step(
    rules: &RuleSet,
    step: &Step,
    explain: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    if explain {
        for Tried { on, rule, result } in &step.tried {
            match result {
                Ok(()) => writeln!(out, "  ? {on} rule {rule:?}: acts")?,
                Err(why) => writeln!(out, "  ? {on} rule {rule:?}: no, {why}")?,
            }
        }
    }
    if step.acted.is_empty() {
        writeln!(out, "  (no rule acted: the bot stays silent)")?;
        return Ok(());
    }
    let rule = step.acted.join(", ");
    for action in &step.actions {
        match action {
            Action::Typing(d) => writeln!(
                out,
                "  bot [{rule}]: (typing for {})",
                humantime::format_duration(*d)
            )?,
            Action::Reply(text) => writeln!(out, "  bot [{rule}]: {text}")?,
            Action::Attach(data) => {
                let pairs: Vec<String> = data.iter().map(|(k, v)| format!("{k}={v}")).collect();
                writeln!(out, "  bot [{rule}]: (attaches {})", pairs.join(", "))?
            }
        }
    }
    if let Some(topic) = &step.awaiting {
        writeln!(
            out,
            "  (the bot awaits an answer: rules with `when.awaiting = {topic:?}` come first)"
        )?;
    }
    match &step.then {
        Then::Stay => {}
        Then::Close => writeln!(out, "  → the bot closes the chat")?,
        Then::Transfer(skill) => writeln!(
            out,
            "  → transfer to skill {skill:?}; if refused, the `escalation_failed` rules speak and the chat is closed"
        )?,
        Then::Escalate(team) => writeln!(out, "  → {}", escalation(rules, team))?,
    }
    Ok(())
}

/// What a hand-over to `team` will do, in one sentence.
fn escalation(rules: &RuleSet, team: &Team) -> String {
    let team = rules.team(&team.name).unwrap_or(team);
    let agents: Vec<String> = team
        .agents
        .iter()
        .map(|a| format!("{a} (waits {})", humantime::format_duration(team.wait)))
        .collect();
    let consult = if agents.is_empty() {
        "no agents to consult".to_owned()
    } else {
        format!("consult {}", agents.join(", then "))
    };
    let fallback = match &team.skill {
        Some(skill) => format!("transfer to skill {skill:?}"),
        None => "the daemon's fallback skill, if configured".to_owned(),
    };
    let joined = match (team.mode, team.resume) {
        (TeamMode::Transfer, _) => "the first who joins gets the chat",
        (TeamMode::Conference, true) => {
            "the first who joins comes into the conversation next to the bot (conference); the bot stays silent while they are there, and answers again once they have left"
        }
        (TeamMode::Conference, false) => {
            "the first who joins comes into the conversation next to the bot (conference); the bot stays silent while they are there, and says goodbye and closes once they have left"
        }
    };
    format!(
        "escalate to team {:?}: {consult}; {joined}; if nobody joins, {fallback}; if that is refused, the `escalation_failed` rules speak (type /escalation_failed to try them)",
        team.name
    )
}

/// `gws-botd simulate` from the command line: a terminal is interactive, anything else batch.
pub fn command(options: &Options) -> u8 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match options.transcript.as_deref() {
        Some(path) if path != Path::new("-") => match std::fs::File::open(path) {
            Ok(file) => run(options, &mut std::io::BufReader::new(file), &mut out, false),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                EXIT_USAGE
            }
        },
        _ => {
            let stdin = std::io::stdin();
            let interactive = stdin.is_terminal();
            run(options, &mut stdin.lock(), &mut out, interactive)
        }
    }
}
