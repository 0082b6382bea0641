//! Checking `[[test]]` blocks: a fixed time, optional user data, what the customer says and
//! which rules are expected to act. Running them is `conversation::run_test`.

use std::collections::BTreeMap;

use jiff::{Timestamp, Zoned};

use crate::event::UserData;

use super::super::problem::{Source, did_you_mean};
use super::super::raw::{RawTest, Text};
use super::Location;

/// A checked `[[test]]` block.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleTest {
    pub name: String,
    /// The fixed clock of the conversation.
    pub at: Timestamp,
    pub user_data: UserData,
    /// Customer messages in order; `/idle 2m` and `/escalation_failed` stand for a silence
    /// and a failed hand-over.
    pub say: Vec<String>,
    /// Names of the rules expected to act, in order (accept first).
    pub expect: Vec<String>,
}

/// Parse a test's `at`: an instant with an offset (`2026-11-24T10:00:00+01:00`, `…Z`) or a
/// civil time in a named zone (`2026-11-24T10:00[Europe/Berlin]`).
pub fn parse_time(text: &str) -> Option<Timestamp> {
    text.parse::<Timestamp>()
        .ok()
        .or_else(|| text.parse::<Zoned>().ok().map(|z| z.timestamp()))
}

pub(super) fn check_test(
    source: &mut Source<'_>,
    raw: &RawTest,
    rules: &BTreeMap<String, Location>,
) -> Option<RuleTest> {
    let before = source.count();
    let name = match &raw.name {
        Some(name) if !name.get_ref().trim().is_empty() => name.get_ref().clone(),
        _ => {
            if !raw.damaged {
                let at = raw.name.as_ref().map_or(raw.at.start, |n| n.span().start);
                let hint = Some("add `name = \"…\"`: it is shown when the test fails".into());
                source.report(at, "this test has no `name`", hint);
            }
            String::new()
        }
    };
    let label = format!("test {name:?}");
    let at = match &raw.time {
        Some(text) => parse_time(text.get_ref()).or_else(|| {
            source.report(
                text.span().start,
                format!("`at` {:?} of {label} is not a point in time", text.get_ref()),
                Some("write it with its UTC offset, like \"2026-11-24T10:00:00+01:00\", or with a time zone, like \"2026-11-24T10:00[Europe/Berlin]\"".into()),
            );
            None
        }),
        None => {
            if !raw.damaged {
                let hint = Some("add `at = \"2026-11-24T10:00:00+01:00\"`: the test's fixed clock".into());
                source.report(raw.at.start, format!("{label} has no `at`"), hint);
            }
            None
        }
    };
    let say = list(&raw.say);
    let expect = list(&raw.expect);
    if raw.expect.is_none() && !raw.damaged {
        let hint = Some("add `expect = [\"rule-name\", …]`: the rules that act, in order".into());
        source.report(raw.at.start, format!("{label} has no `expect`"), hint);
    }
    for name in raw.expect.iter().flat_map(|l| l.get_ref()) {
        if !rules.contains_key(name.get_ref()) {
            let hint = did_you_mean(name.get_ref(), rules.keys().map(String::as_str), "rules");
            source.report(
                name.span().start,
                format!("{label} expects the unknown rule {:?}", name.get_ref()),
                Some(hint),
            );
        }
    }
    let user_data = raw
        .user_data
        .iter()
        .map(|(k, v)| {
            (
                k.get_ref().clone(),
                serde_json::Value::String(v.get_ref().clone()),
            )
        })
        .collect();
    let at = at?;
    (source.count() == before).then_some(RuleTest {
        name,
        at,
        user_data,
        say,
        expect,
    })
}

fn list(raw: &Option<toml::Spanned<Vec<Text>>>) -> Vec<String> {
    raw.iter()
        .flat_map(|l| l.get_ref())
        .map(|t| t.get_ref().clone())
        .collect()
}
