//! A conversation with a rule set and no server: what `[[test]]` blocks and
//! `gws-botd simulate` run. It keeps the same counters as a real chat (`turn`, `unanswered`,
//! rules fired, attached data) and reports, step by step, which rules acted and what they did.

use std::collections::HashSet;
use std::time::Duration;

use jiff::Timestamp;

use crate::event::{ChatId, UserData};
use crate::responder::{Action, ChatView, Outcome, Then, Trigger};
use crate::schedule::overrides::Override;

use super::{RuleSet, RuleTest, Tried};

/// What one step of a conversation produced.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// Rules that acted, in order.
    pub acted: Vec<String>,
    pub actions: Vec<Action>,
    pub then: Then,
    /// Every rule tried and why it did or did not act.
    pub tried: Vec<Tried>,
    /// What the answer asks the customer for (`await`), if anything.
    pub awaiting: Option<String>,
}

impl Step {
    /// The texts the bot sent in this step, in order.
    pub fn replies(&self) -> impl Iterator<Item = &str> {
        self.actions.iter().filter_map(|a| match a {
            Action::Reply(text) => Some(text.as_str()),
            _ => None,
        })
    }
}

/// One simulated chat.
pub struct Conversation<'r> {
    rules: &'r RuleSet,
    id: ChatId,
    /// The customer's nickname.
    pub customer: Option<String>,
    /// The bot's nickname.
    pub bot: String,
    pub user_data: UserData,
    /// The time the rules see.
    pub now: Timestamp,
    /// The emergency override in force, if any.
    pub active: Option<Override>,
    turn: u32,
    unanswered: u32,
    fired: HashSet<String>,
    /// What the bot's last answer asked for, until the next customer message.
    awaiting: Option<String>,
    /// Why the chat is over (closed or handed on), once it is.
    pub ended: Option<Then>,
}

/// A line of a test or transcript, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Say(String),
    /// `/idle 2m`
    Idle(Duration),
    /// `/escalation_failed`
    EscalationFailed,
}

impl Line {
    /// Read a line: `/idle DURATION`, `/escalation_failed`, or text the customer says.
    pub fn parse(line: &str) -> Result<Line, String> {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("/idle") {
            return humantime::parse_duration(rest.trim())
                .map(Line::Idle)
                .map_err(|e| format!("`/idle` needs a duration like `/idle 2m`: {e}"));
        }
        if trimmed == "/escalation_failed" {
            return Ok(Line::EscalationFailed);
        }
        Ok(Line::Say(line.to_owned()))
    }
}

impl<'r> Conversation<'r> {
    /// A chat just offered, at `now`, with `user_data` attached.
    pub fn new(rules: &'r RuleSet, now: Timestamp, user_data: UserData) -> Self {
        Conversation {
            rules,
            id: ChatId::from("simulated"),
            customer: None,
            bot: "Bot".into(),
            user_data,
            now,
            active: None,
            turn: 0,
            unanswered: 0,
            fired: HashSet::new(),
            awaiting: None,
            ended: None,
        }
    }

    /// The bot accepted the chat.
    pub fn accept(&mut self) -> Step {
        self.step(&Trigger::Accepted)
    }

    /// Carry out one line.
    pub fn line(&mut self, line: &Line) -> Step {
        match line {
            Line::Say(text) => {
                self.turn += 1;
                self.step(&Trigger::Message { text: text.clone() })
            }
            Line::Idle(silent) => self.step(&Trigger::Idle { silent: *silent }),
            Line::EscalationFailed => self.step(&Trigger::EscalationFailed),
        }
    }

    fn step(&mut self, trigger: &Trigger) -> Step {
        let mut tried = Vec::new();
        let view = ChatView {
            id: &self.id,
            message_id: None,
            recent: &[],
            customer: self.customer.as_deref(),
            bot: &self.bot,
            user_data: &self.user_data,
            turn: self.turn,
            unanswered: self.unanswered,
            fired: &self.fired,
            awaiting: self.awaiting.as_deref(),
            now: self.now,
        };
        let outcome =
            self.rules
                .evaluate_traced(&view, trigger, self.active.as_ref(), Some(&mut tried));
        let is_message = matches!(trigger, Trigger::Message { .. });
        if is_message {
            // The awaited answer is this message, whatever the rules make of it.
            self.awaiting = None;
        }
        let response = match outcome {
            Outcome::Pass => {
                if is_message {
                    self.unanswered += 1;
                }
                return Step {
                    tried,
                    ..Step::default()
                };
            }
            Outcome::Act(response) => response,
        };
        if is_message {
            self.unanswered = if response.matched {
                0
            } else {
                self.unanswered + 1
            };
        }
        self.fired.extend(response.acted.iter().cloned());
        if response.awaiting.is_some() {
            self.awaiting.clone_from(&response.awaiting);
        }
        for action in &response.actions {
            if let Action::Attach(data) = action {
                self.user_data
                    .extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        if matches!(trigger, Trigger::EscalationFailed) {
            self.ended = Some(Then::Close);
        } else if response.then != Then::Stay {
            self.ended = Some(response.then.clone());
        }
        Step {
            acted: response.acted,
            actions: response.actions,
            then: response.then,
            tried,
            awaiting: response.awaiting,
        }
    }
}

/// Why a `[[test]]` failed, as a problem message and hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
}

/// What a test's chat produced: the rules that acted and the texts sent, with the step each
/// text came from ("when the chat was accepted", "after \"hello\"").
#[derive(Default)]
struct Transcript {
    acted: Vec<String>,
    sent: Vec<(String, String)>,
    /// Where the rules that acted first differ from `expect`.
    first_wrong: Option<String>,
}

impl Transcript {
    fn record(&mut self, test: &RuleTest, step: Step, when: &str) {
        self.sent.extend(
            step.replies()
                .map(|text| (text.to_owned(), when.to_owned())),
        );
        self.acted.extend(step.acted);
        self.check(test, when);
    }

    fn check(&mut self, test: &RuleTest, when: &str) {
        if self.first_wrong.is_none() && !test.expect.starts_with(&self.acted) {
            self.first_wrong = Some(when.to_owned());
        }
    }
}

/// Run one `[[test]]` against `rules`: the rules that act must be `expect`, and the texts
/// sent `replies` when the test gives them.
pub fn run_test(rules: &RuleSet, test: &RuleTest) -> Result<(), Failure> {
    let mut chat = Conversation::new(rules, test.at, test.user_data.clone());
    chat.customer = test.customer.clone();
    let mut transcript = Transcript::default();
    transcript.record(test, chat.accept(), "when the chat was accepted");
    for said in &test.say {
        let line = Line::parse(said).map_err(|e| Failure {
            message: format!("test {:?}: {e}", test.name),
            hint: None,
        })?;
        if chat.ended.is_some() && line != Line::EscalationFailed {
            transcript.acted.push("(chat over)".into());
            transcript.check(test, &format!("at {said:?}"));
            break;
        }
        transcript.record(test, chat.line(&line), &format!("after {said:?}"));
    }
    let acted_ok = transcript.acted == test.expect;
    let sent: Vec<&str> = transcript.sent.iter().map(|(t, _)| t.as_str()).collect();
    let replies_ok = test.replies.as_ref().is_none_or(|r| *r == sent);
    if acted_ok && replies_ok {
        return Ok(());
    }
    let mut message = format!("test {:?} failed", test.name);
    let mut differ = Vec::new();
    if !acted_ok {
        let show = |names: &[String]| {
            if names.is_empty() {
                "(no rule)".to_owned()
            } else {
                names.join(", ")
            }
        };
        message += &format!(
            "\nexpected: {}\nactual:   {}",
            show(&test.expect),
            show(&transcript.acted)
        );
        let at = transcript.first_wrong.as_deref().unwrap_or("at the end");
        differ.push(format!("the rules first differ {at}"));
    }
    if let Some(expected) = test.replies.as_ref().filter(|_| !replies_ok) {
        let (text, at) = replies_mismatch(expected, &transcript.sent);
        message += &text;
        differ.push(at);
    }
    Err(Failure {
        message,
        hint: Some(format!(
            "{}; to see why, run: {}",
            differ.join("; "),
            simulate_command(test)
        )),
    })
}

/// The expected and actual replies, numbered, and where they first differ.
fn replies_mismatch(expected: &[String], sent: &[(String, String)]) -> (String, String) {
    let list = |texts: &mut dyn Iterator<Item = &str>| {
        let lines: Vec<String> = texts
            .enumerate()
            .map(|(i, t)| format!("\n  {}. {t:?}", i + 1))
            .collect();
        if lines.is_empty() {
            " (none)".to_owned()
        } else {
            lines.concat()
        }
    };
    let text = format!(
        "\nexpected replies:{}\nactual replies:{}",
        list(&mut expected.iter().map(String::as_str)),
        list(&mut sent.iter().map(|(t, _)| t.as_str()))
    );
    let first = expected
        .iter()
        .zip(sent)
        .position(|(e, (a, _))| e != a)
        .unwrap_or(expected.len().min(sent.len()));
    let at = match sent.get(first) {
        Some((_, when)) if first < expected.len() => {
            format!("reply {} differs (sent {when})", first + 1)
        }
        Some((_, when)) => format!("reply {} was not expected (sent {when})", first + 1),
        None => format!("reply {} was expected but never sent", first + 1),
    };
    (text, at)
}

/// A shell command that replays `test` in `gws-botd simulate --explain`.
pub fn simulate_command(test: &RuleTest) -> String {
    let dir = test
        .file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut command = String::new();
    if !test.say.is_empty() {
        command += "printf '%s\\n'";
        for said in &test.say {
            command += &format!(" {}", shell_quote(said));
        }
        command += " | ";
    }
    command += &format!(
        "gws-botd simulate --rules {} --at {}",
        shell_quote(&dir.display().to_string()),
        shell_quote(&test.at_text)
    );
    if let Some(customer) = &test.customer {
        command += &format!(" --customer {}", shell_quote(customer));
    }
    for (key, value) in &test.user_data {
        let value = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        command += &format!(" --user-data {}", shell_quote(&format!("{key}={value}")));
    }
    command += " --explain";
    if test.say.is_empty() {
        command += " </dev/null";
    }
    command
}

/// `text` as one shell word: bare when it is plainly safe, else in single quotes.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:+=@,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
