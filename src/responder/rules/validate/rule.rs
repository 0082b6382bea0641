//! Checking one rule: name, trigger, match and examples, conditions, replies and `then`.

use std::time::Duration;

use crate::event::UserData;
use crate::responder::Then;

use super::super::matcher::{Matcher, Text as Message, compile_pattern, compile_regex, fold};
use super::super::problem::{Source, closest, did_you_mean};
use super::super::raw::{RawBounds, RawCondition, RawRule, RawThen, Text};
use super::super::rule::{Bounds, Condition, On, Rule, ScheduleCondition};
use super::reply::{groups, next_open_schedule, replies};
use super::topics::topics;
use super::{Known, MAX_TYPING, TRIGGERS, duration, offset_in_string, unknown_schedule};

fn bounds(source: &mut Source<'_>, raw: &Option<RawBounds>, what: &str) -> Bounds {
    let Some(raw) = raw else {
        return Bounds::default();
    };
    let mut value = |n: &Option<toml::Spanned<i64>>, default: u32| match n {
        None => default,
        Some(n) => u32::try_from(*n.get_ref()).unwrap_or_else(|_| {
            source.report(
                n.span().start,
                format!("{what} must be between 0 and {}", u32::MAX),
                None,
            );
            default
        }),
    };
    let bounds = Bounds {
        min: value(&raw.min, 0),
        max: value(&raw.max, u32::MAX),
    };
    if bounds.min > bounds.max {
        source.report(
            raw.at.start,
            format!("{what}: `min` is larger than `max`"),
            None,
        );
    }
    bounds
}

/// Check one rule; `None` when it has a problem (every problem is reported to `source`).
pub(super) fn check_rule(
    source: &mut Source<'_>,
    raw: &RawRule,
    known: &Known<'_>,
) -> Option<Rule> {
    let before = source.count();
    let name = rule_name(source, raw);
    let label = if name.is_empty() {
        "this rule".to_owned()
    } else {
        format!("rule {name:?}")
    };
    let on = trigger(source, raw, &label);
    let matcher = matcher_for(source, raw, on, &label);
    let user_data = user_data(source, raw, &label);
    let schedule = schedule_condition(source, raw, known, &label);
    let after = after(source, raw, on, &label);
    let turn = bounds(source, &raw.turn, "`when.turn`");
    let unanswered = bounds(source, &raw.unanswered, "`when.unanswered`");
    let mut replies = replies(source, raw, &label, known);
    let typing = typing(source, raw);
    let attach: UserData = raw
        .attach
        .iter()
        .map(|(key, value)| {
            let value = serde_json::Value::String(value.get_ref().clone());
            (key.get_ref().clone(), value)
        })
        .collect();
    let then = then(source, raw, known, &label);
    check_then_after_failure(source, raw, on, then.as_ref(), &label);
    let (awaiting, asks) = topics(source, raw, on, then.as_ref(), &label);
    next_open_schedule(source, raw, known, &mut replies, &label);
    let groups = groups(source, raw, on, &replies, &label);
    let replies = replies.into_iter().map(|r| r.template).collect();

    // Any problem fails the whole load; the rule itself is only kept when it is sound.
    let (on, then) = (on?, then?);
    (source.count() == before).then(|| Rule {
        name,
        on,
        matcher,
        after,
        schedule,
        user_data,
        turn,
        unanswered,
        awaiting,
        asks,
        typing,
        replies,
        groups,
        attach: (!attach.is_empty()).then_some(attach),
        once: raw.once,
        cont: raw.cont,
        then,
    })
}

/// The matcher of a `message` rule; for other rules, `match` and `examples` are problems.
fn matcher_for(
    source: &mut Source<'_>,
    raw: &RawRule,
    on: Option<On>,
    label: &str,
) -> Option<Matcher> {
    match on {
        Some(On::Message) => message_matcher(source, raw, label),
        Some(_) => {
            if let Some(at) = &raw.match_at {
                let message = format!("`match` only applies to `on = \"message\"` rules ({label})");
                source.report(at.start, message, None);
            }
            if let Some(at) = &raw.examples_at {
                let message =
                    format!("`examples` only apply to `on = \"message\"` rules ({label})");
                source.report(at.start, message, None);
            }
            None
        }
        None => None,
    }
}

fn user_data(source: &mut Source<'_>, raw: &RawRule, label: &str) -> Vec<(String, Condition)> {
    let mut user_data = Vec::new();
    for (key, condition) in &raw.user_data {
        let condition = match condition {
            RawCondition::Equals(value) => Condition::Equals(value.get_ref().clone()),
            RawCondition::Regex(pattern) => match compile_regex(pattern.get_ref()) {
                Ok(regex) => Condition::Matches(regex),
                Err(e) => {
                    regex_problem(source, pattern, &e, label);
                    continue;
                }
            },
        };
        user_data.push((key.get_ref().clone(), condition));
    }
    user_data
}

fn schedule_condition(
    source: &mut Source<'_>,
    raw: &RawRule,
    known: &Known<'_>,
    label: &str,
) -> Option<ScheduleCondition> {
    let condition = raw.schedule.as_ref()?;
    let name = &condition.name;
    match known.schedules.get(name.get_ref()) {
        Some(schedule) => Some(ScheduleCondition {
            open: condition.open,
            schedule: schedule.clone(),
        }),
        None => {
            unknown_schedule(source, known, name.span().start, name.get_ref(), label);
            None
        }
    }
}

/// `after`: required on `idle` rules, refused elsewhere.
fn after(source: &mut Source<'_>, raw: &RawRule, on: Option<On>, label: &str) -> Duration {
    match (&raw.after, on) {
        (Some(text), Some(On::Idle)) => {
            let after = duration(source, text, "`after`");
            if after == Some(Duration::ZERO) {
                source.report(text.span().start, "`after` must be longer than 0s", None);
            }
            after.unwrap_or_default()
        }
        (None, Some(On::Idle)) => {
            if !raw.damaged {
                let at = raw.on.as_ref().map_or(raw.at.start, |o| o.span().start);
                let hint = Some("add `after = \"2m\"`: how long the chat must be silent".into());
                source.report(
                    at,
                    format!("{label} is `on = \"idle\"` but has no `after`"),
                    hint,
                );
            }
            Duration::ZERO
        }
        (Some(text), Some(_)) => {
            let hint = Some("remove `after`, or make the rule `on = \"idle\"`".into());
            source.report(
                text.span().start,
                format!("`after` only applies to `on = \"idle\"` rules ({label})"),
                hint,
            );
            Duration::ZERO
        }
        (_, None) | (None, Some(_)) => Duration::ZERO,
    }
}

fn typing(source: &mut Source<'_>, raw: &RawRule) -> Option<Duration> {
    let text = raw.typing.as_ref()?;
    let typing = duration(source, text, "`typing`")?;
    if typing > MAX_TYPING {
        let message = format!(
            "`typing` may be at most {}",
            humantime::format_duration(MAX_TYPING)
        );
        source.report(text.span().start, message, None);
    }
    Some(typing)
}

/// An `escalation_failed` rule cannot hand the chat on again.
fn check_then_after_failure(
    source: &mut Source<'_>,
    raw: &RawRule,
    on: Option<On>,
    then: Option<&Then>,
    label: &str,
) {
    if on == Some(On::EscalationFailed)
        && let (Some(written), Some(Then::Escalate(_) | Then::Transfer(_))) = (&raw.then, then)
    {
        source.report(
            written.span().start,
            format!("{label} cannot hand the chat on again: nobody could take it"),
            Some("remove `then`: after an `escalation_failed` rule the chat is closed".into()),
        );
    }
}

fn rule_name(source: &mut Source<'_>, raw: &RawRule) -> String {
    match &raw.name {
        Some(name) if !name.get_ref().trim().is_empty() => name.get_ref().clone(),
        Some(name) => {
            let hint = Some("write a short, unique name".to_owned());
            source.report(name.span().start, "the rule's `name` is empty", hint);
            String::new()
        }
        None => {
            if !raw.damaged {
                let hint = Some(
                    "add `name = \"…\"`: a short, unique name used in logs and tests".to_owned(),
                );
                source.report(raw.at.start, "this rule has no `name`", hint);
            }
            String::new()
        }
    }
}

fn trigger(source: &mut Source<'_>, raw: &RawRule, label: &str) -> Option<On> {
    let Some(on) = &raw.on else {
        if raw.damaged {
            return None;
        }
        let hint = "add `on = \"message\"`, `on = \"accept\"`, `on = \"no_match\"`, `on = \"idle\"` or `on = \"escalation_failed\"`";
        source.report(
            raw.at.start,
            format!("{label} has no `on`"),
            Some(hint.into()),
        );
        return None;
    };
    match on.get_ref().as_str() {
        "accept" => Some(On::Accept),
        "message" => Some(On::Message),
        "no_match" => Some(On::NoMatch),
        "idle" => Some(On::Idle),
        "escalation_failed" => Some(On::EscalationFailed),
        word => {
            let hint = did_you_mean(word, TRIGGERS, "allowed values");
            source.report(
                on.span().start,
                format!("unknown trigger `on = {word:?}` in {label}"),
                Some(hint),
            );
            None
        }
    }
}

/// The matcher of a `message` rule, and its examples checked against it.
fn message_matcher(source: &mut Source<'_>, raw: &RawRule, label: &str) -> Option<Matcher> {
    let before = source.count();
    if raw.keywords.is_none() && raw.regex.is_none() && !raw.damaged {
        let at = raw.match_at.as_ref().map_or(raw.at.start, |m| m.start);
        let hint = Some("add `match.keywords = [\"…\"]` or `match.regex = '…'`".to_owned());
        source.report(
            at,
            format!("{label} is `on = \"message\"` but has no `match`"),
            hint,
        );
    }
    let mut keywords = Vec::new();
    if let Some(list) = &raw.keywords {
        if list.get_ref().is_empty() {
            source.report(list.span().start, "`match.keywords` is an empty list", None);
        }
        for keyword in list.get_ref() {
            let folded = fold(keyword.get_ref());
            if folded.is_empty() {
                let message = format!(
                    "the keyword {:?} has no letters or digits",
                    keyword.get_ref()
                );
                source.report(keyword.span().start, message, None);
            }
            keywords.push(folded);
        }
    }
    let regex = raw
        .regex
        .as_ref()
        .and_then(|r| match compile_pattern(r.get_ref()) {
            Ok(regex) => Some(regex),
            Err(e) => {
                regex_problem(source, r, &e, label);
                None
            }
        });
    if source.count() != before || raw.damaged {
        // A key of this rule could not be read: its examples would only report follow-ons.
        return None;
    }
    let matcher = Matcher::with_pattern(keywords, regex);
    for (examples, should) in [(&raw.examples_match, true), (&raw.examples_no_match, false)] {
        for example in examples {
            if matcher.is_match(&Message::new(example.get_ref())) == should {
                continue;
            }
            let (verb, hint) = if should {
                (
                    "should match {label}, but it does not",
                    "add a keyword that covers it, or move it to `examples.no_match`",
                )
            } else {
                (
                    "should not match {label}, but it does",
                    "make the match more specific, or move it to `examples.match`",
                )
            };
            let message = format!(
                "the example {:?} {}",
                example.get_ref(),
                verb.replace("{label}", label)
            );
            source.report(example.span().start, message, Some(hint.into()));
        }
    }
    Some(matcher)
}

fn then(source: &mut Source<'_>, raw: &RawRule, teams: &Known<'_>, label: &str) -> Option<Then> {
    let Some(then) = &raw.then else {
        return Some(Then::Stay);
    };
    match then.get_ref() {
        RawThen::Word(word) if word == "stay" => Some(Then::Stay),
        RawThen::Word(word) if word == "close" => Some(Then::Close),
        RawThen::Word(word) => {
            let others = "allowed: `\"stay\"`, `\"close\"`, `{ escalate = \"team\" }`, `{ transfer = \"Skill\" }`";
            let hint = closest(word, ["stay", "close"])
                .map_or(others.to_owned(), |c| format!("did you mean `{c}`?"));
            source.report(
                then.span().start,
                format!("unknown `then = {word:?}` in {label}"),
                Some(hint),
            );
            None
        }
        RawThen::Escalate(team) => {
            let found = teams.defined.get(team.get_ref());
            // A team that is written but invalid has its own problem; do not repeat it here.
            if found.is_none() && teams.check && !teams.names.contains_key(team.get_ref()) {
                let hint = did_you_mean(
                    team.get_ref(),
                    teams.names.keys().map(String::as_str),
                    "defined teams",
                );
                let message = format!("unknown team {:?} in {label}", team.get_ref());
                source.report(team.span().start, message, Some(hint));
            }
            found.map(|team| Then::Escalate(team.clone()))
        }
        RawThen::Transfer(skill) => {
            if skill.get_ref().trim().is_empty() {
                source.report(
                    skill.span().start,
                    format!("the transfer skill of {label} is empty"),
                    None,
                );
            }
            Some(Then::Transfer(skill.get_ref().clone()))
        }
    }
}

/// Report a regex that does not compile, pointing at the character the regex parser blames
/// when the pattern is written without escapes.
pub(super) fn regex_problem(
    source: &mut Source<'_>,
    pattern: &Text,
    error: &regex::Error,
    label: &str,
) {
    let span = pattern.span();
    match error {
        regex::Error::Syntax(text) => {
            // regex-syntax renders: "regex parse error:", "    <pattern>", "    <caret>", …,
            // "error: <what>". A multi-line pattern makes the caret ambiguous: skip it then.
            let lines: Vec<&str> = text.lines().collect();
            let what = lines
                .iter()
                .rev()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(text);
            let caret = lines
                .get(2)
                .filter(|_| !pattern.get_ref().contains('\n'))
                .and_then(|l| l.find('^'))
                .and_then(|column| column.checked_sub(4))
                .and_then(|chars| pattern.get_ref().char_indices().nth(chars).map(|(i, _)| i));
            let at = caret.map_or(span.start, |inner| {
                offset_in_string(source, &span, pattern.get_ref(), inner)
            });
            let message = format!("invalid regex in {label}: {what}");
            source.report(at, message, Some(REGEX_HINT.into()));
        }
        regex::Error::CompiledTooBig(_) => {
            let message = format!("the regex in {label} is too large once compiled (limit: 1 MiB)");
            let hint = "make it simpler, for example avoid large repeat counts like `{1000}`";
            source.report(span.start, message, Some(hint.into()));
        }
        other => source.report(
            span.start,
            format!("invalid regex in {label}: {other}"),
            None,
        ),
    }
}

const REGEX_HINT: &str = "regexes use Rust syntax: no look-around, no back-references";
