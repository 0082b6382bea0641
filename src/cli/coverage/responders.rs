//! Per responder of the chain: how often it answered, passed and failed in the window.

use std::fmt::Write as _;

use serde::Serialize;

use super::table::table;
use super::tally::{OLD_RESPONDER, Tally};

/// What one responder did (a row of `responders[]` in the JSON).
#[derive(Debug, Serialize)]
pub struct ResponderRow {
    pub responder: String,
    /// Whether the chain the passes were counted from has it.
    pub in_chain: bool,
    /// Triggers it acted on.
    pub answers: u64,
    /// Triggers it was asked about and passed on (counted from the chain's order).
    pub passes: u64,
    /// Failures (error, timeout, panic, bad answer): `failures_passed + failures_handed_over`.
    pub failures: u64,
    /// Failures after which the next responder was asked (`on_error = "pass"`).
    pub failures_passed: u64,
    /// Failures that handed the chat to a human (`on_error = "hand_over"`).
    pub failures_handed_over: u64,
}

/// The rows: the chain's responders in its order, then the others the log names, by name.
pub fn rows(tally: &Tally) -> Vec<ResponderRow> {
    let row = |name: &String, in_chain: bool| {
        let count = tally.responders.get(name).copied().unwrap_or_default();
        ResponderRow {
            responder: name.clone(),
            in_chain,
            answers: count.answers,
            passes: count.passes,
            failures: count.failures_passed + count.failures_handed_over,
            failures_passed: count.failures_passed,
            failures_handed_over: count.failures_handed_over,
        }
    };
    let mut rows: Vec<ResponderRow> = tally.chain.iter().map(|n| row(n, true)).collect();
    rows.extend(
        tally
            .responders
            .keys()
            .filter(|name| !tally.chain.contains(name))
            .map(|n| row(n, false)),
    );
    rows
}

/// Whether the text report shows the table: only when more than one responder appears (in
/// the log or the chain) or any is not `rules`; a chain of the rule files alone says nothing
/// that the rules' hits do not.
pub fn worth_showing(rows: &[ResponderRow]) -> bool {
    let active: Vec<&ResponderRow> = rows
        .iter()
        .filter(|r| r.in_chain || r.answers + r.passes + r.failures > 0)
        .collect();
    active.len() > 1 || active.iter().any(|r| r.responder != OLD_RESPONDER)
}

/// The text: one aligned line per responder, and what the passes were counted from.
pub fn write(out: &mut String, chain: &[String], rows: &[ResponderRow], outside_chain: u64) {
    let _ = writeln!(
        out,
        "\nResponders (passes counted from the chain: {}):",
        chain.join(", ")
    );
    let mut lines = vec![vec![
        "RESPONDER".into(),
        "ANSWERED".into(),
        "PASSED".into(),
        "FAILED, PASSED ON".into(),
        "FAILED, HANDED OVER".into(),
    ]];
    lines.extend(rows.iter().map(|r| {
        let name = if r.in_chain {
            r.responder.clone()
        } else {
            format!("{} (not in the chain)", r.responder)
        };
        vec![
            name,
            r.answers.to_string(),
            r.passes.to_string(),
            r.failures_passed.to_string(),
            r.failures_handed_over.to_string(),
        ]
    }));
    table(out, &lines, &[false, true, true, true, true]);
    if outside_chain > 0 {
        let _ = writeln!(
            out,
            "  {outside_chain} decision(s) by a responder not in the chain: the passes before \
             them are not counted"
        );
    }
}
