//! The preview across DST weeks in Europe and the US, holidays, midnight and overrides.

use jiff::civil::date;

use super::*;
use crate::schedule::tests::schedule;

/// Each day as `date: opening, opening`.
fn openings(days: &[Day]) -> Vec<String> {
    days.iter()
        .map(|d| {
            let open: Vec<String> = d.open.iter().map(Opening::text).collect();
            format!("{}: {}", d.date, open.join(", "))
        })
        .collect()
}

#[test]
fn a_european_dst_week_keeps_wall_clock_hours_and_shows_the_change() {
    // 2026-03-29 (Sunday): 02:00 CET becomes 03:00 CEST.
    let s = schedule(
        "Europe/Berlin",
        &["mon-fri 08:00-18:00", "sun 01:00-05:00"],
        &[],
    );
    let days = s.preview(date(2026, 3, 26), 5, None);
    assert_eq!(
        openings(&days),
        [
            "2026-03-26: 08:00–18:00 +01:00",
            "2026-03-27: 08:00–18:00 +01:00",
            "2026-03-28: ",
            "2026-03-29: 01:00 +01:00–05:00 +02:00",
            "2026-03-30: 08:00–18:00 +02:00",
        ]
    );
    let changes: Vec<_> = days.iter().map(|d| d.transitions.len()).collect();
    assert_eq!(changes, [0, 0, 0, 1, 0]);
    let t = days[3].transitions[0];
    assert_eq!(t.at, "2026-03-29T01:00:00Z".parse::<Timestamp>().unwrap());
    assert_eq!(
        (offset_text(t.before), offset_text(t.after)),
        ("+01:00".into(), "+02:00".into())
    );
}

#[test]
fn a_us_dst_week_and_the_hour_that_happens_twice() {
    // 2026-11-01 (Sunday): 02:00 EDT becomes 01:00 EST; 01:00–02:00 happens twice.
    let s = schedule(
        "America/New_York",
        &["mon-fri 09:00-17:00", "sun 00:30-01:30"],
        &[],
    );
    let days = s.preview(date(2026, 10, 30), 3, None);
    assert_eq!(
        openings(&days),
        [
            "2026-10-30: 09:00–17:00 -04:00",
            "2026-10-31: ",
            // 00:30–01:30 on the wall clock, and again 01:00–01:30 after the clocks go back.
            "2026-11-01: 00:30–01:30 -04:00, 01:00–01:30 -05:00",
        ]
    );
    let t = days[2].transitions[0];
    assert_eq!(
        (offset_text(t.before), offset_text(t.after)),
        ("-04:00".into(), "-05:00".into())
    );
    let monday = s.preview(date(2026, 11, 2), 1, None);
    assert_eq!(openings(&monday), ["2026-11-02: 09:00–17:00 -05:00"]);
}

#[test]
fn holidays_and_half_days_are_marked() {
    let s = schedule(
        "Europe/Berlin",
        &["mon-fri 08:00-18:00"],
        &[
            "2026-12-24 14:00-24:00",
            "2026-12-25",
            "2026-12-31 to 2027-01-01",
        ],
    );
    let days = s.preview(date(2026, 12, 24), 2, None);
    assert_eq!(
        openings(&days),
        ["2026-12-24: 08:00–14:00 +01:00", "2026-12-25: "]
    );
    assert_eq!(
        days[0].closed,
        [ClosedEntry {
            entry: "2026-12-24 14:00-24:00".into(),
            whole_day: false
        }]
    );
    assert_eq!(
        days[1].closed,
        [ClosedEntry {
            entry: "2026-12-25".into(),
            whole_day: true
        }]
    );
    let new_year = s.preview(date(2026, 12, 31), 2, None);
    assert!(
        new_year
            .iter()
            .all(|d| d.open.is_empty() && d.closed[0].whole_day)
    );
}

#[test]
fn an_interval_across_midnight_is_cut_and_marked() {
    let s = schedule("Europe/Berlin", &["fri 22:00-02:00"], &[]);
    let days = s.preview(date(2026, 11, 27), 2, None);
    assert_eq!(
        openings(&days),
        [
            "2026-11-27: 22:00–24:00 +01:00",
            "2026-11-28: 00:00–02:00 +01:00"
        ]
    );
    assert!(days[0].open[0].into_next_day && !days[0].open[0].from_day_before);
    assert!(days[1].open[0].from_day_before && !days[1].open[0].into_next_day);
}

#[test]
fn an_override_closes_from_when_it_was_set_until_it_ends() {
    let s = schedule("Europe/Berlin", &["mon-fri 08:00-18:00"], &[]);
    let ts = |t: &str| t.parse::<Timestamp>().unwrap();
    let o = Override {
        until: ts("2026-11-25T15:00:00Z"),
        schedule: None,
        message: None,
        set_at: ts("2026-11-25T09:00:00Z"),
    };
    let days = s.preview(date(2026, 11, 25), 2, Some(&o));
    assert_eq!(
        openings(&days),
        [
            "2026-11-25: 08:00–10:00 +01:00, 16:00–18:00 +01:00",
            "2026-11-26: 08:00–18:00 +01:00",
        ]
    );
    let (from, until) = days[0].overridden.clone().unwrap();
    assert_eq!((from.hour(), until.hour()), (10, 16));
    assert_eq!(days[1].overridden, None);

    let other = Override {
        schedule: Some("sales".into()),
        ..o
    };
    let days = s.preview(date(2026, 11, 25), 1, Some(&other));
    assert_eq!(openings(&days), ["2026-11-25: 08:00–18:00 +01:00"]);
    assert_eq!(days[0].overridden, None);
}
