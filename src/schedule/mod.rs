//! Opening hours: weekly intervals in an IANA time zone, closures (holidays, half days,
//! one-off ranges) and the emergency override; whether a schedule is open at an instant and
//! when it opens next.
//!
//! Everything is evaluated in the schedule's local civil time, so "08:00" means 08:00 on the
//! wall clock on both sides of a DST change. The order is the format's: an active override →
//! `closed` entries → `open` entries → otherwise closed. The current time is always passed in
//! (see [`Clock`]), never read here, so every case is testable.

mod language;
pub(crate) mod overrides;
pub mod preview;
mod spec;

use std::sync::Arc;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

pub use language::{LANGUAGE_CODES, Language};
pub use spec::{Closure, SpecError, Weekly, overlaps, parse_closure, parse_weekly};

use crate::schedule::overrides::Override;

/// How far ahead [`Schedule::next_open`] looks before giving up.
pub const NEXT_OPEN_HORIZON_DAYS: i32 = 400;

/// Where the current time comes from: the system clock, or a fixed instant (tests, `simulate`
/// with `--at`, `[[test]]` blocks).
#[derive(Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Fixed(Timestamp),
    /// Any function, e.g. a fixed start moved on by paused tokio time.
    Custom(Arc<dyn Fn() -> Timestamp + Send + Sync>),
}

impl Clock {
    /// The current instant.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(ts) => *ts,
            Clock::Custom(f) => f(),
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Clock::System => f.write_str("Clock::System"),
            Clock::Fixed(ts) => write!(f, "Clock::Fixed({ts})"),
            Clock::Custom(_) => f.write_str("Clock::Custom"),
        }
    }
}

/// A checked schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub tz: TimeZone,
    /// The entries as written, for explanations.
    open_text: Vec<String>,
    open: Vec<Weekly>,
    closed_text: Vec<String>,
    closed: Vec<Closure>,
    /// The language of `{next_open…}` (`language = "de"`).
    language: Language,
}

/// Why a schedule is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// The emergency override is active (until then).
    Override { until: Timestamp },
    /// A `closed` entry, as written.
    Closure(String),
    /// No `open` entry covers the time.
    OutsideHours,
}

/// Whether a schedule is open at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Open, by this `open` entry (as written).
    Open(String),
    Closed(Closed),
}

impl State {
    pub fn is_open(&self) -> bool {
        matches!(self, State::Open(_))
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Open(entry) => write!(f, "open ({entry:?})"),
            State::Closed(Closed::Override { until }) => {
                write!(f, "closed (emergency override until {until})")
            }
            State::Closed(Closed::Closure(entry)) => write!(f, "closed ({entry:?})"),
            State::Closed(Closed::OutsideHours) => f.write_str("closed (outside opening hours)"),
        }
    }
}

impl Schedule {
    /// A schedule from parsed entries; `*_text` are the entries as written, same order.
    pub fn new(
        name: String,
        tz: TimeZone,
        open: Vec<(String, Weekly)>,
        closed: Vec<(String, Closure)>,
    ) -> Self {
        let (open_text, open) = open.into_iter().unzip();
        let (closed_text, closed) = closed.into_iter().unzip();
        Schedule {
            name,
            tz,
            open_text,
            open,
            closed_text,
            closed,
            language: Language::default(),
        }
    }

    /// The same schedule speaking `language` in `{next_open…}`.
    pub fn with_language(mut self, language: Language) -> Self {
        self.language = language;
        self
    }

    /// The language of `{next_open…}`.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The next opening after `now` in the customer-facing form of the schedule's language
    /// ("tomorrow at 08:00", "demain à 08:00"), in its own time zone.
    pub fn describe_next_open(&self, now: Timestamp, active: Option<&Override>) -> String {
        self.language
            .describe(self.next_open(now, active).as_ref(), now)
    }

    /// Whether the override applies to this schedule at `now`.
    fn overridden(&self, now: Timestamp, active: Option<&Override>) -> Option<Timestamp> {
        active
            .filter(|o| o.covers(&self.name, now))
            .map(|o| o.until)
    }

    /// The state at `now`: override → closures → opening intervals → closed.
    pub fn state(&self, now: Timestamp, active: Option<&Override>) -> State {
        if let Some(until) = self.overridden(now, active) {
            return State::Closed(Closed::Override { until });
        }
        self.local_state(now.to_zoned(self.tz.clone()).datetime())
    }

    fn local_state(&self, local: DateTime) -> State {
        if let Some(i) = self.closed.iter().position(|c| c.contains(local)) {
            return State::Closed(Closed::Closure(self.closed_text[i].clone()));
        }
        match self.open.iter().position(|w| w.contains(local)) {
            Some(i) => State::Open(self.open_text[i].clone()),
            None => State::Closed(Closed::OutsideHours),
        }
    }

    /// The first instant at or after `now` when the schedule is open; `None` if it stays
    /// closed for [`NEXT_OPEN_HORIZON_DAYS`].
    pub fn next_open(&self, now: Timestamp, active: Option<&Override>) -> Option<Zoned> {
        let start = self.overridden(now, active).unwrap_or(now).max(now);
        if self.state(start, active).is_open() {
            return Some(start.to_zoned(self.tz.clone()));
        }
        let first_day = start.to_zoned(self.tz.clone()).date();
        let mut day = first_day;
        for _ in 0..NEXT_OPEN_HORIZON_DAYS {
            let mut candidates: Vec<DateTime> = self
                .open
                .iter()
                .filter(|w| w.starts_on(day.weekday()))
                .map(|w| day.to_datetime(minute_time(w.start)))
                .chain(
                    self.closed
                        .iter()
                        .filter(|c| c.end.date() == day)
                        .map(|c| c.end),
                )
                .collect();
            candidates.sort();
            for local in candidates {
                // A time that does not exist (spring forward) means the first one after the
                // gap; a time that exists twice (fall back) the first of the two.
                let Ok(zoned) = self.tz.to_ambiguous_zoned(local).compatible() else {
                    continue;
                };
                let ts = zoned.timestamp();
                if ts > start && self.state(ts, active).is_open() {
                    return Some(zoned);
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }
}

fn minute_time(minute: u16) -> jiff::civil::Time {
    jiff::civil::Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0)
        .unwrap_or(jiff::civil::Time::MIN)
}

/// The customer-facing form of an opening in English, seen from `now` in the opening's time
/// zone: "now", "today at 14:00", "tomorrow at 08:00", "Monday at 08:00" (within a week), else
/// "Monday, 4 January at 08:00" (see [`Language::describe`] for the other languages).
pub fn describe(opening: Option<&Zoned>, now: Timestamp) -> String {
    Language::English.describe(opening, now)
}

#[cfg(test)]
mod tests;
