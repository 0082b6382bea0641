//! A checked rule: everything precompiled, ready to be tried against a chat.

use std::time::Duration;

use regex::Regex;

use crate::event::UserData;
use crate::responder::{Action, ChatView, Then};

use super::matcher::{Matcher, Text};
use super::template::Template;

/// When a rule is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum On {
    Accept,
    Message,
    NoMatch,
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
}

/// One rule, checked and compiled.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    pub name: String,
    pub on: On,
    /// Present exactly for `message` rules.
    pub matcher: Option<Matcher>,
    pub user_data: Vec<(String, Condition)>,
    pub turn: Bounds,
    pub unanswered: Bounds,
    pub typing: Option<Duration>,
    pub replies: Vec<Template>,
    pub attach: Option<UserData>,
    pub once: bool,
    pub cont: bool,
    pub then: Then,
}

impl Rule {
    /// Whether this rule acts: not already fired if `once`, the message matches (for
    /// `message` rules), and every `when` condition holds. `unanswered` is the count this
    /// trigger sees (see `RuleSet::evaluate`).
    pub fn applies(&self, chat: &ChatView<'_>, text: Option<&Text<'_>>, unanswered: u32) -> bool {
        if self.once && chat.fired.contains(&self.name) {
            return false;
        }
        if let Some(matcher) = &self.matcher {
            if !text.is_some_and(|text| matcher.is_match(text)) {
                return false;
            }
        }
        self.turn.contains(chat.turn)
            && self.unanswered.contains(unanswered)
            && self
                .user_data
                .iter()
                .all(|(key, condition)| user_data_holds(chat.user_data, key, condition))
    }

    /// Append this rule's actions: typing, replies, attached data.
    pub fn act(&self, chat: &ChatView<'_>, actions: &mut Vec<Action>) {
        if let Some(typing) = self.typing {
            actions.push(Action::Typing(typing));
        }
        actions.extend(
            self.replies
                .iter()
                .map(|reply| Action::Reply(reply.render(chat))),
        );
        if let Some(attach) = &self.attach {
            actions.push(Action::Attach(attach.clone()));
        }
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
    use std::collections::HashSet;

    use super::*;
    use crate::event::ChatId;
    use crate::responder::rules::matcher::{compile_regex, fold};

    fn rule() -> Rule {
        Rule {
            name: "r".into(),
            on: On::Message,
            matcher: Some(Matcher::new([fold("hello")], None)),
            user_data: Vec::new(),
            turn: Bounds::default(),
            unanswered: Bounds::default(),
            typing: None,
            replies: Vec::new(),
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
            customer: None,
            bot: "b",
            user_data: &data,
            turn: 2,
            unanswered: 0,
            fired: &fired,
        };
        let text = Text::new("hello");
        let mut r = rule();
        assert!(r.applies(&chat, Some(&text), 0));
        assert!(!r.applies(&chat, Some(&Text::new("bye")), 0));
        assert!(!r.applies(&chat, None, 0));
        r.user_data.push((
            "Subject".into(),
            Condition::Matches(compile_regex(r"^Invoice \d+$").unwrap()),
        ));
        r.user_data
            .push(("Priority".into(), Condition::Equals("3".into())));
        assert!(r.applies(&chat, Some(&text), 0));
        r.user_data
            .push(("Missing".into(), Condition::Equals(String::new())));
        assert!(!r.applies(&chat, Some(&text), 0));
        r.user_data.pop();
        r.turn = Bounds {
            min: 3,
            max: u32::MAX,
        };
        assert!(!r.applies(&chat, Some(&text), 0));
        r.turn = Bounds { min: 1, max: 2 };
        r.unanswered = Bounds { min: 0, max: 1 };
        assert!(r.applies(&chat, Some(&text), 1));
        assert!(!r.applies(&chat, Some(&text), 2));
        r.once = true;
        let once_fired: HashSet<String> = ["r".to_owned()].into();
        assert!(r.applies(&chat, Some(&text), 0));
        let chat = ChatView {
            fired: &once_fired,
            ..chat
        };
        assert!(!r.applies(&chat, Some(&text), 0));
    }
}
