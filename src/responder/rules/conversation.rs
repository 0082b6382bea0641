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
            customer: self.customer.as_deref(),
            bot: &self.bot,
            user_data: &self.user_data,
            turn: self.turn,
            unanswered: self.unanswered,
            fired: &self.fired,
            now: self.now,
        };
        let outcome =
            self.rules
                .evaluate_traced(&view, trigger, self.active.as_ref(), Some(&mut tried));
        let is_message = matches!(trigger, Trigger::Message { .. });
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
        }
    }
}

/// Why a `[[test]]` failed, as a problem message and hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
}

/// Run one `[[test]]` against `rules`.
pub fn run_test(rules: &RuleSet, test: &RuleTest) -> Result<(), Failure> {
    let mut chat = Conversation::new(rules, test.at, test.user_data.clone());
    let mut actual = chat.accept().acted;
    let mut first_wrong: Option<String> = None;
    let mut check = |actual: &[String], what: &str| {
        if first_wrong.is_none() && !test.expect.starts_with(actual) {
            first_wrong = Some(what.to_owned());
        }
    };
    check(&actual, "when the chat was accepted");
    for said in &test.say {
        let line = Line::parse(said).map_err(|e| Failure {
            message: format!("test {:?}: {e}", test.name),
            hint: None,
        })?;
        if chat.ended.is_some() && line != Line::EscalationFailed {
            check(
                &[actual.clone(), vec!["(chat over)".into()]].concat(),
                &format!("at {said:?}"),
            );
            break;
        }
        actual.extend(chat.line(&line).acted);
        check(&actual, &format!("after {said:?}"));
    }
    if actual == test.expect {
        return Ok(());
    }
    let show = |names: &[String]| {
        if names.is_empty() {
            "(no rule)".to_owned()
        } else {
            names.join(", ")
        }
    };
    Err(Failure {
        message: format!(
            "test {:?} failed\nexpected: {}\nactual:   {}",
            test.name,
            show(&test.expect),
            show(&actual)
        ),
        hint: Some(format!(
            "the rules first differ {}; run `gws-botd simulate --explain --at {}` with the same messages to see why",
            first_wrong.unwrap_or_else(|| "at the end".into()),
            test.at
        )),
    })
}
