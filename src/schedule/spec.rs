//! Parsing the entries of a schedule: weekly opening intervals (`"mon-fri 08:00-18:00"`) and
//! closures (`"2026-12-25"`, `"2026-12-24 14:00-24:00"`, `"2026-12-24 to 2026-12-31"`,
//! `"2026-12-31 16:00 to 2027-01-02 08:00"`). Errors carry the byte offset inside the entry so
//! the rule validator can put a caret under the exact spot.

use jiff::civil::{Date, DateTime, Time, Weekday};

/// Minutes in a day; an interval end of `24:00` is this.
pub const DAY: u16 = 24 * 60;

/// A problem inside one schedule entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// Byte offset inside the entry.
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

fn error(offset: usize, message: impl Into<String>, hint: &str) -> SpecError {
    SpecError {
        offset,
        message: message.into(),
        hint: (!hint.is_empty()).then(|| hint.to_owned()),
    }
}

const WEEKLY_HINT: &str = "write days and hours like \"mon-fri 08:00-18:00\", \"sat 09:00-13:00\" or \"daily 22:00-06:00\"";
const CLOSED_HINT: &str = "write \"2026-12-25\", \"2026-12-24 14:00-24:00\", \"2026-12-24 to 2026-12-31\" or \"2026-12-31 16:00 to 2027-01-02 08:00\"";

/// A weekly opening: on `days` from `start` for `minutes` (which may run past midnight into
/// the next day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weekly {
    /// Indexed by `Weekday::to_monday_zero_offset`.
    pub days: [bool; 7],
    /// Minutes after midnight.
    pub start: u16,
    /// Length in minutes, 1..=1440.
    pub minutes: u16,
}

impl Weekly {
    /// Whether the interval started on `day` covers `minute` minutes after that day's midnight
    /// (`minute` may exceed a day for the part after midnight).
    pub fn starts_on(&self, day: Weekday) -> bool {
        self.days[day.to_monday_zero_offset() as usize]
    }

    /// Whether `dt` (local civil time) lies in this interval.
    pub fn contains(&self, dt: DateTime) -> bool {
        let minute = dt.hour() as u16 * 60 + dt.minute() as u16;
        let end = self.start + self.minutes;
        let today = dt.date().weekday();
        (self.starts_on(today) && minute >= self.start && minute < end)
            || (end > DAY && self.starts_on(today.previous()) && minute + DAY < end)
    }
}

/// A closure in local civil time, `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    pub start: DateTime,
    pub end: DateTime,
}

impl Closure {
    pub fn contains(&self, dt: DateTime) -> bool {
        self.start <= dt && dt < self.end
    }
}

/// Parse `HH:MM` at `offset`; `24:00` only when `end`.
fn time_of_day(text: &str, offset: usize, end: bool) -> Result<u16, SpecError> {
    let bad = || {
        error(
            offset,
            format!("{text:?} is not a time of day"),
            "write hours and minutes like \"08:00\" or \"17:30\"",
        )
    };
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m > 59 {
        return Err(error(
            offset,
            format!("{text:?}: minutes go from 00 to 59"),
            "",
        ));
    }
    if h == 24 && m == 0 && end {
        return Ok(DAY);
    }
    if h > 23 {
        let hint = if end {
            "hours go from 00 to 23; write 24:00 for the end of the day"
        } else {
            "hours go from 00 to 23"
        };
        return Err(error(
            offset,
            format!("{text:?} is not a time of day"),
            hint,
        ));
    }
    Ok(h * 60 + m)
}

fn weekday(word: &str, offset: usize) -> Result<usize, SpecError> {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let lower = word.to_ascii_lowercase();
    let short = lower.get(..3).unwrap_or(&lower);
    let full = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    match NAMES.iter().position(|n| *n == short) {
        Some(i) if lower == NAMES[i] || lower == full[i] => Ok(i),
        _ => Err(error(
            offset,
            format!("{word:?} is not a day of the week"),
            "days are mon, tue, wed, thu, fri, sat, sun (ranges like mon-fri, lists like mon,wed)",
        )),
    }
}

/// Parse `DAYS` (`daily`, `mon-fri`, `sat`, `mon,wed,fri-sun`).
fn days(text: &str, offset: usize) -> Result<[bool; 7], SpecError> {
    let mut days = [false; 7];
    if text.eq_ignore_ascii_case("daily") {
        return Ok([true; 7]);
    }
    let mut at = offset;
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let from = weekday(a, at)?;
                let to = weekday(b, at + a.len() + 1)?;
                let mut d = from;
                loop {
                    days[d] = true;
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[weekday(part, at)?] = true,
        }
        at += part.len() + 1;
    }
    Ok(days)
}

/// Split `"A-B"` at the dash into two times, with offsets.
fn span_of_times(text: &str, offset: usize) -> Result<(u16, u16), SpecError> {
    let (a, b) = text.split_once('-').ok_or_else(|| {
        error(
            offset,
            format!("{text:?} is not a span of time"),
            "write it like \"08:00-18:00\"",
        )
    })?;
    let start = time_of_day(a, offset, false)?;
    let end = time_of_day(b, offset + a.len() + 1, true)?;
    Ok((start, end))
}

/// Parse a weekly opening such as `"mon-fri 08:00-18:00"` or `"fri 22:00-02:00"` (an end at or
/// before the start runs past midnight).
pub fn parse_weekly(entry: &str) -> Result<Weekly, SpecError> {
    let trimmed = entry.trim_start();
    let lead = entry.len() - trimmed.len();
    let mut words = trimmed.split_whitespace();
    let (Some(day_text), Some(times), None) = (words.next(), words.next(), words.next()) else {
        return Err(error(
            lead,
            format!("{entry:?} is not an opening time"),
            WEEKLY_HINT,
        ));
    };
    let days = days(day_text, lead)?;
    let times_at = lead + trimmed.find(times).unwrap_or(0);
    let (start, end) = span_of_times(times, times_at)?;
    let minutes = if end > start {
        end - start
    } else if end == start {
        return Err(error(
            times_at,
            format!("{times:?} starts and ends at the same time"),
            "for round the clock write \"daily 00:00-24:00\"",
        ));
    } else {
        // Past midnight: e.g. 22:00-02:00.
        DAY - start + end
    };
    Ok(Weekly {
        days,
        start,
        minutes,
    })
}

fn date(text: &str, offset: usize) -> Result<Date, SpecError> {
    let bad = |why: String| error(offset, why, CLOSED_HINT);
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad(format!("{text:?} is not a date (YYYY-MM-DD)")));
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad(format!("{text:?} is not a date (YYYY-MM-DD)")));
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i16>(), m.parse::<i8>(), d.parse::<i8>()) else {
        return Err(bad(format!("{text:?} is not a date (YYYY-MM-DD)")));
    };
    Date::new(y, m, d).map_err(|_| bad(format!("{text:?} is not a day of the calendar")))
}

fn at_minute(date: Date, minute: u16) -> DateTime {
    if minute >= DAY {
        // Only 24:00; a date at least one day before the end of the calendar.
        let next = date.tomorrow().unwrap_or(date);
        return next.to_datetime(Time::midnight());
    }
    let time = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).unwrap_or(Time::MIN);
    date.to_datetime(time)
}

/// A date with an optional time of day, e.g. `2026-12-31` or `2026-12-31 16:00`.
fn point(words: &[(usize, &str)], start: bool) -> Result<DateTime, SpecError> {
    match words {
        [(at, d)] => {
            let day = date(d, *at)?;
            Ok(if start {
                at_minute(day, 0)
            } else {
                at_minute(day, DAY)
            })
        }
        [(at, d), (tat, t)] => {
            let day = date(d, *at)?;
            Ok(at_minute(day, time_of_day(t, *tat, !start)?))
        }
        _ => Err(error(
            words.first().map_or(0, |w| w.0),
            "expected a date, optionally followed by a time",
            CLOSED_HINT,
        )),
    }
}

/// Parse a closure: a day, part of a day, or a range `A to B` of days or date-times.
pub fn parse_closure(entry: &str) -> Result<Closure, SpecError> {
    let words: Vec<(usize, &str)> = entry
        .split_whitespace()
        .map(|w| (w.as_ptr() as usize - entry.as_ptr() as usize, w))
        .collect();
    let closure = match words.iter().position(|(_, w)| w.eq_ignore_ascii_case("to")) {
        Some(i) => {
            let start = point(&words[..i], true)?;
            let end = point(&words[i + 1..], false)?;
            if end <= start {
                return Err(error(
                    words[i + 1..].first().map_or(words[i].0, |w| w.0),
                    "this closure ends before it starts",
                    "write the earlier date first",
                ));
            }
            Closure { start, end }
        }
        None => match words.as_slice() {
            [(at, d)] => {
                let day = date(d, *at)?;
                Closure {
                    start: at_minute(day, 0),
                    end: at_minute(day, DAY),
                }
            }
            [(at, d), (tat, t)] => {
                let day = date(d, *at)?;
                let (start, end) = span_of_times(t, *tat)?;
                if end <= start {
                    return Err(error(
                        *tat,
                        format!("{t:?} ends before it starts"),
                        "a closure on one day must end after it starts; for several days write \"2026-12-31 16:00 to 2027-01-02 08:00\"",
                    ));
                }
                Closure {
                    start: at_minute(day, start),
                    end: at_minute(day, end),
                }
            }
            _ => {
                return Err(error(
                    words.first().map_or(0, |w| w.0),
                    format!("{entry:?} is not a closure"),
                    CLOSED_HINT,
                ));
            }
        },
    };
    Ok(closure)
}

/// Pairs of weekly entries (by index) that cover the same minute of the week.
pub fn overlaps(entries: &[Weekly]) -> Vec<(usize, usize)> {
    const WEEK: usize = 7 * DAY as usize;
    let mut owner: Vec<Option<usize>> = vec![None; WEEK];
    let mut found = Vec::new();
    for (i, w) in entries.iter().enumerate() {
        for (d, _) in w.days.iter().enumerate().filter(|(_, on)| **on) {
            let base = d * DAY as usize + w.start as usize;
            for m in 0..w.minutes as usize {
                let slot = &mut owner[(base + m) % WEEK];
                match slot {
                    Some(j) if *j != i => {
                        if !found.contains(&(*j, i)) {
                            found.push((*j, i));
                        }
                    }
                    _ => *slot = Some(i),
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn weekly_entries_parse_days_and_hours() {
        let w = parse_weekly("mon-fri 08:00-18:00").unwrap();
        assert_eq!(w.days, [true, true, true, true, true, false, false]);
        assert_eq!((w.start, w.minutes), (480, 600));
        let w = parse_weekly("fri-mon 22:00-02:00").unwrap();
        assert_eq!(w.days, [true, false, false, false, true, true, true]);
        assert_eq!((w.start, w.minutes), (22 * 60, 240));
        let w = parse_weekly("mon,wed 12:00-24:00").unwrap();
        assert_eq!(w.days, [true, false, true, false, false, false, false]);
        assert_eq!(w.minutes, 720);
        assert_eq!(parse_weekly("daily 00:00-24:00").unwrap().minutes, DAY);
        assert!(parse_weekly("Saturday 09:00-13:00").unwrap().days[5]);
    }

    #[test]
    fn bad_weekly_entries_point_at_the_problem() {
        let e = parse_weekly("mon-fri 08:00-25:00").unwrap_err();
        assert_eq!(e.offset, 14);
        assert!(e.message.contains("\"25:00\""), "{e:?}");
        let e = parse_weekly("mon-fry 08:00-18:00").unwrap_err();
        assert_eq!(e.offset, 4);
        assert!(parse_weekly("mon 25:00-26:00").unwrap_err().offset == 4);
        assert!(parse_weekly("mon 08:00-08:00").is_err());
        assert!(parse_weekly("mon 8-18").is_err());
        assert!(parse_weekly("08:00-18:00").is_err());
        assert!(parse_weekly("mon 08:60-09:00").is_err());
        assert!(
            parse_weekly("mon 24:00-02:00").is_err(),
            "24:00 only ends a span"
        );
    }

    #[test]
    fn intervals_over_midnight_cover_the_next_morning() {
        let w = parse_weekly("fri 22:00-02:00").unwrap();
        // 2026-11-27 is a Friday.
        assert!(w.contains(date(2026, 11, 27).at(22, 0, 0, 0)));
        assert!(w.contains(date(2026, 11, 28).at(1, 59, 0, 0)));
        assert!(!w.contains(date(2026, 11, 28).at(2, 0, 0, 0)));
        assert!(
            !w.contains(date(2026, 11, 27).at(1, 0, 0, 0)),
            "Thursday night is not open"
        );
        assert!(!w.contains(date(2026, 11, 27).at(21, 59, 0, 0)));
    }

    #[test]
    fn closures_are_days_half_days_and_ranges() {
        let c = parse_closure("2026-12-25").unwrap();
        assert_eq!(c.start, date(2026, 12, 25).at(0, 0, 0, 0));
        assert_eq!(c.end, date(2026, 12, 26).at(0, 0, 0, 0));
        let c = parse_closure("2026-12-24 14:00-24:00").unwrap();
        assert_eq!(c.start, date(2026, 12, 24).at(14, 0, 0, 0));
        assert_eq!(c.end, date(2026, 12, 25).at(0, 0, 0, 0));
        let c = parse_closure("2026-12-24 to 2026-12-26").unwrap();
        assert_eq!(c.end, date(2026, 12, 27).at(0, 0, 0, 0));
        let c = parse_closure("2026-12-31 16:00 to 2027-01-02 08:00").unwrap();
        assert_eq!(c.end, date(2027, 1, 2).at(8, 0, 0, 0));
    }

    #[test]
    fn bad_closures_are_rejected() {
        assert!(
            parse_closure("2026-02-30")
                .unwrap_err()
                .message
                .contains("calendar")
        );
        assert!(parse_closure("2026-12-24 14:00-10:00").is_err(), "reversed");
        assert!(
            parse_closure("2026-12-26 to 2026-12-24").is_err(),
            "reversed range"
        );
        assert!(parse_closure("24.12.2026").is_err());
        let e = parse_closure("2026-12-24 25:00-26:00").unwrap_err();
        assert_eq!(e.offset, 11);
    }

    #[test]
    fn overlapping_intervals_are_found_across_midnight() {
        let entries: Vec<Weekly> = ["mon-fri 08:00-18:00", "sat 09:00-13:00", "fri 22:00-02:00"]
            .iter()
            .map(|e| parse_weekly(e).unwrap())
            .collect();
        assert!(overlaps(&entries).is_empty());
        let entries: Vec<Weekly> = [
            "fri 22:00-02:00",
            "sat 01:00-05:00",
            "mon 17:00-19:00",
            "mon 08:00-17:30",
        ]
        .iter()
        .map(|e| parse_weekly(e).unwrap())
        .collect();
        assert_eq!(overlaps(&entries), vec![(0, 1), (2, 3)]);
        // Sunday night into Monday morning wraps around the week.
        let entries: Vec<Weekly> = ["sun 22:00-06:00", "mon 05:00-07:00"]
            .iter()
            .map(|e| parse_weekly(e).unwrap())
            .collect();
        assert_eq!(overlaps(&entries), vec![(0, 1)]);
    }
}
