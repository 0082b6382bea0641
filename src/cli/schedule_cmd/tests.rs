//! The text supervisors read, and the refusals.

use super::*;

const RULES: &str = r#"
[schedule.support]
timezone = "Europe/Berlin"
open = ["mon-fri 08:00-18:00", "fri 22:00-02:00"]
closed = ["2026-12-24 14:00-24:00", "2026-12-25"]

[schedule.us]
timezone = "America/New_York"
open = ["mon-fri 09:00-17:00"]

[[rule]]
name = "after-hours"
on = "accept"
when.schedule = { closed = "support" }
reply = "We are closed."
"#;

fn rules() -> RuleSet {
    RuleSet::from_sources(&[("rules/10-hours.toml".into(), RULES.into())]).unwrap()
}

fn ts(t: &str) -> Timestamp {
    t.parse().unwrap()
}

fn request(from: Option<&str>, weeks: u32, schedule: Option<&str>) -> Request {
    Request {
        from: from.map(str::to_owned),
        weeks,
        schedule: schedule.map(str::to_owned),
        ..Request::default()
    }
}

#[test]
fn a_dst_week_reads_day_by_day() {
    let now = ts("2026-03-20T12:00:00Z");
    let text = render(
        &rules(),
        &request(Some("2026-03-23"), 1, Some("support")),
        None,
        now,
    )
    .unwrap();
    let expected = "\
Schedule \"support\" (Europe/Berlin), 2026-03-23 to 2026-03-29
  Mon 2026-03-23  08:00–18:00 +01:00
  Tue 2026-03-24  08:00–18:00 +01:00
  Wed 2026-03-25  08:00–18:00 +01:00
  Thu 2026-03-26  08:00–18:00 +01:00
  Fri 2026-03-27  08:00–18:00 +01:00, 22:00–24:00 +01:00 (continues)
  Sat 2026-03-28  00:00–02:00 +01:00 (from the day before)
  Sun 2026-03-29  closed
                  clocks go forward 02:00 → 03:00 (+01:00 → +02:00)
";
    assert_eq!(text, expected);
}

#[test]
fn the_us_fall_back_holidays_and_the_override_are_shown() {
    let now = ts("2026-10-30T12:00:00Z");
    let text = render(&rules(), &request(None, 1, Some("us")), None, now).unwrap();
    assert!(
        text.contains("Fri 2026-10-30  09:00–17:00 -04:00\n"),
        "{text}"
    );
    assert!(
        text.contains("Sun 2026-11-01  closed\n                  clocks go back 02:00 → 01:00 (-04:00 → -05:00)\n"),
        "{text}"
    );
    assert!(
        text.contains("Mon 2026-11-02  09:00–17:00 -05:00\n"),
        "{text}"
    );

    let text = render(
        &rules(),
        &request(Some("2026-12-24"), 1, Some("support")),
        None,
        now,
    )
    .unwrap();
    assert!(
        text.contains("Thu 2026-12-24  08:00–14:00 +01:00\n                  closed by \"2026-12-24 14:00-24:00\"\n"),
        "{text}"
    );
    assert!(
        text.contains("Fri 2026-12-25  closed all day (holiday or closed date: \"2026-12-25\")\n"),
        "{text}"
    );

    let o = Override {
        until: ts("2026-11-25T15:00:00Z"),
        schedule: Some("support".into()),
        message: None,
        set_at: ts("2026-11-25T09:00:00Z"),
    };
    let now = ts("2026-11-25T10:00:00Z");
    let text = render(&rules(), &request(None, 1, None), Some(&o), now).unwrap();
    let (support, us) = text.split_once("\n\n").unwrap();
    assert!(
        support.contains("emergency override in force: closed until 2026-11-25 16:00:00 CET"),
        "{support}"
    );
    assert!(
        support.contains("Wed 2026-11-25  08:00–10:00 +01:00, 16:00–18:00 +01:00\n                  emergency override: closed 10:00–16:00 +01:00\n"),
        "{support}"
    );
    assert!(
        !us.contains("override"),
        "the override names another schedule: {us}"
    );
    assert!(us.contains("Wed 2026-11-25  09:00–17:00 -05:00\n"), "{us}");
}

#[test]
fn bad_requests_are_usage_errors() {
    let now = ts("2026-11-25T10:00:00Z");
    let err = |r: Request| render(&rules(), &r, None, now).unwrap_err();
    let (code, why) = err(request(None, 1, Some("suport")));
    assert_eq!(code, EXIT_USAGE);
    assert!(why.contains("did you mean \"support\""), "{why}");
    let (code, why) = err(request(Some("2026-02-30"), 1, None));
    assert_eq!(code, EXIT_USAGE);
    assert!(
        why.contains("--from: \"2026-02-30\" is not a date"),
        "{why}"
    );
    assert_eq!(err(request(None, 0, None)).0, EXIT_USAGE);
    assert_eq!(err(request(None, MAX_WEEKS + 1, None)).0, EXIT_USAGE);
}
