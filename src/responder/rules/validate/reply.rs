//! Checking a rule's `reply`: the texts, their placeholders, and what the placeholders refer
//! to (`{next_open…}` a schedule, `{match.NAME}` a named group of the rule's regex).

use regex::Regex;

use super::super::matcher::compile_regex;
use super::super::problem::{Source, did_you_mean};
use super::super::raw::{RawRule, Text};
use super::super::rule::On;
use super::super::template::{Reference, Template};
use super::Known;
use super::{offset_in_string, unknown_schedule};

/// A parsed reply and the text it was written as (for problem locations).
pub(super) struct Written<'r> {
    pub template: Template,
    pub text: &'r Text,
}

impl Written<'_> {
    /// The file offset of byte `inner` of the reply text.
    fn offset(&self, source: &Source<'_>, inner: usize) -> usize {
        offset_in_string(source, &self.text.span(), self.text.get_ref(), inner)
    }
}

/// The replies of a rule, each parsed; unknown `{next_open.NAME}` schedules are reported here.
pub(super) fn replies<'r>(
    source: &mut Source<'_>,
    raw: &'r RawRule,
    label: &str,
    known: &Known<'_>,
) -> Vec<Written<'r>> {
    let Some(list) = &raw.reply else {
        return Vec::new();
    };
    if list.get_ref().is_empty() {
        let hint = Some("write the text to send, or remove `reply`".to_owned());
        source.report(
            list.span().start,
            format!("`reply` of {label} is an empty list"),
            hint,
        );
    }
    let mut replies = Vec::new();
    for reply in list.get_ref() {
        if reply.get_ref().trim().is_empty() {
            let hint = Some("write the text to send, or remove it".to_owned());
            source.report(reply.span().start, format!("empty reply in {label}"), hint);
            continue;
        }
        match Template::parse(reply.get_ref()) {
            Ok(template) => {
                let written = Written {
                    template,
                    text: reply,
                };
                for (offset, reference) in written.template.references() {
                    if let Reference::Schedule(Some(name)) = reference
                        && !known.schedules.contains_key(name)
                    {
                        let at = written.offset(source, offset);
                        unknown_schedule(source, known, at, name, label);
                    }
                }
                replies.push(written);
            }
            Err(errors) => {
                for error in errors {
                    let at = offset_in_string(source, &reply.span(), reply.get_ref(), error.offset);
                    source.report(at, format!("{} in {label}", error.message), error.hint);
                }
            }
        }
    }
    replies
}

/// Resolve every bare `{next_open}`: the schedule of the rule's `when.schedule`, else the only
/// schedule of the rule set; anything else is a problem.
pub(super) fn next_open_schedule(
    source: &mut Source<'_>,
    raw: &RawRule,
    known: &Known<'_>,
    replies: &mut [Written<'_>],
    label: &str,
) {
    let named = raw.schedule.as_ref().map(|c| c.name.get_ref());
    let only = (known.schedule_names.len() == 1)
        .then(|| known.schedule_names.keys().next())
        .flatten();
    for reply in replies {
        let bare: Vec<usize> = reply
            .template
            .references()
            .into_iter()
            .filter(|(_, r)| *r == Reference::Schedule(None))
            .map(|(offset, _)| offset)
            .collect();
        let Some(&first) = bare.first() else {
            continue;
        };
        match named.or(only) {
            // An unknown `when.schedule` has its own problem.
            Some(name) => reply.template.resolve_next_open(name),
            None if known.check => {
                let at = reply.offset(source, first);
                let count = known.schedule_names.len();
                let message = format!(
                    "`{{next_open}}` in {label} does not say which schedule: the rule has no \
                     `when.schedule` and the files define {count} schedules"
                );
                let hint = if count == 0 {
                    "add a `[schedule.NAME]`, then write `{next_open.NAME}`".to_owned()
                } else {
                    let names: Vec<String> = known
                        .schedule_names
                        .keys()
                        .map(|n| format!("`{{next_open.{n}}}`"))
                        .collect();
                    format!("write {}, or add a `when.schedule`", names.join(" or "))
                };
                source.report(at, message, Some(hint));
            }
            None => {}
        }
    }
}

/// The rule's regex with its named groups, when a reply uses `{match.NAME}`; each name must
/// be a group of the rule's own `match.regex`.
pub(super) fn groups(
    source: &mut Source<'_>,
    raw: &RawRule,
    on: Option<On>,
    replies: &[Written<'_>],
    label: &str,
) -> Option<Regex> {
    let used: Vec<(&Written<'_>, usize, &str)> = replies
        .iter()
        .flat_map(|w| {
            w.template
                .references()
                .into_iter()
                .filter_map(move |(offset, r)| match r {
                    Reference::Group(name) => Some((w, offset, name)),
                    Reference::Schedule(_) => None,
                })
        })
        .collect();
    if used.is_empty() || on.is_none() {
        return None;
    }
    let regex = raw.regex.as_ref().filter(|_| on == Some(On::Message));
    let Some(pattern) = regex else {
        for (written, offset, name) in used {
            let at = written.offset(source, offset);
            let message = format!(
                "`{{match.{name}}}` in {label} needs a `match.regex` with a group `(?P<{name}>…)`"
            );
            let hint = "only `message` rules with a `match.regex` capture text; name the part \
                        to repeat like `'order\\s*(?P<order>\\d+)'`";
            source.report(at, message, Some(hint.into()));
        }
        return None;
    };
    // An invalid regex has its own problem.
    let compiled = compile_regex(pattern.get_ref()).ok()?;
    let names: Vec<&str> = compiled.capture_names().flatten().collect();
    let mut sound = true;
    for (written, offset, name) in used {
        if names.contains(&name) {
            continue;
        }
        sound = false;
        let at = written.offset(source, offset);
        let hint = if names.is_empty() {
            format!("the regex has no named groups: write the part to repeat as `(?P<{name}>…)`")
        } else {
            did_you_mean(name, names.iter().copied(), "groups of the regex")
        };
        let message = format!("`match.regex` of {label} has no group named `{name}`");
        source.report(at, message, Some(hint));
    }
    sound.then_some(compiled)
}
