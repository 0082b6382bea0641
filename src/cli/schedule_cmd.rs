//! `gws-botd schedule`: the opening hours of the rules' schedules day by day, as the daemon will
//! apply them — each day's open intervals in the schedule's zone with their UTC offset, closed
//! dates and holidays, the DST changes and the emergency override in force (see
//! [`crate::schedule::preview`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::Date;

use crate::cli::override_cmd::in_zone;
use crate::cli::{EXIT_CONFIG, EXIT_OK, EXIT_USAGE};
use crate::config::Target;
use crate::responder::rules::RuleSet;
use crate::schedule::Schedule;
use crate::schedule::overrides::{self, Override};
use crate::schedule::preview::{Day, Opening, Transition, offset_text};

/// The longest preview `--weeks` may ask for.
pub const MAX_WEEKS: u32 = 60;

/// What `gws-botd schedule` was asked.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The rules directory (default: `bot.rules` of the configuration).
    pub rules: Option<PathBuf>,
    /// The first day, `YYYY-MM-DD` (default: today in each schedule's zone).
    pub from: Option<String>,
    pub weeks: u32,
    /// Only this schedule (default: all).
    pub schedule: Option<String>,
    /// Where the override file is (default: the configuration's state directory).
    pub state_dir: Option<PathBuf>,
}

/// Run the command at `now`: print the preview, or the problem with its exit code.
pub fn command(target: &Target, request: &Request, now: Timestamp) -> u8 {
    let Some(dir) = request.rules.clone().or_else(|| target.rules_dir()) else {
        eprintln!(
            "no rules directory: give --rules DIR, or a configuration ({}) with bot.rules",
            target.describe()
        );
        return EXIT_USAGE;
    };
    let rules = match RuleSet::load_dir_untested(&dir) {
        Ok(rules) => rules,
        Err(problems) => {
            eprintln!("{problems}");
            return EXIT_CONFIG;
        }
    };
    let state_dir = request
        .state_dir
        .clone()
        .unwrap_or_else(|| target.state_dir());
    let active = read_override(&state_dir, now);
    match render(&rules, request, active.as_ref(), now) {
        Ok(text) => {
            print!("{text}");
            EXIT_OK
        }
        Err((code, why)) => {
            eprintln!("{why}");
            code
        }
    }
}

/// The override in force at `now`, if any; an unreadable file is reported and left out.
fn read_override(state_dir: &Path, now: Timestamp) -> Option<Override> {
    match overrides::read(state_dir) {
        Ok(o) => o.filter(|o| o.active(now)),
        Err(why) => {
            eprintln!("cannot read the emergency override ({why}); the preview leaves it out");
            None
        }
    }
}

/// The preview of the schedules `request` names, or an exit code and why not.
pub fn render(
    rules: &RuleSet,
    request: &Request,
    active: Option<&Override>,
    now: Timestamp,
) -> Result<String, (u8, String)> {
    let from = match request.from.as_deref() {
        Some(text) => Some(parse_date(text).map_err(|e| (EXIT_USAGE, e))?),
        None => None,
    };
    if !(1..=MAX_WEEKS).contains(&request.weeks) {
        let why = format!(
            "--weeks: {} is not between 1 and {MAX_WEEKS}",
            request.weeks
        );
        return Err((EXIT_USAGE, why));
    }
    let schedules: Vec<&Schedule> = match request.schedule.as_deref() {
        Some(name) => vec![
            rules
                .schedule(name)
                .ok_or_else(|| (EXIT_USAGE, unknown_schedule(rules, name)))?,
        ],
        None => rules.schedules().collect(),
    };
    if schedules.is_empty() {
        return Err((EXIT_CONFIG, "the rules define no schedule".into()));
    }
    let mut out = String::new();
    for (i, schedule) in schedules.into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let first = from.unwrap_or_else(|| now.to_zoned(schedule.tz.clone()).date());
        let active = active.filter(|o| o.schedule.as_deref().is_none_or(|s| s == schedule.name));
        let days = schedule.preview(first, request.weeks * 7, active);
        write_schedule(&mut out, schedule, &days, active);
    }
    Ok(out)
}

/// `2026-03-23`, or what is wrong with it.
fn parse_date(text: &str) -> Result<Date, String> {
    text.trim()
        .parse::<Date>()
        .map_err(|_| format!("--from: {text:?} is not a date; write it like 2026-03-23"))
}

fn unknown_schedule(rules: &RuleSet, name: &str) -> String {
    let known: Vec<&str> = rules.schedules().map(|s| s.name.as_str()).collect();
    let hint = crate::config::closest(name, &known)
        .map(|k| format!("; did you mean {k:?}?"))
        .unwrap_or_default();
    let known = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    format!("--schedule: the rules have no schedule {name:?} (schedules: {known}){hint}")
}

/// One schedule: a heading, the override in force, then a line (or more) per day.
fn write_schedule(out: &mut String, schedule: &Schedule, days: &[Day], active: Option<&Override>) {
    let zone = schedule.tz.iana_name().unwrap_or("fixed offset");
    let span = match (days.first(), days.last()) {
        (Some(a), Some(b)) => format!(", {} to {}", a.date, b.date),
        _ => String::new(),
    };
    let _ = writeln!(out, "Schedule {:?} ({zone}){span}", schedule.name);
    if let Some(o) = active {
        let _ = writeln!(
            out,
            "  emergency override in force: closed until {}{}",
            in_zone(o.until, &schedule.tz),
            if o.message.is_some() {
                ", with a message"
            } else {
                ""
            }
        );
    }
    for day in days {
        for (i, line) in day_lines(day).into_iter().enumerate() {
            let head = if i == 0 {
                day.date.strftime("%a %Y-%m-%d").to_string()
            } else {
                String::new()
            };
            let _ = writeln!(out, "  {head:<14}  {line}");
        }
    }
}

/// What one day says: its openings (or "closed"), then its notes.
fn day_lines(day: &Day) -> Vec<String> {
    let holiday = day.closed.iter().find(|c| c.whole_day);
    let first = match (day.open.is_empty(), holiday) {
        (false, _) => day.open.iter().map(opening).collect::<Vec<_>>().join(", "),
        (true, Some(c)) => format!("closed all day (holiday or closed date: {:?})", c.entry),
        (true, None) => "closed".to_owned(),
    };
    let mut lines = vec![first];
    lines.extend(
        day.closed
            .iter()
            .filter(|c| Some(*c) != holiday || !day.open.is_empty())
            .map(|c| format!("closed by {:?}", c.entry)),
    );
    if let Some((from, until)) = &day.overridden {
        let end = if until.date() > day.date {
            "24:00".to_owned()
        } else {
            until.strftime("%H:%M").to_string()
        };
        lines.push(format!(
            "emergency override: closed {}–{end} {}",
            from.strftime("%H:%M"),
            offset_text(from.offset())
        ));
    }
    lines.extend(day.transitions.iter().map(clocks));
    lines
}

fn opening(o: &Opening) -> String {
    let mut text = o.text();
    if o.from_day_before {
        text.push_str(" (from the day before)");
    }
    if o.into_next_day {
        text.push_str(" (continues)");
    }
    text
}

/// "clocks go forward 02:00 → 03:00 (+01:00 → +02:00)".
fn clocks(t: &Transition) -> String {
    let local = |offset| t.at.to_zoned(jiff::tz::TimeZone::fixed(offset));
    let direction = if t.after > t.before {
        "forward"
    } else {
        "back"
    };
    format!(
        "clocks go {direction} {} → {} ({} → {})",
        local(t.before).strftime("%H:%M"),
        local(t.after).strftime("%H:%M"),
        offset_text(t.before),
        offset_text(t.after)
    )
}

#[cfg(test)]
mod tests;
