//! A checked rule: everything precompiled, ready to be tried against a chat.

use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

use crate::event::UserData;
use crate::responder::{Action, ChatView, Then};
use crate::schedule::{Closed, Schedule, State};

use super::matcher::Matcher;
pub(crate) use super::template::Env;
use super::template::Template;

/// When a rule is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum On {
    Accept,
    Message,
    NoMatch,
    Idle,
    EscalationFailed,
}

/// A condition on one user-data value.
#[derive(Debug, Clone)]
pub(super) enum Condition {
    Equals(String),
    Matches(Regex),
}

/// Inclusive bounds on a counter; absent bounds are 0 and `u32::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bounds {
    pub min: u32,
    pub max: u32,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            min: 0,
            max: u32::MAX,
        }
    }
}

impl Bounds {
    fn contains(self, n: u32) -> bool {
        (self.min..=self.max).contains(&n)
    }

    fn describe(self) -> String {
        match (self.min, self.max) {
            (0, u32::MAX) => "any".into(),
            (min, u32::MAX) => format!("at least {min}"),
            (0, max) => format!("at most {max}"),
            (min, max) => format!("{min} to {max}"),
        }
    }
}

/// `when.schedule`: the schedule must be open (or closed).
#[derive(Debug, Clone)]
pub(super) struct ScheduleCondition {
    pub open: bool,
    pub schedule: Arc<Schedule>,
}

/// What the rule is being tried against, besides the chat and the environment.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Try<'t> {
    /// For `message` rules: whether the message matched this rule's `match`.
    pub matched: Option<bool>,
    /// For `message` and `no_match` rules: the customer's message (for `{match.NAME}`).
    pub text: Option<&'t str>,
    /// The `unanswered` count this trigger sees.
    pub unanswered: u32,
    /// For `idle` rules: how long the chat has been silent.
    pub silent: Option<Duration>,
}

/// One rule, checked and compiled.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    pub name: String,
    pub on: On,
    /// Present exactly for `message` rules.
    pub matcher: Option<Matcher>,
    /// For `idle` rules: the silence after which the rule may act.
    pub after: Duration,
    pub schedule: Option<ScheduleCondition>,
    pub user_data: Vec<(String, Condition)>,
    pub turn: Bounds,
    pub unanswered: Bounds,
    /// `when.awaiting`: the topic the bot's previous answer must have asked for.
    pub awaiting: Option<String>,
    /// `await`: the topic this rule's answer asks the customer for.
    pub asks: Option<String>,
    pub typing: Option<Duration>,
    pub replies: Vec<Template>,
    /// The rule's `match.regex` with its named groups, when a reply uses `{match.NAME}`.
    pub groups: Option<Regex>,
    pub attach: Option<UserData>,
    pub once: bool,
    pub cont: bool,
    pub then: Then,
}

impl Rule {
    /// Whether this rule acts.
    #[cfg(test)]
    pub fn applies(&self, chat: &ChatView<'_>, env: &Env<'_>, tried: Try<'_>) -> bool {
        self.check(chat, env, tried).is_ok()
    }

    /// `Ok` if this rule acts, else why not (for `--explain`): not already fired if `once`,
    /// the bot awaits its topic (for `when.awaiting`), the message matches (for `message`
    /// rules), the silence is long enough (for `idle` rules), and every `when` condition
    /// holds.
    pub fn check(&self, chat: &ChatView<'_>, env: &Env<'_>, tried: Try<'_>) -> Result<(), String> {
        if self.once && chat.fired.contains(&self.name) {
            return Err("it already acted once in this chat (`once = true`)".into());
        }
        if let Some(topic) = &self.awaiting
            && chat.awaiting != Some(topic.as_str())
        {
            return Err(match chat.awaiting {
                None => format!("`when.awaiting` wants {topic:?}, the bot awaits no answer"),
                Some(other) => format!("`when.awaiting` wants {topic:?}, the bot awaits {other:?}"),
            });
        }
        if tried.matched == Some(false) {
            return Err("the message does not match its `match`".into());
        }
        self.check_when(chat, env, tried)
    }

    /// The counters, user data and schedule conditions of [`Rule::check`].
    fn check_when(&self, chat: &ChatView<'_>, env: &Env<'_>, tried: Try<'_>) -> Result<(), String> {
        if self.on == On::Idle {
            let silent = tried.silent.unwrap_or_default();
            if silent < self.after {
                return Err(format!(
                    "the chat has been silent for {}, less than `after` {}",
                    humantime::format_duration(silent),
                    humantime::format_duration(self.after)
                ));
            }
        }
        if !self.turn.contains(chat.turn) {
            return Err(format!(
                "`when.turn` wants {}, this is turn {}",
                self.turn.describe(),
                chat.turn
            ));
        }
        if !self.unanswered.contains(tried.unanswered) {
            return Err(format!(
                "`when.unanswered` wants {}, the count is {}",
                self.unanswered.describe(),
                tried.unanswered
            ));
        }
        for (key, condition) in &self.user_data {
            if !user_data_holds(chat.user_data, key, condition) {
                let value = chat
                    .user_data
                    .get(key)
                    .map_or("missing".to_owned(), |v| v.to_string());
                let wanted = match condition {
                    Condition::Equals(s) => format!("{s:?}"),
                    Condition::Matches(r) => format!("to match /{}/", r.as_str()),
                };
                return Err(format!("user data `{key}` is {value}, wanted {wanted}"));
            }
        }
        if let Some(condition) = &self.schedule {
            let state = condition.schedule.state(env.now, env.active);
            if state.is_open() != condition.open {
                return Err(format!(
                    "`when.schedule` wants {:?} {}, it is {state}",
                    condition.schedule.name,
                    if condition.open { "open" } else { "closed" }
                ));
            }
        }
        Ok(())
    }

    /// Append this rule's actions: typing, replies, attached data. A rule that acts because
    /// its schedule is closed by an override with a message sends that message instead of
    /// its replies. Returns the topic the replies ask for (`await`), if they were sent.
    pub fn act(
        &self,
        chat: &ChatView<'_>,
        env: &Env<'_>,
        tried: Try<'_>,
        actions: &mut Vec<Action>,
    ) -> Option<&str> {
        if let Some(typing) = self.typing {
            actions.push(Action::Typing(typing));
        }
        let asks = match self.override_message(env) {
            Some(message) => {
                // Checked by `override closed`; a file edited by hand since is sent as written.
                let reply = match Template::parse(message) {
                    Ok(template) => template.render(chat, env, None),
                    Err(_) => message.to_owned(),
                };
                actions.push(Action::Reply(reply));
                None
            }
            None => {
                let captures = self.groups.as_ref().zip(tried.text);
                let captures = captures.and_then(|(regex, text)| regex.captures(text));
                actions.extend(
                    self.replies
                        .iter()
                        .map(|reply| Action::Reply(reply.render(chat, env, captures.as_ref()))),
                );
                self.asks.as_deref()
            }
        };
        if let Some(attach) = &self.attach {
            actions.push(Action::Attach(attach.clone()));
        }
        asks
    }

    fn override_message<'e>(&self, env: &Env<'e>) -> Option<&'e str> {
        let condition = self.schedule.as_ref().filter(|c| !c.open)?;
        let state = condition.schedule.state(env.now, env.active);
        if !matches!(state, State::Closed(Closed::Override { .. })) || self.replies.is_empty() {
            return None;
        }
        env.active.and_then(|o| o.message.as_deref())
    }
}

/// A missing key never satisfies a condition; non-string values are compared as JSON text.
fn user_data_holds(data: &UserData, key: &str, condition: &Condition) -> bool {
    let Some(value) = data.get(key) else {
        return false;
    };
    let owned;
    let text = match value {
        serde_json::Value::String(s) => s.as_str(),
        serde_json::Value::Null => return false,
        other => {
            owned = other.to_string();
            owned.as_str()
        }
    };
    match condition {
        Condition::Equals(expected) => text == expected,
        Condition::Matches(regex) => regex.is_match(text),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use jiff::Timestamp;

    use super::*;
    use crate::event::ChatId;
    use crate::responder::rules::matcher::{Text, compile_regex, fold};

    fn env(schedules: &BTreeMap<String, Arc<Schedule>>) -> Env<'_> {
        Env {
            now: Timestamp::UNIX_EPOCH,
            active: None,
            schedules,
        }
    }

    fn tried<'t>(rule: &Rule, text: Option<&Text<'t>>, unanswered: u32) -> Try<'t> {
        Try {
            text: text.map(|t| t.raw),
            matched: rule
                .matcher
                .as_ref()
                .map(|m| text.is_some_and(|t| m.is_match(t))),
            unanswered,
            silent: None,
        }
    }

    fn rule() -> Rule {
        Rule {
            name: "r".into(),
            on: On::Message,
            matcher: Some(Matcher::new([fold("hello")], None)),
            after: Duration::ZERO,
            schedule: None,
            user_data: Vec::new(),
            turn: Bounds::default(),
            unanswered: Bounds::default(),
            awaiting: None,
            asks: None,
            typing: None,
            replies: Vec::new(),
            groups: None,
            attach: None,
            once: false,
            cont: false,
            then: Then::Stay,
        }
    }

    #[test]
    fn conditions_all_must_hold() {
        let id = ChatId::from("c");
        let fired = HashSet::new();
        let mut data = UserData::new();
        data.insert("Subject".into(), "Invoice 42".into());
        data.insert("Priority".into(), 3.into());
        let chat = ChatView {
            id: &id,
            message_id: None,
            recent: &[],
            customer: None,
            bot: "b",
            user_data: &data,
            turn: 2,
            unanswered: 0,
            fired: &fired,
            awaiting: None,
            now: Timestamp::UNIX_EPOCH,
        };
        let schedules = BTreeMap::new();
        let env = env(&schedules);
        let text = Text::new("hello");
        let mut r = rule();
        assert!(r.applies(&chat, &env, tried(&r, Some(&text), 0)));
        assert!(!r.applies(&chat, &env, tried(&r, Some(&Text::new("bye")), 0)));
        assert!(!r.applies(&chat, &env, tried(&r, None, 0)));
        r.user_data.push((
            "Subject".into(),
            Condition::Matches(compile_regex(r"^Invoice \d+$").unwrap()),
        ));
        r.user_data
            .push(("Priority".into(), Condition::Equals("3".into())));
        assert!(r.applies(&chat, &env, tried(&r, Some(&text), 0)));
        r.user_data
            .push(("Missing".into(), Condition::Equals(String::new())));
        assert!(!r.applies(&chat, &env, tried(&r, Some(&text), 0)));
        r.user_data.pop();
        r.turn = Bounds {
            min: 3,
            max: u32::MAX,
        };
        assert!(!r.applies(&chat, &env, tried(&r, Some(&text), 0)));
        r.turn = Bounds { min: 1, max: 2 };
        r.unanswered = Bounds { min: 0, max: 1 };
        assert!(r.applies(&chat, &env, tried(&r, Some(&text), 1)));
        assert!(!r.applies(&chat, &env, tried(&r, Some(&text), 2)));
        r.once = true;
        let once_fired: HashSet<String> = ["r".to_owned()].into();
        assert!(r.applies(&chat, &env, tried(&r, Some(&text), 0)));
        let chat = ChatView {
            fired: &once_fired,
            ..chat
        };
        assert!(!r.applies(&chat, &env, tried(&r, Some(&text), 0)));
    }
}
