//! Counting the decision log: one pass over every record in the window, nothing kept but the
//! counts (and, per open chat, the live rules of its last decision, to pair with a shadow
//! decision that disagrees, and the responders that failed and passed on since it).
//!
//! The log names the responder that acted (`responded`), the last one asked when none did
//! (`no_answer`) and each one that failed (`responder_failed`), but not those that passed
//! before the one that acted: their passes are counted from the chain's order. Records of
//! older logs without a `responder` field are the `rules` responder's (the only one there was).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use jiff::Timestamp;
use jiff::civil::Date;

use crate::store::decision_log::{self, Decision, Record};

/// Customer messages of one day and how many of them no `message` rule matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCount {
    pub messages: u64,
    pub no_match: u64,
}

/// The responder of records from before the field existed.
pub const OLD_RESPONDER: &str = "rules";

/// What one responder did in the window, per trigger it was asked about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponderCount {
    /// Triggers it acted on (`responded`).
    pub answers: u64,
    /// Triggers it passed on: it was asked (it comes before the one that acted in the chain,
    /// or it was the last asked of a `no_answer`) and did not fail.
    pub passes: u64,
    /// Failures after which the next responder was asked (`on_error = "pass"`).
    pub failures_passed: u64,
    /// Failures that handed the chat over (`on_error = "hand_over"`).
    pub failures_handed_over: u64,
}

/// What the records in a window say.
#[derive(Debug, Default)]
pub struct Tally {
    /// Live rule → times it acted.
    pub live: BTreeMap<String, u64>,
    /// Shadow rule → times it would have acted.
    pub shadow: BTreeMap<String, u64>,
    /// Shadow decisions recorded, and how many disagreed with the live one.
    pub shadow_decisions: u64,
    pub shadow_disagreements: u64,
    /// (shadow rules, live rules) of each disagreement → times.
    pub disagreements: BTreeMap<(Vec<String>, Vec<String>), u64>,
    /// UTC day → its customer messages.
    pub days: BTreeMap<Date, DayCount>,
    /// Responder name → what it did.
    pub responders: BTreeMap<String, ResponderCount>,
    /// The chain's responder names in order, which the passes are counted from.
    pub chain: Vec<String>,
    /// Decisions by a responder the chain does not have (its passes before it are unknown).
    pub outside_chain: u64,
    /// Records in the window.
    pub records: u64,
    /// Log files read.
    pub files: usize,
    /// Lines that were not records, or records without a readable time.
    pub unreadable: usize,
    /// The live rules of each chat's last live decision.
    last_live: HashMap<String, Vec<String>>,
    /// Per chat, the responders that failed and passed on since its last decision.
    failed_on: HashMap<String, Vec<String>>,
}

impl Tally {
    /// An empty tally whose passes are counted from the responder names of `chain`, in order.
    pub fn with_chain(chain: Vec<String>) -> Tally {
        Tally {
            chain,
            ..Tally::default()
        }
    }

    /// Count the records of the log in `dir` made in `[from, until]`, the passes from the
    /// responder names of `chain`. Blocking file I/O.
    pub fn read(
        dir: &Path,
        chain: Vec<String>,
        from: Timestamp,
        until: Timestamp,
    ) -> std::io::Result<Tally> {
        let mut tally = Tally::with_chain(chain);
        let mut bad_time = 0;
        let scanned =
            decision_log::scan(dir, None, |record| match record.ts.parse::<Timestamp>() {
                Ok(ts) if (from..=until).contains(&ts) => tally.add(ts, record),
                Ok(_) => {}
                Err(_) => bad_time += 1,
            })?;
        tally.files = scanned.files.len();
        tally.unreadable = scanned.unreadable + bad_time;
        tally.last_live = HashMap::new();
        tally.failed_on = HashMap::new();
        Ok(tally)
    }

    /// Count one record made at `ts`.
    pub fn add(&mut self, ts: Timestamp, record: Record) {
        self.records += 1;
        let day = ts.to_zoned(jiff::tz::TimeZone::UTC).date();
        match record.decision {
            Decision::CustomerSaid { .. } => self.days.entry(day).or_default().messages += 1,
            Decision::Responded {
                trigger,
                responder,
                rules,
                matched,
                ..
            } => {
                self.decided(&record.chat_id, &responder, false);
                self.responder(&responder).answers += 1;
                // A webhook's answer names no rule and is `matched`: not a `no_match`.
                if trigger == "message" && !matched {
                    self.days.entry(day).or_default().no_match += 1;
                }
                for rule in &rules {
                    *self.live.entry(rule.clone()).or_default() += 1;
                }
                self.last_live.insert(record.chat_id, rules);
            }
            Decision::NoAnswer {
                trigger, responder, ..
            } => {
                self.decided(&record.chat_id, &responder, true);
                if trigger == "message" {
                    self.days.entry(day).or_default().no_match += 1;
                }
                self.last_live.insert(record.chat_id, Vec::new());
            }
            Decision::Shadow { rules, agrees, .. } => {
                self.shadow_decisions += 1;
                for rule in &rules {
                    *self.shadow.entry(rule.clone()).or_default() += 1;
                }
                if !agrees {
                    self.shadow_disagreements += 1;
                    let live = self
                        .last_live
                        .get(&record.chat_id)
                        .cloned()
                        .unwrap_or_default();
                    *self.disagreements.entry((rules, live)).or_default() += 1;
                }
            }
            Decision::ResponderFailed {
                responder, passed, ..
            } => {
                let count = self.responder(&responder);
                if passed {
                    count.failures_passed += 1;
                    let name = responder_name(&responder).to_owned();
                    self.failed_on.entry(record.chat_id).or_default().push(name);
                } else {
                    count.failures_handed_over += 1;
                    self.decided(&record.chat_id, &responder, false);
                }
            }
            Decision::Ended { .. } => {
                self.last_live.remove(&record.chat_id);
                self.failed_on.remove(&record.chat_id);
            }
            _ => {}
        }
    }

    fn responder(&mut self, name: &str) -> &mut ResponderCount {
        self.responders
            .entry(responder_name(name).to_owned())
            .or_default()
    }

    /// A chain's decision about one trigger of `chat`, by `by` (acted, or failed and handed
    /// over; with `asked_last`: the last asked when none acted): every responder before it
    /// in the chain (and `by` itself with `asked_last`) that did not fail passed.
    fn decided(&mut self, chat: &str, by: &str, asked_last: bool) {
        let failed = self.failed_on.remove(chat).unwrap_or_default();
        let by = responder_name(by);
        let Some(at) = self.chain.iter().position(|name| name == by) else {
            self.outside_chain += 1;
            return;
        };
        let asked = if asked_last { at + 1 } else { at };
        let passed: Vec<String> = self.chain[..asked]
            .iter()
            .filter(|name| !failed.contains(name))
            .cloned()
            .collect();
        for name in passed {
            self.responder(&name).passes += 1;
        }
    }
}

/// The responder a record names; [`OLD_RESPONDER`] when it names none (an older log).
fn responder_name(name: &str) -> &str {
    if name.is_empty() { OLD_RESPONDER } else { name }
}
