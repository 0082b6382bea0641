//! Raw rule files: the shape of the TOML, with the byte span of every value.
//!
//! A file is parsed with `toml`'s span-preserving document tree (`DeTable`) and walked by
//! hand, so one pass reports *every* wrong type, unknown key (with "did you mean") and
//! not-yet-supported part of the format instead of stopping at the first. Values are checked
//! for meaning (durations, regexes, placeholders, team names) later, in `validate`.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::problem::{Source, did_you_mean};

mod rule;
mod schedule;
mod syntax;

type Value<'i> = Spanned<DeValue<'i>>;

/// A string with the span of its TOML value (quotes included).
pub(super) type Text = Spanned<String>;

/// One rule file, as written.
#[derive(Debug, Default)]
pub(super) struct RawFile {
    pub teams: Vec<RawTeam>,
    pub schedules: Vec<RawSchedule>,
    pub rules: Vec<RawRule>,
    pub tests: Vec<RawTest>,
}

/// A `[schedule.NAME]` table.
#[derive(Debug)]
pub(super) struct RawSchedule {
    /// The name, spanning the key in the header.
    pub name: Text,
    pub timezone: Option<Text>,
    pub open: Option<Spanned<Vec<Text>>>,
    pub closed: Option<Spanned<Vec<Text>>>,
    /// The language of `{next_open…}`, as written.
    pub language: Option<Text>,
    /// Whether reading it already found problems (so a missing value is not reported twice).
    pub damaged: bool,
}

/// A `[[test]]` block.
#[derive(Debug, Default)]
pub(super) struct RawTest {
    /// Where the test starts (its `[[test]]` header).
    pub at: Range<usize>,
    pub name: Option<Text>,
    /// The `at` time, as written (a TOML date-time is turned into text).
    pub time: Option<Text>,
    pub user_data: Vec<(Text, Text)>,
    /// The customer's nickname (`""`: unknown).
    pub customer: Option<Text>,
    pub say: Option<Spanned<Vec<Text>>>,
    pub expect: Option<Spanned<Vec<Text>>>,
    /// Every text the bot sends, in order; a single string is a list of one.
    pub replies: Option<Spanned<Vec<Text>>>,
    pub damaged: bool,
}

/// `when.schedule = { open = "name" }` or `{ closed = "name" }`.
#[derive(Debug)]
pub(super) struct RawScheduleCondition {
    /// True for `open`, false for `closed`.
    pub open: bool,
    pub name: Text,
}

/// A `[team.NAME]` table.
#[derive(Debug)]
pub(super) struct RawTeam {
    /// The name, spanning the key in the header.
    pub name: Text,
    pub agents: Option<Spanned<Vec<Text>>>,
    pub skill: Option<Text>,
    pub wait: Option<Text>,
    /// `mode`: `"transfer"` or `"conference"`, as written.
    pub mode: Option<Text>,
    /// `resume`, with the span of its value.
    pub resume: Option<Spanned<bool>>,
    /// Whether reading it already found problems (so a missing value is not reported twice).
    pub damaged: bool,
}

/// A `[[rule]]` table.
#[derive(Debug, Default)]
pub(super) struct RawRule {
    /// Where the rule starts (its `[[rule]]` header).
    pub at: Range<usize>,
    pub name: Option<Text>,
    pub on: Option<Text>,
    /// The `match` key's span, when given.
    pub match_at: Option<Range<usize>>,
    pub keywords: Option<Spanned<Vec<Text>>>,
    pub regex: Option<Text>,
    pub user_data: Vec<(Text, RawCondition)>,
    pub schedule: Option<RawScheduleCondition>,
    pub turn: Option<RawBounds>,
    pub unanswered: Option<RawBounds>,
    /// `when.awaiting`: the topic the bot's previous answer asked for.
    pub awaiting: Option<Text>,
    /// `await`: the topic this rule's answer asks for.
    pub asks: Option<Text>,
    /// A single string is a list of one.
    pub reply: Option<Spanned<Vec<Text>>>,
    pub typing: Option<Text>,
    /// `after` (for `on = "idle"`).
    pub after: Option<Text>,
    pub attach: Vec<(Text, Text)>,
    pub once: bool,
    pub cont: bool,
    pub then: Option<Spanned<RawThen>>,
    /// The `examples` key's span, when given.
    pub examples_at: Option<Range<usize>>,
    pub examples_match: Vec<Text>,
    pub examples_no_match: Vec<Text>,
    /// Whether reading it already found problems (so a missing value is not reported twice).
    pub damaged: bool,
}

/// A `when.user_data` condition on one key.
#[derive(Debug)]
pub(super) enum RawCondition {
    Equals(Text),
    Regex(Text),
}

/// `{ min = N, max = M }`.
#[derive(Debug)]
pub(super) struct RawBounds {
    pub at: Range<usize>,
    pub min: Option<Spanned<i64>>,
    pub max: Option<Spanned<i64>>,
}

/// `then`, as written.
#[derive(Debug)]
pub(super) enum RawThen {
    /// `"stay"`, `"close"` or a misspelling of them.
    Word(String),
    Escalate(Text),
    Transfer(Text),
}

const TOP_KEYS: [&str; 4] = ["schedule", "team", "rule", "test"];
const SCHEDULE_KEYS: [&str; 4] = ["timezone", "open", "closed", "language"];
const TEST_KEYS: [&str; 7] = [
    "name",
    "at",
    "user_data",
    "customer",
    "say",
    "expect",
    "replies",
];
const SCHEDULE_CONDITION_KEYS: [&str; 2] = ["open", "closed"];
const TEAM_KEYS: [&str; 5] = ["agents", "skill", "wait", "mode", "resume"];
const RULE_KEYS: [&str; 13] = [
    "name", "on", "after", "match", "when", "reply", "typing", "await", "attach", "once",
    "continue", "then", "examples",
];
const MATCH_KEYS: [&str; 2] = ["keywords", "regex"];
const WHEN_KEYS: [&str; 5] = ["schedule", "user_data", "turn", "unanswered", "awaiting"];
const BOUNDS_KEYS: [&str; 2] = ["min", "max"];
const EXAMPLES_KEYS: [&str; 2] = ["match", "no_match"];
const THEN_KEYS: [&str; 2] = ["escalate", "transfer"];

/// Parse one file's text; TOML syntax errors and shape problems go to `source`. `None` when
/// the file is not valid TOML.
pub(super) fn read(source: &mut Source<'_>) -> Option<RawFile> {
    let text = source.text;
    let document = match DeTable::parse(text) {
        Ok(document) => document.into_inner(),
        Err(error) => {
            let offset = error.span().map_or(0, |s| s.start);
            let explained = syntax::explain(text, offset, error.message());
            source.report(explained.offset, explained.message, explained.hint);
            return None;
        }
    };
    let mut file = RawFile::default();
    let mut reader = Reader { source };
    for (key, value) in document.iter() {
        match key.get_ref().as_ref() {
            "team" => reader.teams(value, &mut file.teams),
            "rule" => reader.rules(value, &mut file.rules),
            "schedule" => reader.schedules(value, &mut file.schedules),
            "test" => reader.tests(value, &mut file.tests),
            other => {
                reader.unknown_key(key.span(), other, &TOP_KEYS, "at the top level of the file")
            }
        }
    }
    file.rules.sort_by_key(|r| r.at.start);
    file.teams.sort_by_key(|t| t.name.span().start);
    file.schedules.sort_by_key(|t| t.name.span().start);
    file.tests.sort_by_key(|t| t.at.start);
    Some(file)
}

struct Reader<'r, 's> {
    source: &'r mut Source<'s>,
}

/// How a TOML type is called in messages for supervisors.
fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "text",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

impl Reader<'_, '_> {
    fn unknown_key(&mut self, span: Range<usize>, key: &str, allowed: &[&str], context: &str) {
        let hint = did_you_mean(key, allowed.iter().copied(), "allowed keys here");
        self.source.report(
            span.start,
            format!("unknown key `{key}` {context}"),
            Some(hint),
        );
    }

    fn wrong_type(&mut self, value: &Value<'_>, what: &str, expected: &str) {
        let message = format!("{what} must be {expected}, not {}", kind(value.get_ref()));
        self.source.report(value.span().start, message, None);
    }

    fn table<'v, 'i>(&mut self, value: &'v Value<'i>, what: &str) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.wrong_type(value, what, "a table");
                None
            }
        }
    }

    fn string(&mut self, value: &Value<'_>, what: &str) -> Option<Text> {
        match value.get_ref() {
            DeValue::String(s) => Some(Spanned::new(value.span(), s.to_string())),
            _ => {
                self.wrong_type(value, what, "text in quotes");
                None
            }
        }
    }

    fn bool(&mut self, value: &Value<'_>, what: &str) -> bool {
        match value.get_ref() {
            DeValue::Boolean(b) => *b,
            _ => {
                self.wrong_type(value, what, "true or false");
                false
            }
        }
    }

    /// A list of strings; with `single`, one string is accepted as a list of one.
    fn strings(
        &mut self,
        value: &Value<'_>,
        what: &str,
        single: bool,
    ) -> Option<Spanned<Vec<Text>>> {
        match value.get_ref() {
            DeValue::String(s) if single => Some(Spanned::new(
                value.span(),
                vec![Spanned::new(value.span(), s.to_string())],
            )),
            DeValue::Array(items) => {
                let items = items
                    .iter()
                    .filter_map(|item| self.string(item, &format!("each entry of {what}")));
                Some(Spanned::new(value.span(), items.collect()))
            }
            _ => {
                let expected = if single {
                    "text in quotes or a list of texts"
                } else {
                    "a list of texts"
                };
                self.wrong_type(value, what, expected);
                None
            }
        }
    }

    fn teams(&mut self, value: &Value<'_>, teams: &mut Vec<RawTeam>) {
        let Some(table) = self.table(value, "`team`") else {
            return;
        };
        for (name, value) in table.iter() {
            let context = format!("in [team.{}]", name.get_ref());
            let Some(table) = self.table(value, &format!("[team.{}]", name.get_ref())) else {
                continue;
            };
            let mut team = RawTeam {
                name: Spanned::new(name.span(), name.get_ref().to_string()),
                agents: None,
                skill: None,
                wait: None,
                mode: None,
                resume: None,
                damaged: false,
            };
            let before = self.source.count();
            for (key, value) in table.iter() {
                match key.get_ref().as_ref() {
                    "agents" => team.agents = self.strings(value, "`agents`", false),
                    "skill" => team.skill = self.string(value, "`skill`"),
                    "wait" => team.wait = self.string(value, "`wait`"),
                    "mode" => team.mode = self.string(value, "`mode`"),
                    "resume" => {
                        let resume = self.bool(value, "`resume`");
                        if matches!(value.get_ref(), DeValue::Boolean(_)) {
                            team.resume = Some(Spanned::new(value.span(), resume));
                        }
                    }
                    other => self.unknown_key(key.span(), other, &TEAM_KEYS, &context),
                }
            }
            team.damaged = self.source.count() != before;
            teams.push(team);
        }
    }

    fn rules(&mut self, value: &Value<'_>, rules: &mut Vec<RawRule>) {
        let DeValue::Array(items) = value.get_ref() else {
            self.source.report(
                value.span().start,
                format!(
                    "`rule` must be a list of rules, not {}",
                    kind(value.get_ref())
                ),
                Some("start each rule with `[[rule]]` (two brackets)".into()),
            );
            return;
        };
        for (index, item) in items.iter().enumerate() {
            let Some(table) = self.table(item, "each `[[rule]]`") else {
                continue;
            };
            rules.push(self.rule(item.span(), table, index + 1));
        }
    }
}
