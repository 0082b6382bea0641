//! Unreachable rules: a rule that an earlier rule with the same trigger always beats.
//!
//! Only decidable cases are reported. The earlier rule must act every time it is tried: no
//! `when`, no `once`, no `continue`. Then a later rule on the same trigger is shadowed when
//! the trigger has no `match` (`accept`, `no_match`, `escalation_failed`), when the earlier
//! `idle` rule waits no longer, or when every keyword of the later `message` rule contains a
//! keyword of the earlier one (and the earlier one has no regex).

use super::super::matcher::Matcher;
use super::super::problem::Source;
use super::super::rule::{On, Rule};
use super::Location;

/// Whether `rule` acts every time it is tried (matching aside).
fn unconditional(rule: &Rule) -> bool {
    rule.schedule.is_none()
        && rule.user_data.is_empty()
        && rule.turn == Default::default()
        && rule.unanswered == Default::default()
        && !rule.once
        && !rule.cont
}

/// Whether every message `later` matches is also matched by `earlier`.
fn covers(earlier: &Matcher, later: &Matcher) -> bool {
    let (Some(mine), Some(theirs)) = (earlier.keyword_list(), later.keyword_list()) else {
        return false;
    };
    earlier.regex().is_none()
        && !theirs.is_empty()
        && theirs
            .iter()
            .all(|phrase| mine.iter().any(|k| phrase.contains(k.as_str())))
}

fn shadows(earlier: &Rule, later: &Rule) -> bool {
    if earlier.on != later.on || !unconditional(earlier) {
        return false;
    }
    match earlier.on {
        On::Accept | On::NoMatch | On::EscalationFailed => true,
        On::Idle => earlier.after <= later.after,
        On::Message => match (&earlier.matcher, &later.matcher) {
            (Some(e), Some(l)) => covers(e, l),
            _ => false,
        },
    }
}

/// Report every rule in `rules` (with their locations) that an earlier one shadows.
pub(super) fn check(rules: &[Rule], located: &[Location], sources: &mut [Source<'_>]) {
    for (i, later) in rules.iter().enumerate() {
        let Some(j) = (0..i).find(|&j| shadows(&rules[j], later)) else {
            continue;
        };
        let first = located[j].describe(sources);
        let at = located[i];
        sources[at.file].report(
            at.offset,
            format!(
                "rule {:?} can never act: the earlier rule {:?} at {first} always acts first on the same trigger",
                later.name, rules[j].name
            ),
            Some(format!(
                "move it above {:?}, narrow {:?} with a condition, or give it `continue = true`",
                rules[j].name, rules[j].name
            )),
        );
    }
}
