//! Rules a loaded set can never act with, whatever the chat, the time or the message: what
//! `gws-botd coverage` lists apart from the rules that merely did not fire.
//!
//! Only what is certain is reported; a rule that might act in some chat never is:
//! - a `message` rule whose `match.regex` matches no text at all;
//! - after an unconditional catch-all `message` rule (no keywords, a regex that matches every
//!   text or none, no `when`, no `once`, no `continue`): every later `message` rule without
//!   `when.awaiting` (the catch-all is tried first and stops the search; rules awaiting an
//!   answer are tried before it), and every `no_match` rule (no message is left unmatched);
//! - a `message` or `no_match` rule with `when.turn` at most 0 (a customer message is turn 1
//!   or later), and a `no_match` rule with `when.unanswered` at most 0 (it counts the message
//!   it answers);
//! - a rule with `when.awaiting = T` when every rule with `await = T` can never act, repeated
//!   until nothing changes.
//!
//! What the loader refuses (a rule an earlier one always beats on the same keywords or
//! trigger, see `shadow.rs`; an `await` topic nobody takes) never reaches a loaded set.
//! Schedule conditions are never certain: every schedule has opening times, which recur each
//! week past any closure, and the emergency override can close any schedule.

use std::collections::BTreeSet;

use super::super::RuleSet;
use super::super::rule::{On, Rule};
use super::shadow::always_acts;

/// A rule of a set and its trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleName {
    pub name: String,
    /// `accept`, `message`, `no_match`, `idle` or `escalation_failed`.
    pub on: &'static str,
}

/// A rule that can never act, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeverActs {
    pub name: String,
    pub on: &'static str,
    pub why: String,
}

fn trigger(on: On) -> &'static str {
    match on {
        On::Accept => "accept",
        On::Message => "message",
        On::NoMatch => "no_match",
        On::Idle => "idle",
        On::EscalationFailed => "escalation_failed",
    }
}

/// Whether `rule` acts on every message it is tried on.
fn catch_all(rule: &Rule) -> bool {
    let Some(matcher) = &rule.matcher else {
        return false;
    };
    rule.awaiting.is_none()
        && always_acts(rule)
        && matcher.keyword_list().is_none()
        && matcher.regex().is_none_or(|r| r.matches_everything())
}

impl RuleSet {
    fn all_rules(&self) -> impl Iterator<Item = &Rule> {
        self.accept
            .iter()
            .chain(&self.message)
            .chain(&self.no_match)
            .chain(&self.idle)
            .chain(&self.escalation_failed)
    }

    /// Every rule, trigger by trigger, each in the order it is tried.
    pub fn rule_names(&self) -> Vec<RuleName> {
        self.all_rules()
            .map(|r| RuleName {
                name: r.name.clone(),
                on: trigger(r.on),
            })
            .collect()
    }

    /// The rules that can never act (see the module's documentation for which are found).
    pub fn never_act(&self) -> Vec<NeverActs> {
        let mut found: Vec<NeverActs> = Vec::new();
        let note = |rule: &Rule, why: String| NeverActs {
            name: rule.name.clone(),
            on: trigger(rule.on),
            why,
        };
        for rule in &self.message {
            if rule
                .matcher
                .as_ref()
                .and_then(|m| m.regex())
                .is_some_and(|r| r.matches_nothing())
            {
                found.push(note(
                    rule,
                    "its `match.regex` matches no text at all".into(),
                ));
            }
        }
        if let Some(c) = self.message.iter().position(catch_all) {
            let first = &self.message[c].name;
            for rule in self.message[c + 1..]
                .iter()
                .filter(|r| r.awaiting.is_none())
            {
                let why = format!(
                    "the earlier message rule {first:?} matches every message and always acts first"
                );
                found.push(note(rule, why));
            }
            for rule in &self.no_match {
                let why = format!(
                    "the message rule {first:?} matches every message, so none is left unmatched"
                );
                found.push(note(rule, why));
            }
        }
        found.extend(self.impossible_counts());
        self.unreachable_topics(&mut found);
        found
    }

    /// Rules whose counters can never be what they want: a customer message is turn 1 or
    /// later, and a `no_match` rule counts the message it answers as unanswered.
    fn impossible_counts(&self) -> Vec<NeverActs> {
        let turn = self
            .message
            .iter()
            .chain(&self.no_match)
            .filter(|r| r.turn.max == 0)
            .map(|r| {
                (
                    r,
                    "its `when.turn` wants turn 0, and a customer message is turn 1 or later",
                )
            });
        let unanswered = self
            .no_match
            .iter()
            .filter(|r| r.unanswered.max == 0)
            .map(|r| {
                let why = "its `when.unanswered` wants 0, and a `no_match` rule counts the message \
                       it answers (1 or more)";
                (r, why)
            });
        let mut found: Vec<NeverActs> = Vec::new();
        for (rule, why) in turn.chain(unanswered) {
            if found.iter().all(|n| n.name != rule.name) {
                found.push(NeverActs {
                    name: rule.name.clone(),
                    on: trigger(rule.on),
                    why: why.to_owned(),
                });
            }
        }
        found
    }

    /// Add the rules awaiting a topic that only rules in `found` ask for, until none is left.
    fn unreachable_topics(&self, found: &mut Vec<NeverActs>) {
        loop {
            let never: BTreeSet<&str> = found.iter().map(|n| n.name.as_str()).collect();
            let asked: BTreeSet<&str> = self
                .all_rules()
                .filter(|r| !never.contains(r.name.as_str()))
                .filter_map(|r| r.asks.as_deref())
                .collect();
            let more: Vec<NeverActs> = self
                .message
                .iter()
                .chain(&self.no_match)
                .filter(|r| !never.contains(r.name.as_str()))
                .filter_map(|r| {
                    let topic = r.awaiting.as_deref()?;
                    (!asked.contains(topic)).then(|| NeverActs {
                        name: r.name.clone(),
                        on: trigger(r.on),
                        why: format!(
                            "it takes the answer to {topic:?}, and every rule that asks for it \
                             can never act"
                        ),
                    })
                })
                .collect();
            if more.is_empty() {
                return;
            }
            found.extend(more);
        }
    }
}

#[cfg(test)]
mod tests;
