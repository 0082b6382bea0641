//! `{next_open…}` in every language, across DST switches, weekends and holidays. The clock
//! is injected: each case passes its own "now".

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::Language;
use crate::schedule::{Schedule, parse_closure, parse_weekly};

/// Office hours with Christmas and a long winter closure, in `tz`.
fn office(tz: &str, language: Language) -> Schedule {
    let open = ["mon-fri 08:00-18:00", "sun 01:00-01:30"];
    let closed = [
        "2026-12-24 14:00-24:00",
        "2026-12-25",
        "2026-12-26",
        "2026-12-27 to 2027-01-10",
    ];
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
    .with_language(language)
}

/// A civil time in the schedule's zone, as an instant.
fn local(s: &Schedule, civil: &str) -> Timestamp {
    let dt: jiff::civil::DateTime = civil.parse().unwrap();
    dt.to_zoned(s.tz.clone()).unwrap().timestamp()
}

/// (what the case shows, local "now", expected text per language en, de, fr, es, nl).
const CASES: [(&str, &str, [&str; 5]); 6] = [
    (
        "Friday evening, the weekend of the spring DST switch ahead",
        "2026-03-27T19:00",
        [
            "Sunday at 01:00",
            "Sonntag um 01:00",
            "dimanche à 01:00",
            "el domingo a la 01:00",
            "zondag om 01:00",
        ],
    ),
    (
        "Sunday after the spring switch: Monday is summer time",
        "2026-03-29T12:00",
        [
            "tomorrow at 08:00",
            "morgen um 08:00",
            "demain à 08:00",
            "mañana a las 08:00",
            "morgen om 08:00",
        ],
    ),
    (
        "Saturday before the autumn switch: the weekend's short Sunday slot",
        "2026-10-24T20:00",
        [
            "tomorrow at 01:00",
            "morgen um 01:00",
            "demain à 01:00",
            "mañana a la 01:00",
            "morgen om 01:00",
        ],
    ),
    (
        "early on a working day",
        "2026-11-24T06:30",
        [
            "today at 08:00",
            "heute um 08:00",
            "aujourd'hui à 08:00",
            "hoy a las 08:00",
            "vandaag om 08:00",
        ],
    ),
    (
        "Christmas Eve afternoon: the holidays and the winter closure are skipped",
        "2026-12-24T15:00",
        [
            "Monday, 11 January at 08:00",
            "Montag, 11. Januar um 08:00",
            "lundi 11 janvier à 08:00",
            "el lunes 11 de enero a las 08:00",
            "maandag 11 januari om 08:00",
        ],
    ),
    (
        "open right now",
        "2026-11-24T10:00",
        ["now", "jetzt", "maintenant", "ahora", "nu"],
    ),
];

const LANGUAGES: [(Language, &str); 5] = [
    (Language::English, "Europe/Vienna"),
    (Language::German, "Europe/Berlin"),
    (Language::French, "Europe/Paris"),
    (Language::Spanish, "Europe/Madrid"),
    (Language::Dutch, "Europe/Amsterdam"),
];

#[test]
fn every_language_describes_weekends_dst_and_holidays() {
    for (case, now, expected) in CASES {
        for (i, (language, tz)) in LANGUAGES.into_iter().enumerate() {
            let s = office(tz, language);
            let at = local(&s, now);
            assert_eq!(
                s.describe_next_open(at, None),
                expected[i],
                "{case} ({}, {tz})",
                language.code()
            );
        }
    }
}

#[test]
fn the_wording_follows_the_wall_clock_across_the_switch() {
    for (language, tz) in LANGUAGES {
        let s = office(tz, language);
        // Sunday 2026-03-29 after the switch: Monday 08:00 is summer time (UTC+2), and still
        // "08:00" in every language.
        let opening = s
            .next_open(local(&s, "2026-03-29T12:00"), None)
            .expect("opens");
        assert_eq!((opening.hour(), opening.minute()), (8, 0), "{tz}");
        assert_eq!(opening.offset().seconds(), 2 * 3600, "{tz}");
        // Sunday 2026-10-25, the fall-back day: Monday 08:00 is winter time again.
        let opening = s
            .next_open(local(&s, "2026-10-25T12:00"), None)
            .expect("opens");
        assert_eq!(opening.offset().seconds(), 3600, "{tz}");
        assert_eq!(
            s.describe_next_open(local(&s, "2026-10-25T12:00"), None),
            CASES[1].2[LANGUAGES.iter().position(|l| l.0 == language).unwrap()],
            "{tz}"
        );
    }
}

#[test]
fn a_schedule_that_never_opens_says_soon() {
    let never = Schedule::new(
        "never".into(),
        TimeZone::get("Europe/Berlin").unwrap(),
        vec![(
            "mon 08:00-18:00".into(),
            parse_weekly("mon 08:00-18:00").unwrap(),
        )],
        vec![(
            "2026-01-01 to 2028-01-01".into(),
            parse_closure("2026-01-01 to 2028-01-01").unwrap(),
        )],
    );
    let now: Timestamp = "2026-06-01T10:00:00Z".parse().unwrap();
    let soon: Vec<String> = LANGUAGES
        .iter()
        .map(|(l, _)| {
            never
                .clone()
                .with_language(*l)
                .describe_next_open(now, None)
        })
        .collect();
    assert_eq!(soon, ["soon", "bald", "bientôt", "pronto", "binnenkort"]);
}

#[test]
fn us_dst_switches_in_english() {
    // New York switches on 2026-03-08, three weeks before Europe.
    let s = office("America/New_York", Language::English);
    let friday = local(&s, "2026-03-06T19:00");
    assert_eq!(s.describe_next_open(friday, None), "Sunday at 01:00");
    let sunday = local(&s, "2026-03-08T12:00");
    let opening = s.next_open(sunday, None).unwrap();
    assert_eq!(opening.offset().seconds(), -4 * 3600, "EDT");
    assert_eq!(s.describe_next_open(sunday, None), "tomorrow at 08:00");
}

#[test]
fn codes_round_trip_and_unknown_codes_are_refused() {
    for code in super::super::LANGUAGE_CODES {
        assert_eq!(Language::from_code(code).unwrap().code(), code);
    }
    assert_eq!(Language::from_code(" DE "), Some(Language::German));
    assert_eq!(Language::from_code("it"), None);
    assert_eq!(Language::default(), Language::English);
}
