//! A schedule day by day, for `gws-botd schedule`: the open intervals of each day in the
//! schedule's zone (cut at midnight), the `closed` entries that touch the day, the DST changes
//! that fall on it and the part the emergency override closes.
//!
//! Each day is cut into pieces at every instant the state could change (interval and closure
//! edges in local time, both instants of a local time that occurs twice, DST changes, the
//! override's start and end), and each piece takes the state [`Schedule::state`] gives at its
//! start: the preview says what the daemon will do, by the same code.

use jiff::civil::{Date, DateTime};
use jiff::tz::Offset;
use jiff::{SignedDuration, Timestamp, Zoned};

use super::spec::DAY;
use super::{Schedule, minute_time};
use crate::schedule::overrides::Override;

/// One open interval of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub start: Zoned,
    pub end: Zoned,
    /// Open already at the end of the day before (the interval began then).
    pub from_day_before: bool,
    /// Still open when the next day begins.
    pub into_next_day: bool,
}

impl Opening {
    /// `08:00–18:00 +01:00`; `01:00 +01:00–05:00 +02:00` across a DST change; an end at the
    /// next midnight is `24:00`.
    pub fn text(&self) -> String {
        let end = if self.end.date() > self.start.date() {
            "24:00".to_owned()
        } else {
            self.end.strftime("%H:%M").to_string()
        };
        let (a, b) = (self.start.offset(), self.end.offset());
        if a == b {
            format!("{}–{end} {}", self.start.strftime("%H:%M"), offset_text(a))
        } else {
            format!(
                "{} {}–{end} {}",
                self.start.strftime("%H:%M"),
                offset_text(a),
                offset_text(b)
            )
        }
    }
}

/// A `closed` entry that touches a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedEntry {
    /// As written in the rule file.
    pub entry: String,
    /// It covers the whole day (a holiday, a closed date).
    pub whole_day: bool,
}

/// A change of the zone's UTC offset (DST starts or ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub at: Timestamp,
    pub before: Offset,
    pub after: Offset,
}

/// What a schedule does on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub date: Date,
    pub open: Vec<Opening>,
    pub closed: Vec<ClosedEntry>,
    pub transitions: Vec<Transition>,
    /// The part of the day the emergency override closes (start, end).
    pub overridden: Option<(Zoned, Zoned)>,
}

impl Schedule {
    /// The schedule on `days` days from `from` (in its own zone). `active` is the override in
    /// force, honoured from when it was set until it ends.
    pub fn preview(&self, from: Date, days: u32, active: Option<&Override>) -> Vec<Day> {
        let mut out = Vec::new();
        let mut date = from;
        for _ in 0..days {
            let Some(day) = self.preview_day(date, active) else {
                break;
            };
            out.push(day);
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        out
    }

    /// One day; `None` at the end of the representable calendar.
    fn preview_day(&self, date: Date, active: Option<&Override>) -> Option<Day> {
        let start = date.to_zoned(self.tz.clone()).ok()?.timestamp();
        let end = date
            .tomorrow()
            .ok()?
            .to_zoned(self.tz.clone())
            .ok()?
            .timestamp();
        let cuts = self.cuts(date, start, end, active);
        let state_at = |t: Timestamp| self.state(t, active.filter(|o| t >= o.set_at));
        let mut open: Vec<(Timestamp, Timestamp)> = Vec::new();
        for (i, &piece) in cuts.iter().enumerate() {
            let piece_end = cuts.get(i + 1).copied().unwrap_or(end);
            if !state_at(piece).is_open() {
                continue;
            }
            match open.last_mut() {
                Some(last) if last.1 == piece => last.1 = piece_end,
                _ => open.push((piece, piece_end)),
            }
        }
        let before = start.checked_sub(SignedDuration::from_secs(1)).ok();
        let zoned = |t: Timestamp| t.to_zoned(self.tz.clone());
        let open = open
            .into_iter()
            .map(|(a, b)| Opening {
                start: zoned(a),
                end: zoned(b),
                from_day_before: a == start && before.is_some_and(|t| state_at(t).is_open()),
                into_next_day: b == end && state_at(end).is_open(),
            })
            .collect();
        Some(Day {
            date,
            open,
            closed: self.closed_on(date),
            transitions: self.transitions(start, end),
            overridden: overridden(self, active, start, end).map(|(a, b)| (zoned(a), zoned(b))),
        })
    }

    /// The instants in `[start, end)` where the state may change, sorted, `start` first.
    fn cuts(
        &self,
        date: Date,
        start: Timestamp,
        end: Timestamp,
        active: Option<&Override>,
    ) -> Vec<Timestamp> {
        let mut local: Vec<DateTime> = Vec::new();
        let yesterday = date.weekday().previous();
        for w in &self.open {
            let finish = w.start + w.minutes;
            if w.starts_on(date.weekday()) {
                local.push(date.to_datetime(minute_time(w.start)));
                if finish < DAY {
                    local.push(date.to_datetime(minute_time(finish)));
                }
            }
            if w.starts_on(yesterday) && finish > DAY {
                local.push(date.to_datetime(minute_time(finish - DAY)));
            }
        }
        for c in &self.closed {
            local.extend([c.start, c.end].into_iter().filter(|t| t.date() == date));
        }
        let mut cuts = vec![start];
        for dt in local {
            let Ok(both) = self.tz.to_ambiguous_timestamp(dt).earlier().and_then(|a| {
                let b = self.tz.to_ambiguous_timestamp(dt).later()?;
                Ok([a, b])
            }) else {
                continue;
            };
            cuts.extend(both);
        }
        cuts.extend(self.transitions(start, end).iter().map(|t| t.at));
        if let Some(o) = active {
            cuts.extend([o.set_at, o.until]);
        }
        cuts.retain(|t| (start..end).contains(t));
        cuts.sort();
        cuts.dedup();
        cuts
    }

    /// The `closed` entries that touch `date`, in the order written.
    fn closed_on(&self, date: Date) -> Vec<ClosedEntry> {
        let midnight = date.to_datetime(jiff::civil::Time::MIN);
        let Ok(next) = date
            .tomorrow()
            .map(|d| d.to_datetime(jiff::civil::Time::MIN))
        else {
            return Vec::new();
        };
        self.closed
            .iter()
            .zip(&self.closed_text)
            .filter(|(c, _)| c.start < next && c.end > midnight)
            .map(|(c, text)| ClosedEntry {
                entry: text.clone(),
                whole_day: c.start <= midnight && c.end >= next,
            })
            .collect()
    }

    /// The offset changes of the zone in `[start, end)`.
    fn transitions(&self, start: Timestamp, end: Timestamp) -> Vec<Transition> {
        let Ok(from) = start.checked_sub(SignedDuration::from_secs(1)) else {
            return Vec::new();
        };
        self.tz
            .following(from)
            .take_while(|t| t.timestamp() < end)
            .filter_map(|t| {
                let at = t.timestamp();
                let before = self
                    .tz
                    .to_offset(at.checked_sub(SignedDuration::from_secs(1)).ok()?);
                (at >= start && before != t.offset()).then_some(Transition {
                    at,
                    before,
                    after: t.offset(),
                })
            })
            .collect()
    }
}

/// The part of `[start, end)` the override closes for `schedule`.
fn overridden(
    schedule: &Schedule,
    active: Option<&Override>,
    start: Timestamp,
    end: Timestamp,
) -> Option<(Timestamp, Timestamp)> {
    let o = active.filter(|o| o.schedule.as_deref().is_none_or(|s| s == schedule.name))?;
    let (from, until) = (o.set_at.max(start), o.until.min(end));
    (from < until).then_some((from, until))
}

/// `+01:00`, `-05:00`, `+05:30`.
pub fn offset_text(offset: Offset) -> String {
    let seconds = offset.seconds();
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests;
