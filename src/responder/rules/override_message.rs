//! The message of an emergency override (`gws-botd override closed --message FILE`): a reply
//! template like any rule's, with the same placeholders (`{customer}`, `{next_open.NAME}`, …),
//! checked here when the override is set, and rendered for each chat (by the rule that acts
//! because its schedule is closed by the override) like any reply.

use super::RuleSet;
use super::template::{Reference, Template};

/// Every problem of `text` as an override message for `rules`: template syntax, unknown
/// placeholders, `{next_open.NAME}` naming a schedule `rules` does not have (without the
/// rules, any `{next_open.NAME}` is a problem: it cannot be checked). Each problem says where
/// (line:column) and how to fix it.
pub fn check(text: &str, rules: Option<&RuleSet>) -> Result<(), Vec<String>> {
    let at = |offset: usize| {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
            .chars()
            .count()
            + 1;
        format!("{line}:{column}")
    };
    let template = Template::parse(text).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| match e.hint {
                Some(hint) => format!("{}: {} ({hint})", at(e.offset), e.message),
                None => format!("{}: {}", at(e.offset), e.message),
            })
            .collect::<Vec<_>>()
    })?;
    let known: Vec<&str> = rules
        .into_iter()
        .flat_map(|r| r.schedules().map(|s| s.name.as_str()))
        .collect();
    let problems: Vec<String> = template
        .references()
        .into_iter()
        .filter_map(|(offset, reference)| match reference {
            Reference::Group(name) => Some(format!(
                "{}: `{{match.{name}}}` has no message to take it from in an override message",
                at(offset)
            )),
            Reference::Schedule(None) => Some(format!(
                "{}: write `{{next_open.NAME}}` with the schedule's name in an override message",
                at(offset)
            )),
            Reference::Schedule(Some(_)) if rules.is_none() => Some(format!(
                "{}: `{{next_open.…}}` cannot be checked without the daemon's rules (give \
                 --config or --instance)",
                at(offset)
            )),
            Reference::Schedule(Some(name))
                if rules.is_some_and(|r| r.schedule(name).is_none()) =>
            {
                Some(format!(
                    "{}: `{{next_open.{name}}}` names no schedule of the rules (schedules: {})",
                    at(offset),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ))
            }
            Reference::Schedule(Some(_)) => None,
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
