//! The customer-facing wording of the next opening (`{next_open.NAME}`) in the schedule's
//! language: "tomorrow at 08:00", "morgen um 08:00", "demain à 08:00", "mañana a las 08:00",
//! "morgen om 08:00".
//!
//! The wording only depends on the opening (a zoned time, in the schedule's own time zone)
//! and the current instant, both passed in: the same input always gives the same text.

use jiff::civil::{Date, Weekday};
use jiff::{Timestamp, Zoned};

/// A language `{next_open…}` can speak (`[schedule.X] language`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Language {
    #[default]
    English,
    German,
    French,
    Spanish,
    Dutch,
}

/// The language codes a schedule may name, in the order they are listed to supervisors.
pub const LANGUAGE_CODES: [&str; 5] = ["en", "de", "fr", "es", "nl"];

/// The words one language uses; `{t}` in `at` is the time ("08:00").
struct Words {
    now: &'static str,
    soon: &'static str,
    today: &'static str,
    tomorrow: &'static str,
    weekdays: [&'static str; 7],
    months: [&'static str; 12],
}

const ENGLISH: Words = Words {
    now: "now",
    soon: "soon",
    today: "today",
    tomorrow: "tomorrow",
    weekdays: [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ],
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
};

const GERMAN: Words = Words {
    now: "jetzt",
    soon: "bald",
    today: "heute",
    tomorrow: "morgen",
    weekdays: [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ],
    months: [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
};

const FRENCH: Words = Words {
    now: "maintenant",
    soon: "bientôt",
    today: "aujourd'hui",
    tomorrow: "demain",
    weekdays: [
        "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    ],
    months: [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
};

const SPANISH: Words = Words {
    now: "ahora",
    soon: "pronto",
    today: "hoy",
    tomorrow: "mañana",
    weekdays: [
        "lunes",
        "martes",
        "miércoles",
        "jueves",
        "viernes",
        "sábado",
        "domingo",
    ],
    months: [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
};

const DUTCH: Words = Words {
    now: "nu",
    soon: "binnenkort",
    today: "vandaag",
    tomorrow: "morgen",
    weekdays: [
        "maandag",
        "dinsdag",
        "woensdag",
        "donderdag",
        "vrijdag",
        "zaterdag",
        "zondag",
    ],
    months: [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ],
};

/// How far the opening is from today, in the schedule's calendar.
enum When<'w> {
    Today,
    Tomorrow,
    /// Within the coming week: the weekday is enough.
    ThisWeek(&'w str),
    /// Further: weekday, day of the month, month.
    Later(&'w str, i8, &'w str),
}

impl Language {
    /// The language for a code as written in a rule file (`"en"`, `"de"`, …), case-insensitive.
    pub fn from_code(code: &str) -> Option<Language> {
        match code.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Language::English),
            "de" => Some(Language::German),
            "fr" => Some(Language::French),
            "es" => Some(Language::Spanish),
            "nl" => Some(Language::Dutch),
            _ => None,
        }
    }

    /// The code of this language, as written in rule files.
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::German => "de",
            Language::French => "fr",
            Language::Spanish => "es",
            Language::Dutch => "nl",
        }
    }

    fn words(self) -> &'static Words {
        match self {
            Language::English => &ENGLISH,
            Language::German => &GERMAN,
            Language::French => &FRENCH,
            Language::Spanish => &SPANISH,
            Language::Dutch => &DUTCH,
        }
    }

    /// The customer-facing form of an opening, seen from `now` in the opening's own time
    /// zone: "now", "today at 14:00", "tomorrow at 08:00", the weekday within a week, else
    /// weekday, day and month; "soon" when there is no opening in sight.
    pub fn describe(self, opening: Option<&Zoned>, now: Timestamp) -> String {
        let words = self.words();
        let Some(opening) = opening else {
            return words.soon.to_owned();
        };
        if opening.timestamp() <= now {
            return words.now.to_owned();
        }
        let today: Date = now.to_zoned(opening.time_zone().clone()).date();
        let day = opening.date();
        let weekday = words.weekdays[weekday_index(day.weekday())];
        let when = match (day - today).get_days() {
            0 => When::Today,
            1 => When::Tomorrow,
            2..=6 => When::ThisWeek(weekday),
            _ => When::Later(
                weekday,
                day.day(),
                words.months[(day.month().clamp(1, 12) - 1) as usize],
            ),
        };
        self.phrase(&when, opening.hour(), opening.minute())
    }

    /// The sentence part for `when` at `hour:minute`.
    fn phrase(self, when: &When<'_>, hour: i8, minute: i8) -> String {
        let words = self.words();
        let time = format!("{hour:02}:{minute:02}");
        let day = match (self, when) {
            (_, When::Today) => words.today.to_owned(),
            (_, When::Tomorrow) => words.tomorrow.to_owned(),
            (Language::Spanish, When::ThisWeek(weekday)) => format!("el {weekday}"),
            (_, When::ThisWeek(weekday)) => (*weekday).to_owned(),
            (Language::English, When::Later(weekday, d, month)) => {
                format!("{weekday}, {d} {month}")
            }
            (Language::German, When::Later(weekday, d, month)) => {
                format!("{weekday}, {d}. {month}")
            }
            (Language::Spanish, When::Later(weekday, d, month)) => {
                format!("el {weekday} {d} de {month}")
            }
            (Language::French | Language::Dutch, When::Later(weekday, d, month)) => {
                format!("{weekday} {d} {month}")
            }
        };
        let at = match self {
            Language::English => format!("at {time}"),
            Language::German => format!("um {time}"),
            Language::French => format!("à {time}"),
            // "a la una", "a las dos": 01:xx is singular.
            Language::Spanish if hour == 1 => format!("a la {time}"),
            Language::Spanish => format!("a las {time}"),
            Language::Dutch => format!("om {time}"),
        };
        format!("{day} {at}")
    }
}

fn weekday_index(day: Weekday) -> usize {
    day.to_monday_zero_offset() as usize
}

#[cfg(test)]
mod tests;
