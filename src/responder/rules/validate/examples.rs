//! `examples.match` judged against the whole rule set: the rule must be the one that answers
//! its example. An earlier `message` rule that matches the example and always acts (no
//! conditions, no `once`, no `continue`; awaiting the same answer, if any) steals it.
//!
//! One pass of the set's matcher index per example finds every rule that matches it, so the
//! check stays linear in the number of examples however many rules there are.

use super::super::RuleSet;
use super::super::matcher::Text as Message;
use super::super::problem::Source;
use super::super::raw::Text;
use super::Location;
use super::shadow::always_acts;

/// Report every example of `examples` (aligned with the set's `message` rules: where each
/// rule is, and its `examples.match`) that an earlier rule answers instead.
pub(super) fn check(set: &RuleSet, examples: &[(Location, &[Text])], sources: &mut [Source<'_>]) {
    for (i, (_, phrases)) in examples.iter().enumerate() {
        let rule = &set.message[i];
        for phrase in phrases.iter() {
            let message = Message::new(phrase.get_ref());
            let stealer = set.index.matches(&message).into_iter().find(|&h| {
                h < i && always_acts(&set.message[h]) && set.message[h].awaiting == rule.awaiting
            });
            let Some(h) = stealer else { continue };
            let earlier = &set.message[h].name;
            let at = examples[h].0.describe(sources);
            let text = format!(
                "the example {:?} is answered by the earlier rule {earlier:?} ({at}), not by rule \
                 {:?}",
                phrase.get_ref(),
                rule.name
            );
            let hint = format!(
                "move rule {:?} above {earlier:?}, or make {earlier:?} more specific",
                rule.name
            );
            let file = examples[i].0.file;
            sources[file].report(phrase.span().start, text, Some(hint));
        }
    }
}
