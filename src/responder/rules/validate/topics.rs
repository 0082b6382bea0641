//! Checking `await` and `when.awaiting`: a rule's answer asks the customer for something
//! (`await = "order-number"`), and the rules that take the answer say so
//! (`when.awaiting = "order-number"`). Each topic needs both sides, so a typo on either side
//! is a problem rather than an answer that silently goes to the wrong rule.

use std::collections::BTreeSet;

use crate::responder::Then;

use super::super::problem::{Source, closest, did_you_mean};
use super::super::raw::{RawFile, RawRule, Text};
use super::super::rule::On;

/// The rule's `when.awaiting` and `await` topics.
pub(super) fn topics(
    source: &mut Source<'_>,
    raw: &RawRule,
    on: Option<On>,
    then: Option<&Then>,
    label: &str,
) -> (Option<String>, Option<String>) {
    let awaiting = raw.awaiting.as_ref().map(|topic| {
        empty_topic(source, topic, "when.awaiting");
        if let Some(on) = on
            && !matches!(on, On::Message | On::NoMatch)
        {
            let hint = "the answer the bot awaits is a customer message: use `on = \"message\"` \
                        (or `on = \"no_match\"` when no answer fitted)";
            source.report(
                topic.span().start,
                format!("`when.awaiting` only applies to `message` and `no_match` rules ({label})"),
                Some(hint.into()),
            );
        }
        topic.get_ref().clone()
    });
    let asks = raw.asks.as_ref().map(|topic| {
        empty_topic(source, topic, "await");
        let at = topic.span().start;
        if raw.reply.is_none() && !raw.damaged {
            let hint = "add the question as `reply`, e.g. `reply = \"What is your order number?\"`";
            let message = format!("{label} awaits an answer but has no `reply` that asks for it");
            source.report(at, message, Some(hint.into()));
        }
        let ends = matches!(
            then,
            Some(Then::Close | Then::Escalate(_) | Then::Transfer(_))
        ) || on == Some(On::EscalationFailed);
        if ends {
            let message = format!("{label} awaits an answer, but the bot leaves the chat after it");
            let hint = "remove `await`, or `then`, so the bot stays to read the answer";
            source.report(at, message, Some(hint.into()));
        }
        topic.get_ref().clone()
    });
    (awaiting, asks)
}

fn empty_topic(source: &mut Source<'_>, topic: &Text, key: &str) {
    if topic.get_ref().trim().is_empty() {
        let hint = format!("name what the bot asks for, like `{key} = \"order-number\"`");
        source.report(topic.span().start, format!("`{key}` is empty"), Some(hint));
    }
}

/// Every `when.awaiting` topic must be asked for by some rule's `await`, and every `await`
/// taken by some rule's `when.awaiting`, across all files. Only call when every file parsed.
pub(super) fn check_pairs(raws: &[Option<RawFile>], sources: &mut [Source<'_>]) {
    let mut asked: BTreeSet<&str> = BTreeSet::new();
    let mut taken: BTreeSet<&str> = BTreeSet::new();
    for rule in raws.iter().flatten().flat_map(|f| &f.rules) {
        if let Some(topic) = &rule.asks {
            asked.insert(topic.get_ref());
        }
        if let Some(topic) = &rule.awaiting {
            taken.insert(topic.get_ref());
        }
    }
    for (file, raw) in raws.iter().enumerate() {
        for rule in raw.iter().flat_map(|f| &f.rules) {
            if let Some(topic) = rule
                .awaiting
                .as_ref()
                .filter(|t| !t.get_ref().trim().is_empty())
                && !asked.contains(topic.get_ref().as_str())
            {
                let hint =
                    did_you_mean(topic.get_ref(), asked.iter().copied(), "topics rules await");
                let message = format!(
                    "no rule asks for {:?} (`await = {:?}`), so this rule never acts",
                    topic.get_ref(),
                    topic.get_ref()
                );
                sources[file].report(topic.span().start, message, Some(hint));
            }
            if let Some(topic) = rule
                .asks
                .as_ref()
                .filter(|t| !t.get_ref().trim().is_empty())
                && !taken.contains(topic.get_ref().as_str())
            {
                let hint = format!(
                    "add a rule with `when.awaiting = {:?}` that takes the answer{}",
                    topic.get_ref(),
                    match closest(topic.get_ref(), taken.iter().copied()) {
                        Some(close) => format!(", or did you mean `{close}`?"),
                        None => String::new(),
                    }
                );
                let message = format!(
                    "no rule takes the answer to {:?} (`when.awaiting = {:?}`)",
                    topic.get_ref(),
                    topic.get_ref()
                );
                sources[file].report(topic.span().start, message, Some(hint));
            }
        }
    }
}
