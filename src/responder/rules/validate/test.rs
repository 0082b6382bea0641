//! Checking `[[test]]` blocks: a fixed time, optional user data and customer nickname, what
//! the customer says, which rules are expected to act and, optionally, every text the bot
//! sends. Running them is `conversation::run_test`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::{Timestamp, Zoned};

use crate::event::UserData;

use super::super::problem::{Source, did_you_mean};
use super::super::raw::{RawTest, Text};
use super::Location;

/// The customer's nickname in a test that does not give one.
pub const DEFAULT_TEST_CUSTOMER: &str = "Pat";

/// A checked `[[test]]` block.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleTest {
    pub name: String,
    /// The rule file that holds the test (its directory is the `--rules` of `simulate`).
    pub file: PathBuf,
    /// The fixed clock of the conversation.
    pub at: Timestamp,
    /// `at` as written (with its offset or time zone), for the `simulate` command.
    pub at_text: String,
    pub user_data: UserData,
    /// The customer's nickname; `None` when the test says `customer = ""` (unknown).
    pub customer: Option<String>,
    /// Customer messages in order; `/idle 2m` and `/escalation_failed` stand for a silence
    /// and a failed hand-over.
    pub say: Vec<String>,
    /// Names of the rules expected to act, in order (accept first).
    pub expect: Vec<String>,
    /// Every text the bot is expected to send, in order, when the test says.
    pub replies: Option<Vec<String>>,
}

/// The rule names tests may expect.
pub(super) struct Names<'a> {
    pub rules: &'a BTreeMap<String, Location>,
    /// Whether every rule's name could be read (else an unknown name may be an unreadable one).
    pub complete: bool,
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
    names: &Names<'_>,
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
    let at = time(source, raw, &label);
    let say = list(&raw.say);
    let expect = list(&raw.expect);
    check_expect(source, raw, names, &label);
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
    let customer = match &raw.customer {
        None => Some(DEFAULT_TEST_CUSTOMER.to_owned()),
        Some(text) if text.get_ref().trim().is_empty() => None,
        Some(text) => Some(text.get_ref().clone()),
    };
    let replies = raw.replies.as_ref().map(|_| list(&raw.replies));
    let at = at?;
    (source.count() == before).then(|| RuleTest {
        name,
        file: source.path.to_path_buf(),
        at,
        at_text: raw
            .time
            .as_ref()
            .map(|t| t.get_ref().clone())
            .unwrap_or_default(),
        user_data,
        customer,
        say,
        expect,
        replies,
    })
}

/// The test's `at`, a point in time.
fn time(source: &mut Source<'_>, raw: &RawTest, label: &str) -> Option<Timestamp> {
    match &raw.time {
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
    }
}

/// `expect` must be there and name rules that exist (when every rule's name is known).
fn check_expect(source: &mut Source<'_>, raw: &RawTest, names: &Names<'_>, label: &str) {
    if raw.expect.is_none() && !raw.damaged {
        let hint = Some("add `expect = [\"rule-name\", …]`: the rules that act, in order".into());
        source.report(raw.at.start, format!("{label} has no `expect`"), hint);
    }
    let rules = names.rules;
    for name in raw.expect.iter().flat_map(|l| l.get_ref()) {
        // With a file that could not be read, its rules are unknown here: no follow-ons.
        if names.complete && !rules.contains_key(name.get_ref()) {
            let hint = did_you_mean(name.get_ref(), rules.keys().map(String::as_str), "rules");
            source.report(
                name.span().start,
                format!("{label} expects the unknown rule {:?}", name.get_ref()),
                Some(hint),
            );
        }
    }
}

fn list(raw: &Option<toml::Spanned<Vec<Text>>>) -> Vec<String> {
    raw.iter()
        .flat_map(|l| l.get_ref())
        .map(|t| t.get_ref().clone())
        .collect()
}
