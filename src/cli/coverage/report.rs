//! The report: built from a [`Tally`] and the rule sets, printed as text for supervisors or
//! as JSON whose field names are part of the documented interface (`docs/reports.md`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

use super::responders::{self, ResponderRow};
use super::table::table;
use super::tally::Tally;
use crate::responder::rules::RuleSet;

/// The version of the JSON form; it changes only when a field changes meaning or goes.
pub const JSON_VERSION: u32 = 1;

/// The whole report (the JSON document).
#[derive(Debug, Serialize)]
pub struct Report {
    pub version: u32,
    /// RFC 3339 UTC: the window's first and last instant.
    pub from: String,
    pub until: String,
    pub log: LogRead,
    pub live: Rules,
    /// Absent (`null`) without shadow rules and without shadow records.
    pub shadow: Option<Shadow>,
    /// One entry per UTC day with customer messages, oldest first.
    pub no_match: Vec<DayShare>,
    /// The responder names of the chain, in order, which `passes` are counted from.
    pub chain: Vec<String>,
    /// The chain's responders in order, then the others the log names.
    pub responders: Vec<ResponderRow>,
    /// Decisions by a responder not in `chain` (the passes before them are not counted).
    pub outside_chain: u64,
}

/// What was read.
#[derive(Debug, Serialize)]
pub struct LogRead {
    pub state_dir: String,
    pub files: usize,
    pub records: u64,
    pub unreadable: usize,
}

/// One rule set's coverage.
#[derive(Debug, Serialize)]
pub struct Rules {
    /// The directory the rules were loaded from; `null` when none was given.
    pub rules_dir: Option<String>,
    /// Every rule of the set in the order it is tried, then the rules the log names that the
    /// set does not have (`in_rules: false`).
    pub hits: Vec<Hit>,
    /// Rules of the set that did not act in the window and could have.
    pub never_fired: Vec<RuleRef>,
    /// Rules of the set that can never act, and why.
    pub can_never_fire: Vec<Never>,
}

#[derive(Debug, Serialize)]
pub struct Hit {
    pub rule: String,
    /// `accept`, `message`, `no_match`, `idle`, `escalation_failed`; `null` when not in the set.
    pub trigger: Option<&'static str>,
    pub hits: u64,
    pub in_rules: bool,
}

#[derive(Debug, Serialize)]
pub struct RuleRef {
    pub rule: String,
    pub trigger: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Never {
    pub rule: String,
    pub trigger: &'static str,
    pub why: String,
}

/// The shadow rules' coverage and where they disagree with the live decision.
#[derive(Debug, Serialize)]
pub struct Shadow {
    #[serde(flatten)]
    pub rules: Rules,
    /// Shadow decisions recorded, and how many of them disagreed.
    pub decisions: u64,
    pub disagreements: u64,
    /// Per pair of (shadow rules, live rules) that disagreed, most frequent first.
    pub disagreeing: Vec<Disagreement>,
}

#[derive(Debug, Serialize)]
pub struct Disagreement {
    /// Empty: no shadow rule would act.
    pub shadow_rules: Vec<String>,
    /// Empty: no live rule acted.
    pub live_rules: Vec<String>,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct DayShare {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub customer_messages: u64,
    pub no_match: u64,
    /// `no_match / customer_messages`, 0 to 1 (rounded to 4 places); `null` without messages.
    pub share: Option<f64>,
}

/// The rule sets and where they came from.
pub struct Sets<'a> {
    pub live: (&'a RuleSet, String),
    pub shadow: Option<(&'a RuleSet, String)>,
    pub state_dir: String,
}

impl Report {
    pub fn new(tally: &Tally, sets: &Sets<'_>, from: Timestamp, until: Timestamp) -> Report {
        let (live, live_dir) = &sets.live;
        let shadow = match &sets.shadow {
            Some((set, dir)) => Some(rules(Some(set), Some(dir), &tally.shadow)),
            None if tally.shadow_decisions > 0 => Some(rules(None, None, &tally.shadow)),
            None => None,
        };
        Report {
            version: JSON_VERSION,
            from: from.to_string(),
            until: until.to_string(),
            log: LogRead {
                state_dir: sets.state_dir.clone(),
                files: tally.files,
                records: tally.records,
                unreadable: tally.unreadable,
            },
            live: rules(Some(live), Some(live_dir), &tally.live),
            shadow: shadow.map(|rules| Shadow {
                rules,
                decisions: tally.shadow_decisions,
                disagreements: tally.shadow_disagreements,
                disagreeing: disagreeing(tally),
            }),
            no_match: tally
                .days
                .iter()
                .map(|(day, count)| DayShare {
                    day: day.to_string(),
                    customer_messages: count.messages,
                    no_match: count.no_match,
                    share: (count.messages > 0).then(|| {
                        (count.no_match as f64 / count.messages as f64 * 1e4).round() / 1e4
                    }),
                })
                .collect(),
            chain: tally.chain.clone(),
            responders: responders::rows(tally),
            outside_chain: tally.outside_chain,
        }
    }

    /// The JSON document, pretty-printed.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// One set's hits, silent rules and impossible rules (only the log's hits without a set).
fn rules(
    set: Option<&RuleSet>,
    dir: Option<&str>,
    counts: &std::collections::BTreeMap<String, u64>,
) -> Rules {
    let names = set.map(RuleSet::rule_names).unwrap_or_default();
    let never = set.map(RuleSet::never_act).unwrap_or_default();
    let impossible: BTreeSet<&str> = never.iter().map(|n| n.name.as_str()).collect();
    let known: BTreeSet<&str> = names.iter().map(|r| r.name.as_str()).collect();
    let count = |name: &str| counts.get(name).copied().unwrap_or(0);
    let mut hits: Vec<Hit> = names
        .iter()
        .map(|r| Hit {
            rule: r.name.clone(),
            trigger: Some(r.on),
            hits: count(&r.name),
            in_rules: true,
        })
        .collect();
    hits.extend(
        counts
            .iter()
            .filter(|(name, _)| !known.contains(name.as_str()))
            .map(|(name, n)| Hit {
                rule: name.clone(),
                trigger: None,
                hits: *n,
                in_rules: false,
            }),
    );
    Rules {
        rules_dir: dir.map(str::to_owned),
        hits,
        never_fired: names
            .iter()
            .filter(|r| count(&r.name) == 0 && !impossible.contains(r.name.as_str()))
            .map(|r| RuleRef {
                rule: r.name.clone(),
                trigger: r.on,
            })
            .collect(),
        can_never_fire: never
            .into_iter()
            .map(|n| Never {
                rule: n.name,
                trigger: n.on,
                why: n.why,
            })
            .collect(),
    }
}

fn disagreeing(tally: &Tally) -> Vec<Disagreement> {
    let mut all: Vec<Disagreement> = tally
        .disagreements
        .iter()
        .map(|((shadow, live), n)| Disagreement {
            shadow_rules: shadow.clone(),
            live_rules: live.clone(),
            count: *n,
        })
        .collect();
    all.sort_by_key(|d| std::cmp::Reverse(d.count));
    all
}

fn names(list: &[String]) -> String {
    if list.is_empty() {
        "(none)".to_owned()
    } else {
        list.join(", ")
    }
}

/// The minutes of an RFC 3339 time, `2026-12-03 10:00`.
fn minutes(ts: &str) -> String {
    ts.get(..16).unwrap_or(ts).replace('T', " ")
}

impl Report {
    /// The text supervisors read.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Rule coverage from {} to {} UTC",
            minutes(&self.from),
            minutes(&self.until)
        );
        let unreadable = match self.log.unreadable {
            0 => String::new(),
            n => format!("; {n} unreadable line(s) skipped"),
        };
        let _ = writeln!(
            out,
            "Decision log in {}: {} file(s), {} record(s) in the window{unreadable}",
            self.log.state_dir, self.log.files, self.log.records
        );
        if responders::worth_showing(&self.responders) {
            responders::write(&mut out, &self.chain, &self.responders, self.outside_chain);
        }
        write_rules(&mut out, "Live rules", &self.live);
        if let Some(shadow) = &self.shadow {
            write_rules(&mut out, "Shadow rules", &shadow.rules);
            write_disagreements(&mut out, shadow);
        }
        write_days(&mut out, &self.no_match);
        out
    }
}

fn write_rules(out: &mut String, title: &str, rules: &Rules) {
    let from = rules.rules_dir.as_deref().map_or_else(
        || " (no rules directory given: only what the log shows)".to_owned(),
        |d| format!(" ({d})"),
    );
    let fired = rules
        .hits
        .iter()
        .filter(|h| h.in_rules && h.hits > 0)
        .count();
    let total = rules.hits.iter().filter(|h| h.in_rules).count();
    let _ = writeln!(out, "\n{title}{from}: {fired} of {total} fired");
    let mut rows = vec![vec!["RULE".into(), "TRIGGER".into(), "HITS".into()]];
    rows.extend(rules.hits.iter().map(|h| {
        vec![
            h.rule.clone(),
            h.trigger.unwrap_or("(not in the rules now)").to_owned(),
            h.hits.to_string(),
        ]
    }));
    table(out, &rows, &[false, false, true]);
    if !rules.never_fired.is_empty() {
        let _ = writeln!(out, "\n{title} that never fired in this window:");
        let rows: Vec<Vec<String>> = rules
            .never_fired
            .iter()
            .map(|r| vec![r.rule.clone(), r.trigger.to_owned()])
            .collect();
        table(out, &rows, &[]);
    }
    if !rules.can_never_fire.is_empty() {
        let _ = writeln!(out, "\n{title} that can never fire:");
        let rows: Vec<Vec<String>> = rules
            .can_never_fire
            .iter()
            .map(|r| vec![r.rule.clone(), r.trigger.to_owned(), r.why.clone()])
            .collect();
        table(out, &rows, &[]);
    }
}

fn write_disagreements(out: &mut String, shadow: &Shadow) {
    let _ = writeln!(
        out,
        "\nShadow decisions that disagree with the live one: {} of {}",
        shadow.disagreements, shadow.decisions
    );
    if shadow.disagreeing.is_empty() {
        return;
    }
    let mut rows = vec![vec![
        "SHADOW RULES".into(),
        "LIVE RULES".into(),
        "TIMES".into(),
    ]];
    rows.extend(shadow.disagreeing.iter().map(|d| {
        vec![
            names(&d.shadow_rules),
            names(&d.live_rules),
            d.count.to_string(),
        ]
    }));
    table(out, &rows, &[false, false, true]);
}

fn write_days(out: &mut String, days: &[DayShare]) {
    let _ = writeln!(
        out,
        "\nCustomer messages no message rule matched, per day (UTC):"
    );
    if days.is_empty() {
        let _ = writeln!(out, "  no customer messages in this window");
        return;
    }
    let mut rows = vec![vec![
        "DAY".into(),
        "MESSAGES".into(),
        "NO MATCH".into(),
        "SHARE".into(),
    ]];
    rows.extend(days.iter().map(|d| {
        vec![
            d.day.clone(),
            d.customer_messages.to_string(),
            d.no_match.to_string(),
            d.share
                .map_or_else(|| "-".to_owned(), |s| format!("{:.1}%", s * 100.0)),
        ]
    }));
    table(out, &rows, &[false, true, true, true]);
}
