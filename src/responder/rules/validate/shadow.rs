//! Unreachable rules: a rule that an earlier rule with the same trigger always beats.
//!
//! Only decidable cases are reported. The earlier rule must act every time it is tried: no
//! `when`, no `once`, no `continue`. Then a later rule on the same trigger is shadowed when
//! the trigger has no `match` (`accept`, `no_match`, `escalation_failed`), when the earlier
//! `idle` rule waits no longer, or when every keyword of the later `message` rule contains a
//! keyword of such earlier regex-free rules (whichever of them acts first, the later rule
//! never gets the message).

use std::collections::HashMap;

use super::super::problem::Source;
use super::super::rule::{On, Rule};
use super::Location;

/// Whether `rule` acts every time it is tried (matching aside).
fn unconditional(rule: &Rule) -> bool {
    rule.awaiting.is_none() && always_acts(rule)
}

/// Whether `rule` acts every time it is tried, matching and `when.awaiting` aside.
pub(super) fn always_acts(rule: &Rule) -> bool {
    rule.schedule.is_none()
        && rule.user_data.is_empty()
        && rule.turn == Default::default()
        && rule.unanswered == Default::default()
        && !rule.once
        && !rule.cont
}

/// The earliest rule that always acts before `later` could, given what earlier rules of the
/// same trigger cover.
#[derive(Default)]
struct Seen {
    /// First unconditional rule per trigger without `match`.
    accept: Option<usize>,
    no_match: Option<usize>,
    escalation_failed: Option<usize>,
    /// Unconditional `idle` rules: (after, index), the shortest wait first seen.
    idle: Option<(std::time::Duration, usize)>,
    /// Folded keyword phrase (with surrounding spaces) → first unconditional, regex-free
    /// `message` rule that has it.
    phrases: HashMap<String, usize>,
}

impl Seen {
    /// The earlier rule that shadows `rule`, if any.
    fn shadowing(&self, rule: &Rule) -> Option<usize> {
        match rule.on {
            On::Accept => self.accept,
            On::NoMatch => self.no_match,
            On::EscalationFailed => self.escalation_failed,
            On::Idle => self
                .idle
                .filter(|(after, _)| *after <= rule.after)
                .map(|(_, i)| i),
            On::Message => {
                let phrases = rule.matcher.as_ref()?.keyword_list()?;
                // Every phrase must contain a phrase an earlier rule acts on.
                let mut first = None;
                for phrase in phrases {
                    let earlier = self.covering(phrase)?;
                    first = Some(first.map_or(earlier, |f: usize| f.min(earlier)));
                }
                first
            }
        }
    }

    /// The first earlier rule with a keyword that is a whole-word part of `phrase`.
    fn covering(&self, phrase: &str) -> Option<usize> {
        let words: Vec<&str> = phrase.split_whitespace().collect();
        let mut best: Option<usize> = None;
        for start in 0..words.len() {
            for end in start + 1..=words.len() {
                let part = format!(" {} ", words[start..end].join(" "));
                if let Some(&i) = self.phrases.get(&part) {
                    best = Some(best.map_or(i, |b| b.min(i)));
                }
            }
        }
        best
    }

    fn add(&mut self, i: usize, rule: &Rule) {
        if !unconditional(rule) {
            return;
        }
        match rule.on {
            On::Accept => {
                self.accept.get_or_insert(i);
            }
            On::NoMatch => {
                self.no_match.get_or_insert(i);
            }
            On::EscalationFailed => {
                self.escalation_failed.get_or_insert(i);
            }
            On::Idle => {
                if self.idle.is_none_or(|(after, _)| rule.after < after) {
                    self.idle = Some((rule.after, i));
                }
            }
            On::Message => {
                let Some(matcher) = &rule.matcher else { return };
                if matcher.regex().is_some() {
                    return;
                }
                for phrase in matcher.keyword_list().unwrap_or_default() {
                    self.phrases.entry(phrase.clone()).or_insert(i);
                }
            }
        }
    }
}

/// Report every rule in `rules` (with their locations) that earlier ones shadow. Linear in
/// the number of rules (times the words per keyword, squared).
pub(super) fn check(rules: &[Rule], located: &[Location], sources: &mut [Source<'_>]) {
    let mut seen = Seen::default();
    for (i, later) in rules.iter().enumerate() {
        if let Some(j) = seen.shadowing(later) {
            report(rules, located, sources, i, j);
        }
        seen.add(i, later);
    }
}

fn report(rules: &[Rule], located: &[Location], sources: &mut [Source<'_>], i: usize, j: usize) {
    let later = &rules[i];
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
