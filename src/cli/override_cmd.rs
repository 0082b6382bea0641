//! `gws-botd override closed|clear|show`: set, end or show the emergency override (see
//! `crate::schedule::overrides`) in the daemon's state directory.
//!
//! Setting one is checked against the rules the daemon runs: `--schedule` must name one of
//! their schedules, `--until` may be a time of day in that schedule's zone, the `--message`
//! file is a reply template checked like a rule's, and an override in force is replaced only
//! with `--replace`, which shows what it replaces. Times are shown in the schedules' zones.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::cli::{EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::config::Target;
use crate::responder::rules::{RuleSet, override_message};
use crate::schedule::overrides::{self, Override, whole_seconds};

/// Longest message an override may carry.
pub const MAX_MESSAGE: usize = 4096;

/// What `override` was asked to do.
#[derive(Debug, Clone)]
pub enum Request {
    Closed {
        /// A point in time, a time of day, or a duration from now (`2h`).
        until: String,
        schedule: Option<String>,
        message: Option<PathBuf>,
        /// Replace an override in force.
        replace: bool,
    },
    Clear,
    Show,
}

/// What `override` needs to know besides the request: where the file is and the rules.
pub struct Context {
    pub state_dir: PathBuf,
    /// The daemon's rules, or why they cannot be loaded.
    pub rules: Result<RuleSet, String>,
}

impl Context {
    /// The state directory (`--state-dir`, else the configuration's or instance's) and the
    /// rules of the configuration.
    pub fn of(target: &Target, state_dir: Option<&Path>) -> Context {
        let rules = match target.rules_dir() {
            Some(dir) => RuleSet::load_dir(&dir).map_err(|p| p.to_string()),
            None => Err(format!(
                "{}: bot.rules is not set, so the schedules are unknown",
                target.describe()
            )),
        };
        Context {
            state_dir: state_dir.map_or_else(|| target.state_dir(), Path::to_owned),
            rules,
        }
    }

    /// The rules, or a message saying what needed them.
    fn rules(&self, needed_for: &str) -> Result<&RuleSet, String> {
        self.rules.as_ref().map_err(|why| {
            format!("{needed_for} needs the daemon's rules, which do not load:\n{why}")
        })
    }
}

/// `gws-botd override …` for the configuration (or instance) `target`.
pub fn command(target: &Target, state_dir: Option<&Path>, request: &Request, now: Timestamp) -> u8 {
    run(request, &Context::of(target, state_dir), now)
}

/// Run `override` in `ctx`; prints what it did.
pub fn run(request: &Request, ctx: &Context, now: Timestamp) -> u8 {
    match request {
        Request::Closed {
            until,
            schedule,
            message,
            replace,
        } => match closed(ctx, until, schedule.as_deref(), message.as_deref(), now) {
            Ok(o) => set(ctx, o, *replace, now),
            Err((code, why)) => {
                eprintln!("{why}");
                code
            }
        },
        Request::Clear => match overrides::clear(&ctx.state_dir) {
            Ok(true) => {
                println!("override cleared (the daemon notices within a second)");
                EXIT_OK
            }
            Ok(false) => {
                println!("no override was set");
                EXIT_OK
            }
            Err(e) => {
                eprintln!(
                    "cannot remove {}: {e}",
                    overrides::path(&ctx.state_dir).display()
                );
                EXIT_FAILURE
            }
        },
        Request::Show => match overrides::read(&ctx.state_dir) {
            Ok(None) => {
                println!("no override");
                EXIT_OK
            }
            Ok(Some(o)) => {
                let state = if o.active(now) { "in force" } else { "expired" };
                println!(
                    "{} ({state}; set at {})",
                    shown(ctx, &o),
                    ctx.time(o.set_at, &o)
                );
                if let Some(message) = &o.message {
                    println!("message: {message}");
                }
                EXIT_OK
            }
            Err(e) => {
                eprintln!("{e}");
                EXIT_FAILURE
            }
        },
    }
}

/// The override `closed` asks for, checked.
fn closed(
    ctx: &Context,
    until: &str,
    schedule: Option<&str>,
    message: Option<&Path>,
    now: Timestamp,
) -> Result<Override, (u8, String)> {
    let needs_rules = |what: &str| ctx.rules(what).map_err(|why| (EXIT_CONFIG, why));
    if let Some(name) = schedule {
        let rules = needs_rules("--schedule")?;
        if rules.schedule(name).is_none() {
            return Err((EXIT_USAGE, unknown_schedule(rules, name)));
        }
    }
    let zone = || -> Result<TimeZone, String> {
        let rules = ctx.rules("a time without a zone")?;
        zone_of(rules, schedule)
    };
    let until = parse_until(until, now, zone).map_err(|e| (EXIT_USAGE, format!("--until: {e}")))?;
    if until <= now {
        return Err((EXIT_USAGE, format!("--until: {until} is not in the future")));
    }
    let message = match message {
        None => None,
        Some(path) => {
            let text = read_message(path).map_err(|e| (EXIT_USAGE, e))?;
            override_message::check(&text, ctx.rules.as_ref().ok()).map_err(|problems| {
                let lines: Vec<String> = problems
                    .iter()
                    .map(|p| format!("  {}:{p}", path.display()))
                    .collect();
                (
                    EXIT_USAGE,
                    format!(
                        "--message: the text is not a valid reply:\n{}",
                        lines.join("\n")
                    ),
                )
            })?;
            Some(text)
        }
    };
    Ok(Override {
        until,
        schedule: schedule.map(str::to_owned),
        message,
        set_at: whole_seconds(now),
    })
}

/// Write `o` unless another override is in force and `replace` is not given.
fn set(ctx: &Context, o: Override, replace: bool, now: Timestamp) -> u8 {
    let dir = &ctx.state_dir;
    let existing = match overrides::read(dir) {
        Ok(existing) => existing.filter(|e| e.active(now)),
        Err(e) if replace => {
            eprintln!("replacing an unreadable override file: {e}");
            None
        }
        Err(e) => {
            eprintln!("{e}\n(add --replace to overwrite it)");
            return EXIT_FAILURE;
        }
    };
    match &existing {
        Some(old) if !replace => {
            eprintln!(
                "an override is already in force: {}\nadd --replace to replace it, or \
                 `gws-botd override clear` first",
                shown(ctx, old)
            );
            return EXIT_USAGE;
        }
        Some(old) => println!("replaces: {}", shown(ctx, old)),
        None => {}
    }
    match overrides::write(dir, &o) {
        Ok(()) => {
            println!(
                "override set: {} ({}; the daemon notices within a second)",
                shown(ctx, &o),
                overrides::path(dir).display()
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("cannot write {}: {e}", overrides::path(dir).display());
            EXIT_FAILURE
        }
    }
}

/// Refusal of an unknown `--schedule`, with the known ones and a suggestion.
fn unknown_schedule(rules: &RuleSet, name: &str) -> String {
    let known: Vec<&str> = rules.schedules().map(|s| s.name.as_str()).collect();
    let hint = crate::config::closest(name, &known)
        .map(|k| format!("; did you mean {k:?}?"))
        .unwrap_or_default();
    format!(
        "--schedule: the rules have no schedule {name:?} (schedules: {}){hint}; nothing was \
         changed",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )
}

/// The zone times are read and shown in: the schedule's, else the one zone all schedules share.
fn zone_of(rules: &RuleSet, schedule: Option<&str>) -> Result<TimeZone, String> {
    if let Some(s) = schedule.and_then(|name| rules.schedule(name)) {
        return Ok(s.tz.clone());
    }
    let mut zones = zones(rules);
    match zones.len() {
        1 => Ok(zones.remove(0)),
        0 => Err(
            "the rules have no schedule to take a time zone from; give a time with an \
                  offset or zone (\"2026-11-25T18:00+01:00\") or a duration (\"2h\")"
                .into(),
        ),
        _ => Err(
            "the schedules are in different time zones; give --schedule, a time with an \
                  offset or zone (\"2026-11-25T18:00[Europe/Berlin]\") or a duration (\"2h\")"
                .into(),
        ),
    }
}

/// The distinct zones of the rules' schedules.
fn zones(rules: &RuleSet) -> Vec<TimeZone> {
    let mut zones: Vec<TimeZone> = Vec::new();
    for s in rules.schedules() {
        if !zones.iter().any(|z| z.iana_name() == s.tz.iana_name()) {
            zones.push(s.tz.clone());
        }
    }
    zones
}

impl Context {
    /// `t` in the zones of the schedules `o` closes (UTC when the rules do not load).
    fn time(&self, t: Timestamp, o: &Override) -> String {
        let zones = match &self.rules {
            Ok(rules) => match o.schedule.as_deref().and_then(|n| rules.schedule(n)) {
                Some(s) => vec![s.tz.clone()],
                None => zones(rules),
            },
            Err(_) => Vec::new(),
        };
        if zones.is_empty() {
            return whole_seconds(t).to_string();
        }
        zones
            .iter()
            .map(|z| in_zone(t, z))
            .collect::<Vec<_>>()
            .join(" = ")
    }
}

/// `t` as "2026-11-25 18:00:00 CET (Europe/Berlin)".
pub fn in_zone(t: Timestamp, zone: &TimeZone) -> String {
    let z = whole_seconds(t).to_zoned(zone.clone());
    match zone.iana_name() {
        Some(name) => format!("{} ({name})", z.strftime("%Y-%m-%d %H:%M:%S %Z")),
        None => z.strftime("%Y-%m-%d %H:%M:%S %:z").to_string(),
    }
}

/// An override as operators read it, its end in the schedules' zones.
fn shown(ctx: &Context, o: &Override) -> String {
    let what = match &o.schedule {
        Some(name) => format!("schedule {name:?} closed"),
        None => "all schedules closed".to_owned(),
    };
    let message = if o.message.is_some() {
        ", with a message"
    } else {
        ""
    };
    format!("{what} until {}{message}", ctx.time(o.until, o))
}

fn read_message(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => {
            Err(format!("--message: {} is empty", path.display()))
        }
        Ok(text) if text.len() > MAX_MESSAGE => Err(format!(
            "--message: {} is longer than {MAX_MESSAGE} bytes",
            path.display()
        )),
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) => Err(format!("--message: {}: {e}", path.display())),
    }
}

/// Parse `--until`: a duration from `now` (`90m`, `2h`), a point in time with an offset or
/// zone, or a time in `zone` (asked only then): a date and time (`2026-11-25T18:00`) or a time
/// of day (`18:00`: the next one, today or tomorrow). Whole seconds.
pub fn parse_until(
    text: &str,
    now: Timestamp,
    zone: impl FnOnce() -> Result<TimeZone, String>,
) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(d) = humantime::parse_duration(text) {
        let span = jiff::SignedDuration::try_from(d).map_err(|e| e.to_string())?;
        return now
            .checked_add(span)
            .map(whole_seconds)
            .map_err(|e| e.to_string());
    }
    if let Some(t) = crate::responder::rules::parse_test_time(text) {
        return Ok(whole_seconds(t));
    }
    let civil = text.replacen(' ', "T", 1);
    let time_of_day = civil.parse::<jiff::civil::Time>().ok();
    let date_time = civil.parse::<jiff::civil::DateTime>().ok();
    if time_of_day.is_none() && date_time.is_none() {
        return Err(format!(
            "{text:?} is not a time; write a duration (\"2h\", \"90m\"), a time of day in the \
             schedule's zone (\"18:00\"), a date and time there (\"2026-11-25T18:00\") or one \
             with a zone (\"2026-11-25T18:00[Europe/Berlin]\")"
        ));
    }
    let zone = zone()?;
    let at = |dt: jiff::civil::DateTime| {
        dt.to_zoned(zone.clone())
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string())
    };
    let until = match (date_time, time_of_day) {
        (Some(dt), _) => at(dt)?,
        (None, Some(time)) => {
            let today = now.to_zoned(zone.clone()).date();
            let candidate = at(today.to_datetime(time))?;
            if candidate > now {
                candidate
            } else {
                let tomorrow = today.tomorrow().map_err(|e| e.to_string())?;
                at(tomorrow.to_datetime(time))?
            }
        }
        (None, None) => unreachable!("checked above"),
    };
    Ok(whole_seconds(until))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"
[schedule.support]
timezone = "Europe/Berlin"
open = ["mon-fri 08:00-18:00"]

[schedule.sales]
timezone = "Europe/Berlin"
open = ["mon-fri 09:00-17:00"]

[[rule]]
name = "closed"
on = "accept"
when.schedule = { closed = "support" }
reply = "We are closed."
"#;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gws-botd-ovr-cli-{name}-{}", rand::random::<u64>()));
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        std::fs::write(dir.join("rules/r.toml"), RULES).unwrap();
        dir
    }

    fn ctx(dir: &Path) -> Context {
        Context {
            state_dir: dir.join("state"),
            rules: RuleSet::load_dir(&dir.join("rules")).map_err(|p| p.to_string()),
        }
    }

    fn close(until: &str, schedule: Option<&str>, message: Option<PathBuf>) -> Request {
        Request::Closed {
            until: until.into(),
            schedule: schedule.map(str::to_owned),
            message,
            replace: false,
        }
    }

    fn berlin() -> Result<TimeZone, String> {
        TimeZone::get("Europe/Berlin").map_err(|e| e.to_string())
    }

    #[test]
    fn until_takes_durations_times_of_day_and_times() {
        // 10:00:00.5 UTC = 11:00:00.5 in Berlin (CET).
        let now: Timestamp = "2026-11-25T10:00:00.5Z".parse().unwrap();
        let ts = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            parse_until("2h", now, berlin).unwrap(),
            ts("2026-11-25T12:00:01Z")
        );
        assert_eq!(
            parse_until("2026-11-25T15:00:00+01:00", now, berlin).unwrap(),
            ts("2026-11-25T14:00:00Z")
        );
        // A time of day in the schedule's zone: today if still ahead, else tomorrow.
        assert_eq!(
            parse_until("18:00", now, berlin).unwrap(),
            ts("2026-11-25T17:00:00Z")
        );
        assert_eq!(
            parse_until("09:30", now, berlin).unwrap(),
            ts("2026-11-26T08:30:00Z")
        );
        assert_eq!(
            parse_until("2026-11-26 08:00", now, berlin).unwrap(),
            ts("2026-11-26T07:00:00Z")
        );
        assert!(parse_until("someday", now, berlin).is_err());
        let no_zone = || Err("no zone".to_owned());
        assert_eq!(parse_until("18:00", now, no_zone).unwrap_err(), "no zone");
        assert!(
            parse_until("2h", now, no_zone).is_ok(),
            "a duration needs no zone"
        );
    }

    #[test]
    fn unknown_schedules_are_refused_and_nothing_changes() {
        let dir = scratch("unknown");
        let ctx = ctx(&dir);
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        assert_eq!(run(&close("3h", Some("support"), None), &ctx, now), EXIT_OK);
        let before = overrides::read(&ctx.state_dir).unwrap();
        assert_eq!(
            run(&close("3h", Some("ofice"), None), &ctx, now),
            EXIT_USAGE
        );
        assert_eq!(overrides::read(&ctx.state_dir).unwrap(), before);
        let refusal = closed_err(&ctx, "3h", Some("suport"), None, now);
        assert!(refusal.contains("no schedule \"suport\""), "{refusal}");
        assert!(refusal.contains("did you mean \"support\""), "{refusal}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn closed_err(
        ctx: &Context,
        until: &str,
        schedule: Option<&str>,
        message: Option<&Path>,
        now: Timestamp,
    ) -> String {
        super::closed(ctx, until, schedule, message, now)
            .unwrap_err()
            .1
    }

    #[test]
    fn an_override_in_force_is_replaced_only_when_asked() {
        let dir = scratch("replace");
        let ctx = ctx(&dir);
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        assert_eq!(
            run(&close("18:00", Some("support"), None), &ctx, now),
            EXIT_OK
        );
        assert_eq!(run(&close("2h", None, None), &ctx, now), EXIT_USAGE);
        let kept = overrides::read(&ctx.state_dir).unwrap().unwrap();
        assert_eq!(kept.schedule.as_deref(), Some("support"));
        assert_eq!(
            kept.until,
            "2026-11-25T17:00:00Z".parse::<Timestamp>().unwrap()
        );
        // Shown in the schedule's zone, without fractions of a second.
        assert_eq!(
            shown(&ctx, &kept),
            "schedule \"support\" closed until 2026-11-25 18:00:00 CET (Europe/Berlin)"
        );
        let replace = Request::Closed {
            until: "2h".into(),
            schedule: None,
            message: None,
            replace: true,
        };
        assert_eq!(run(&replace, &ctx, now), EXIT_OK);
        assert_eq!(
            overrides::read(&ctx.state_dir).unwrap().unwrap().schedule,
            None
        );
        // An expired override needs no --replace.
        let later: Timestamp = "2026-11-25T13:00:00Z".parse().unwrap();
        assert_eq!(run(&close("1h", None, None), &ctx, later), EXIT_OK);
        assert_eq!(run(&Request::Show, &ctx, later), EXIT_OK);
        assert_eq!(run(&Request::Clear, &ctx, later), EXIT_OK);
        assert_eq!(overrides::read(&ctx.state_dir).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn messages_are_checked_as_reply_templates() {
        let dir = scratch("message");
        let ctx = ctx(&dir);
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        let msg = dir.join("msg.txt");
        let with = |text: &str| {
            std::fs::write(&msg, text).unwrap();
            super::closed(&ctx, "3h", Some("support"), Some(&msg), now)
        };
        let o = with("Sorry {customer}, we are closed until {next_open.support}.\n").unwrap();
        assert_eq!(
            o.message.as_deref(),
            Some("Sorry {customer}, we are closed until {next_open.support}.")
        );
        let e = with("Sorry {custmer}!").unwrap_err();
        assert_eq!(e.0, EXIT_USAGE);
        assert!(
            e.1.contains("msg.txt:1:7: unknown placeholder `{custmer}`"),
            "{}",
            e.1
        );
        assert!(e.1.contains("did you mean `{customer}`"), "{}", e.1);
        let e = with("Back {next_open.ofice}.").unwrap_err().1;
        assert!(e.contains("`{next_open.ofice}` names no schedule"), "{e}");
        assert!(with("  ").unwrap_err().1.contains("is empty"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
