//! Checking `[schedule.NAME]` tables: the time zone, opening intervals and closures.

use jiff::tz::TimeZone;

use crate::schedule::{self, LANGUAGE_CODES, Language, Schedule, SpecError};

use super::super::problem::{Source, closest, did_you_mean};
use super::super::raw::{RawSchedule, Text};
use super::offset_in_string;

/// Report a problem inside one entry string at the exact spot when the entry is written
/// without escapes.
fn report_in(source: &mut Source<'_>, entry: &Text, error: SpecError, header: &str) {
    let at = offset_in_string(source, &entry.span(), entry.get_ref(), error.offset);
    source.report(at, format!("{} in {header}", error.message), error.hint);
}

pub(super) fn check_schedule(source: &mut Source<'_>, raw: &RawSchedule) -> Option<Schedule> {
    let name = raw.name.get_ref();
    let header = format!("[schedule.{name}]");
    let before = source.count();
    let tz = time_zone(source, raw, &header);
    let mut open = Vec::new();
    for entry in raw.open.iter().flat_map(|l| l.get_ref()) {
        match schedule::parse_weekly(entry.get_ref()) {
            Ok(weekly) => open.push((entry, weekly)),
            Err(e) => report_in(source, entry, e, &header),
        }
    }
    let weekly: Vec<_> = open.iter().map(|(_, w)| w.clone()).collect();
    for (first, second) in schedule::overlaps(&weekly) {
        let (a, b) = (open[first].0, open[second].0);
        source.report(
            b.span().start,
            format!("{:?} overlaps {:?} in {header}", b.get_ref(), a.get_ref()),
            Some("merge them into one interval, or make them end before the other starts".into()),
        );
    }
    if raw.open.as_ref().is_none_or(|l| l.get_ref().is_empty()) && !raw.damaged {
        let at = raw
            .open
            .as_ref()
            .map_or(raw.name.span().start, |l| l.span().start);
        source.report(
            at,
            format!("{header} has no opening times"),
            Some("add `open = [\"mon-fri 08:00-18:00\"]`".into()),
        );
    }
    let mut closed = Vec::new();
    for entry in raw.closed.iter().flat_map(|l| l.get_ref()) {
        match schedule::parse_closure(entry.get_ref()) {
            Ok(closure) => closed.push((entry.get_ref().clone(), closure)),
            Err(e) => report_in(source, entry, e, &header),
        }
    }
    let language = language(source, raw, &header);
    let tz = tz?;
    (source.count() == before).then(|| {
        Schedule::new(
            name.clone(),
            tz,
            open.into_iter()
                .map(|(e, w)| (e.get_ref().clone(), w))
                .collect(),
            closed,
        )
        .with_language(language.unwrap_or_default())
    })
}

/// The schedule's `timezone`, an IANA name.
fn time_zone(source: &mut Source<'_>, raw: &RawSchedule, header: &str) -> Option<TimeZone> {
    match &raw.timezone {
        None => {
            if !raw.damaged {
                let hint = "add `timezone = \"Europe/Berlin\"` (an IANA time zone name)";
                source.report(
                    raw.name.span().start,
                    format!("{header} has no `timezone`"),
                    Some(hint.into()),
                );
            }
            None
        }
        Some(tz) => match TimeZone::get(tz.get_ref()) {
            Ok(zone) => Some(zone),
            Err(_) => {
                let names: Vec<String> = jiff::tz::db()
                    .available()
                    .map(|n| n.as_str().to_owned())
                    .collect();
                let hint = match closest(tz.get_ref(), names.iter().map(String::as_str)) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => {
                        "use an IANA name like \"Europe/Berlin\" or \"America/New_York\"".into()
                    }
                };
                source.report(
                    tz.span().start,
                    format!("unknown time zone {:?} in {header}", tz.get_ref()),
                    Some(hint),
                );
                None
            }
        },
    }
}

/// The schedule's `language` (English when not given).
fn language(source: &mut Source<'_>, raw: &RawSchedule, header: &str) -> Option<Language> {
    let Some(code) = &raw.language else {
        return Some(Language::default());
    };
    let language = Language::from_code(code.get_ref());
    if language.is_none() {
        let hint = did_you_mean(
            code.get_ref(),
            LANGUAGE_CODES,
            "languages `{next_open…}` speaks",
        );
        source.report(
            code.span().start,
            format!("unknown language {:?} in {header}", code.get_ref()),
            Some(hint),
        );
    }
    language
}
