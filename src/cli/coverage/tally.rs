//! Counting the decision log: one pass over every record in the window, nothing kept but the
//! counts (and, per open chat, the live rules of its last decision, to pair with a shadow
//! decision that disagrees).

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
    /// Records in the window.
    pub records: u64,
    /// Log files read.
    pub files: usize,
    /// Lines that were not records, or records without a readable time.
    pub unreadable: usize,
    /// The live rules of each chat's last live decision.
    last_live: HashMap<String, Vec<String>>,
}

impl Tally {
    /// Count the records of the log in `dir` made in `[from, until]`. Blocking file I/O.
    pub fn read(dir: &Path, from: Timestamp, until: Timestamp) -> std::io::Result<Tally> {
        let mut tally = Tally::default();
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
                rules,
                matched,
                ..
            } => {
                if trigger == "message" && !matched {
                    self.days.entry(day).or_default().no_match += 1;
                }
                for rule in &rules {
                    *self.live.entry(rule.clone()).or_default() += 1;
                }
                self.last_live.insert(record.chat_id, rules);
            }
            Decision::NoAnswer { trigger, .. } => {
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
            Decision::Ended { .. } => {
                self.last_live.remove(&record.chat_id);
            }
            _ => {}
        }
    }
}
