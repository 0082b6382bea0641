//! Schedules across DST switch days, over midnight, with half-day holidays and overrides.

use super::*;

pub(super) fn schedule(tz: &str, open: &[&str], closed: &[&str]) -> Schedule {
    Schedule::new(
        "support".into(),
        TimeZone::get(tz).unwrap(),
        open.iter()
            .map(|e| (e.to_string(), parse_weekly(e).unwrap()))
            .collect(),
        closed
            .iter()
            .map(|e| (e.to_string(), parse_closure(e).unwrap()))
            .collect(),
    )
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn open_at(s: &Schedule, at: &str) -> bool {
    s.state(ts(at), None).is_open()
}

fn next(s: &Schedule, at: &str) -> (Timestamp, String) {
    let zoned = s.next_open(ts(at), None).expect("opens again");
    (zoned.timestamp(), describe(Some(&zoned), ts(at)))
}

#[test]
fn berlin_spring_forward_keeps_wall_clock_hours() {
    // 2026-03-29: 02:00 CET becomes 03:00 CEST.
    let s = schedule(
        "Europe/Berlin",
        &["sun 01:00-05:00", "mon-fri 08:00-18:00"],
        &[],
    );
    assert!(open_at(&s, "2026-03-29T00:30:00Z"), "01:30 CET");
    assert!(open_at(&s, "2026-03-29T01:30:00Z"), "03:30 CEST");
    assert!(!open_at(&s, "2026-03-29T03:00:00Z"), "05:00 CEST");
    // Saturday evening before the switch: Monday 08:00 is now UTC+2.
    let (at, text) = next(&s, "2026-03-28T19:00:00Z");
    assert_eq!(at, ts("2026-03-29T00:00:00Z"), "Sunday 01:00 CET");
    assert_eq!(text, "tomorrow at 01:00");
    let (at, text) = next(&s, "2026-03-29T04:00:00Z");
    assert_eq!(at, ts("2026-03-30T06:00:00Z"));
    assert_eq!(text, "tomorrow at 08:00");
}

#[test]
fn berlin_opening_inside_the_gap_opens_after_it() {
    let s = schedule("Europe/Berlin", &["sun 02:30-06:00"], &[]);
    let (at, _) = next(&s, "2026-03-28T12:00:00Z");
    assert_eq!(
        at,
        ts("2026-03-29T01:30:00Z"),
        "03:30 CEST, right after the gap"
    );
}

#[test]
fn berlin_fall_back_day() {
    // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
    let s = schedule(
        "Europe/Berlin",
        &["sun 02:00-03:00", "mon-fri 08:00-18:00"],
        &[],
    );
    assert!(open_at(&s, "2026-10-25T00:30:00Z"), "02:30 CEST");
    assert!(open_at(&s, "2026-10-25T01:30:00Z"), "02:30 CET");
    assert!(!open_at(&s, "2026-10-25T02:00:00Z"), "03:00 CET");
    let (at, text) = next(&s, "2026-10-25T02:00:00Z");
    assert_eq!(at, ts("2026-10-26T07:00:00Z"), "Monday 08:00 CET");
    assert_eq!(text, "tomorrow at 08:00");
    let (at, _) = next(&s, "2026-10-24T20:00:00Z");
    assert_eq!(at, ts("2026-10-25T00:00:00Z"), "the first 02:00");
}

#[test]
fn new_york_switch_days() {
    // 2026-03-08: 02:00 EST becomes 03:00 EDT; an overnight shift spans it.
    let s = schedule(
        "America/New_York",
        &["sat 22:00-06:00", "mon-fri 09:00-17:00"],
        &[],
    );
    assert!(open_at(&s, "2026-03-08T03:30:00Z"), "Saturday 22:30 EST");
    assert!(open_at(&s, "2026-03-08T09:59:00Z"), "Sunday 05:59 EDT");
    assert!(!open_at(&s, "2026-03-08T10:00:00Z"), "Sunday 06:00 EDT");
    let (at, text) = next(&s, "2026-03-08T10:00:00Z");
    assert_eq!(at, ts("2026-03-09T13:00:00Z"), "Monday 09:00 EDT");
    assert_eq!(text, "tomorrow at 09:00");
    // 2026-11-01: 02:00 EDT becomes 01:00 EST.
    let s = schedule("America/New_York", &["mon-fri 09:00-17:00"], &[]);
    let (at, text) = next(&s, "2026-10-31T02:00:00Z");
    assert_eq!(at, ts("2026-11-02T14:00:00Z"), "Monday 09:00 EST");
    assert_eq!(text, "Monday at 09:00");
}

#[test]
fn shift_over_midnight_belongs_to_the_day_it_starts() {
    let s = schedule("Europe/Berlin", &["fri 22:00-02:00"], &[]);
    assert!(open_at(&s, "2026-11-27T21:00:00Z"), "Friday 22:00");
    assert!(open_at(&s, "2026-11-28T00:59:00Z"), "Saturday 01:59");
    assert!(!open_at(&s, "2026-11-28T01:00:00Z"), "Saturday 02:00");
    assert!(
        !open_at(&s, "2026-11-27T00:30:00Z"),
        "Friday 01:30 (Thursday had no shift)"
    );
}

#[test]
fn half_day_holiday_wins_over_open_and_next_open_skips_the_holidays() {
    let s = schedule(
        "Europe/Berlin",
        &["mon-fri 08:00-18:00"],
        &["2026-12-24 14:00-24:00", "2026-12-25", "2026-12-26"],
    );
    assert!(open_at(&s, "2026-12-24T12:59:00Z"), "Thursday 13:59");
    assert_eq!(
        s.state(ts("2026-12-24T13:00:00Z"), None),
        State::Closed(Closed::Closure("2026-12-24 14:00-24:00".into()))
    );
    let (at, text) = next(&s, "2026-12-24T13:00:00Z");
    assert_eq!(at, ts("2026-12-28T07:00:00Z"));
    assert_eq!(text, "Monday at 08:00");
}

#[test]
fn next_open_across_a_weekend_and_a_holiday_monday() {
    let s = schedule("Europe/Berlin", &["mon-fri 08:00-18:00"], &["2026-05-25"]);
    let (at, text) = next(&s, "2026-05-22T16:30:00Z");
    assert_eq!(at, ts("2026-05-26T06:00:00Z"));
    assert_eq!(text, "Tuesday at 08:00");
    let (_, text) = next(&s, "2026-05-12T16:30:00Z");
    assert_eq!(text, "tomorrow at 08:00");
}

#[test]
fn a_morning_closure_ends_inside_the_opening_hours() {
    let s = schedule(
        "Europe/Berlin",
        &["mon-fri 08:00-18:00"],
        &["2026-12-23 08:00-12:00"],
    );
    let (at, text) = next(&s, "2026-12-23T08:00:00Z");
    assert_eq!(at, ts("2026-12-23T11:00:00Z"));
    assert_eq!(text, "today at 12:00");
    assert_eq!(
        describe(
            s.next_open(ts("2026-12-23T11:30:00Z"), None).as_ref(),
            ts("2026-12-23T11:30:00Z")
        ),
        "now"
    );
}

#[test]
fn override_closes_first_and_next_open_waits_for_its_end() {
    let s = schedule("Europe/Berlin", &["mon-fri 08:00-18:00"], &[]);
    let o = Override {
        until: ts("2026-11-25T13:00:00Z"),
        schedule: None,
        message: None,
        set_at: ts("2026-11-25T09:00:00Z"),
    };
    let now = ts("2026-11-25T10:00:00Z");
    assert_eq!(
        s.state(now, Some(&o)),
        State::Closed(Closed::Override { until: o.until })
    );
    assert_eq!(s.next_open(now, Some(&o)).unwrap().timestamp(), o.until);
    let other = Override {
        schedule: Some("sales".into()),
        ..o.clone()
    };
    assert!(s.state(now, Some(&other)).is_open());
    // An override running into the night: the next opening is the next morning.
    let late = Override {
        until: ts("2026-11-25T20:00:00Z"),
        ..o
    };
    let (at, text) = (
        s.next_open(now, Some(&late)).unwrap().timestamp(),
        describe(s.next_open(now, Some(&late)).as_ref(), now),
    );
    assert_eq!(at, ts("2026-11-26T07:00:00Z"));
    assert_eq!(text, "tomorrow at 08:00");
}

#[test]
fn describe_far_openings_with_the_date() {
    let s = schedule(
        "Europe/Berlin",
        &["mon 08:00-18:00"],
        &["2026-11-30 to 2026-12-20"],
    );
    let now = ts("2026-11-26T12:00:00Z");
    assert_eq!(
        describe(s.next_open(now, None).as_ref(), now),
        "Monday, 21 December at 08:00"
    );
    let never = schedule(
        "Europe/Berlin",
        &["mon 08:00-18:00"],
        &["2026-01-01 to 2028-01-01"],
    );
    assert_eq!(describe(never.next_open(now, None).as_ref(), now), "soon");
}
