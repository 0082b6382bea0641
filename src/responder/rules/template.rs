//! Reply templates: text with `{customer}`, `{bot}`, `{user_data.Key}`, `{match.NAME}` and
//! `{next_open.NAME}` placeholders.
//!
//! Templates are parsed once at load into literal and placeholder pieces; rendering only
//! concatenates. `{{` and `}}` are literal braces. Unknown placeholders are load errors, so
//! a typo never reaches a customer as `{custmer}`.
//!
//! When the customer's nickname is unknown, `{customer|there}` says the word after the bar
//! and a plain `{customer}` is left out together with the space before it ("Sorry {customer},
//! I didn't get that." → "Sorry, I didn't get that."): never "Sorry there".

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use jiff::Timestamp;

use regex::Captures;

use crate::responder::ChatView;
use crate::schedule::Schedule;
use crate::schedule::overrides::Override;

use super::problem::{closest, did_you_mean};

/// What rules see of the world besides the chat: the time, the override, the schedules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Env<'a> {
    pub now: Timestamp,
    pub active: Option<&'a Override>,
    pub schedules: &'a BTreeMap<String, Arc<Schedule>>,
}

/// Placeholders a template may use (for "did you mean").
const PLACEHOLDERS: [&str; 7] = [
    "customer",
    "customer|word",
    "bot",
    "user_data.Key",
    "match.NAME",
    "next_open",
    "next_open.NAME",
];

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// The customer's nickname; when unknown, the fallback word, or nothing.
    Customer(Option<String>),
    Bot,
    UserData(String),
    /// What the named group of the rule's regex captured; `at` is the byte offset of the
    /// placeholder in the text (for problems).
    Match {
        name: String,
        at: usize,
    },
    /// The next opening of the schedule with this name (checked by the validator); `None`
    /// for a bare `{next_open}` until the validator has resolved it.
    NextOpen {
        name: Option<String>,
        at: usize,
    },
}

/// A parsed reply template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Template {
    pieces: Vec<Piece>,
}

/// A problem inside a template string: byte offset into the string, message, hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TemplateError {
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

/// What a template refers to that the validator must check, with byte offsets in its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reference<'t> {
    /// `{next_open.NAME}`, or `None` for `{next_open}`.
    Schedule(Option<&'t str>),
    /// `{match.NAME}`.
    Group(&'t str),
}

impl Template {
    /// Parse `text`, collecting every problem in it.
    pub fn parse(text: &str) -> Result<Template, Vec<TemplateError>> {
        let mut pieces = Vec::new();
        let mut errors = Vec::new();
        let mut literal = String::new();
        let mut rest = text.char_indices().peekable();
        while let Some((i, c)) = rest.next() {
            match c {
                '{' if rest.peek().map(|&(_, n)| n) == Some('{') => {
                    rest.next();
                    literal.push('{');
                }
                '}' if rest.peek().map(|&(_, n)| n) == Some('}') => {
                    rest.next();
                    literal.push('}');
                }
                '}' => errors.push(TemplateError {
                    offset: i,
                    message: "`}` without an opening `{`".into(),
                    hint: Some("write `}}` for a literal `}`".into()),
                }),
                '{' => {
                    let Some(len) = text[i + 1..].find('}') else {
                        errors.push(TemplateError {
                            offset: i,
                            message: "`{` is never closed".into(),
                            hint: Some(
                                "write `{{` for a literal `{`, or close the placeholder with `}`"
                                    .into(),
                            ),
                        });
                        break;
                    };
                    let name = &text[i + 1..i + 1 + len];
                    while rest.peek().is_some_and(|&(j, _)| j <= i + 1 + len) {
                        rest.next();
                    }
                    match placeholder(name, i) {
                        Ok(piece) => {
                            if !literal.is_empty() {
                                pieces.push(Piece::Text(std::mem::take(&mut literal)));
                            }
                            pieces.push(piece);
                        }
                        Err((message, hint)) => errors.push(TemplateError {
                            offset: i,
                            message,
                            hint,
                        }),
                    }
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        if errors.is_empty() {
            Ok(Template { pieces })
        } else {
            Err(errors)
        }
    }

    /// The schedules and regex groups this template names, with their byte offsets in the
    /// text it was parsed from.
    pub fn references(&self) -> Vec<(usize, Reference<'_>)> {
        self.pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::NextOpen { name, at } => Some((*at, Reference::Schedule(name.as_deref()))),
                Piece::Match { name, at } => Some((*at, Reference::Group(name))),
                _ => None,
            })
            .collect()
    }

    /// Let every bare `{next_open}` stand for the schedule `name`.
    pub fn resolve_next_open(&mut self, schedule: &str) {
        for piece in &mut self.pieces {
            if let Piece::NextOpen {
                name: name @ None, ..
            } = piece
            {
                *name = Some(schedule.to_owned());
            }
        }
    }

    /// The text for this chat: a missing user-data key or regex group renders as "", a
    /// missing customer nickname as the placeholder's word, or not at all (see the module).
    /// `captures` are the rule's regex groups on the message it answers.
    pub fn render(
        &self,
        chat: &ChatView<'_>,
        env: &Env<'_>,
        captures: Option<&Captures<'_>>,
    ) -> String {
        let mut out = String::new();
        let mut dropped = false;
        for piece in &self.pieces {
            let after_drop = std::mem::take(&mut dropped);
            match piece {
                Piece::Text(text) if after_drop => join_after_dropped(&mut out, text),
                Piece::Text(text) => out.push_str(text),
                Piece::Customer(fallback) => {
                    match (chat.customer.filter(|c| !c.trim().is_empty()), fallback) {
                        (Some(name), _) => out.push_str(name),
                        (None, Some(word)) => out.push_str(word),
                        (None, None) => {
                            out.truncate(out.trim_end().len());
                            dropped = true;
                        }
                    }
                }
                Piece::Bot => out.push_str(chat.bot),
                Piece::NextOpen { name, .. } => {
                    let schedule = name.as_ref().and_then(|n| env.schedules.get(n));
                    let text = match schedule {
                        Some(s) => s.describe_next_open(env.now, env.active),
                        None => crate::schedule::describe(None, env.now),
                    };
                    out.push_str(&text);
                }
                Piece::Match { name, .. } => {
                    if let Some(group) = captures.and_then(|c| c.name(name)) {
                        out.push_str(group.as_str());
                    }
                }
                Piece::UserData(key) => match chat.user_data.get(key) {
                    None | Some(serde_json::Value::Null) => {}
                    Some(serde_json::Value::String(s)) => out.push_str(s),
                    Some(other) => {
                        let _ = write!(out, "{other}");
                    }
                },
            }
        }
        out
    }
}

/// Append `text` after a left-out `{customer}`: at the start of the reply, its leading
/// separators go too ("{customer}, your order…" → "your order…"); after a comma, a following
/// punctuation mark replaces the comma ("Hi, {customer}!" → "Hi!").
fn join_after_dropped(out: &mut String, text: &str) {
    let starts_with_mark = text.starts_with([',', '.', '!', '?', ';', ':']);
    if out.is_empty() {
        out.push_str(text.trim_start_matches([',', ';', ':', ' ']));
        return;
    }
    if starts_with_mark && out.ends_with(',') {
        out.pop();
    }
    if !starts_with_mark && !text.starts_with(char::is_whitespace) {
        out.push(' ');
    }
    out.push_str(text);
}

/// The piece a `{name}` at byte `at` stands for, or why it is not allowed.
fn placeholder(name: &str, at: usize) -> Result<Piece, (String, Option<String>)> {
    match name {
        "customer" => return Ok(Piece::Customer(None)),
        "bot" => return Ok(Piece::Bot),
        "next_open" => return Ok(Piece::NextOpen { name: None, at }),
        _ => {}
    }
    if let Some(word) = name.strip_prefix("customer|") {
        if word.trim().is_empty() {
            return Err((
                "`{customer|}` names no word for an unknown customer".into(),
                Some(
                    "write a word like `{customer|there}`, or `{customer}` to leave the name out"
                        .into(),
                ),
            ));
        }
        return Ok(Piece::Customer(Some(word.to_owned())));
    }
    let prefixed = [
        ("user_data.", "key", "{user_data.Subject}"),
        ("next_open.", "schedule", "{next_open.support}"),
        ("match.", "regex group", "{match.order}"),
    ];
    for (prefix, what, example) in prefixed {
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        if rest.is_empty() {
            return Err((
                format!("`{{{name}}}` names no {what}"),
                Some(format!("write it like `{example}`")),
            ));
        }
        let rest = rest.to_owned();
        return Ok(match prefix {
            "user_data." => Piece::UserData(rest),
            "next_open." => Piece::NextOpen {
                name: Some(rest),
                at,
            },
            _ => Piece::Match { name: rest, at },
        });
    }
    let hint = match closest(name, PLACEHOLDERS) {
        Some(close) => format!("did you mean `{{{close}}}`?"),
        None => format!(
            "{}; write `{{{{` for a literal `{{`",
            did_you_mean(name, PLACEHOLDERS, "known placeholders")
        ),
    };
    Err((format!("unknown placeholder `{{{name}}}`"), Some(hint)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::event::{ChatId, UserData};

    fn render(template: &str, customer: Option<&str>, user_data: &UserData) -> String {
        let id = ChatId::from("c1");
        let fired = HashSet::new();
        let chat = ChatView {
            id: &id,
            message_id: None,
            recent: &[],
            customer,
            bot: "Ava",
            user_data,
            turn: 1,
            unanswered: 0,
            fired: &fired,
            awaiting: None,
            now: jiff::Timestamp::UNIX_EPOCH,
        };
        let schedules = Default::default();
        let env = Env {
            now: chat.now,
            active: None,
            schedules: &schedules,
        };
        Template::parse(template)
            .expect("valid template")
            .render(&chat, &env, None)
    }

    #[test]
    fn renders_placeholders_and_literal_braces() {
        let mut data = UserData::new();
        data.insert("Subject".into(), "Invoice".into());
        data.insert("Count".into(), 3.into());
        let text = "Hi {customer}, I'm {bot}. {{re}} {user_data.Subject} x{user_data.Count} [{user_data.Nope}]";
        assert_eq!(
            render(text, Some("Kim"), &data),
            "Hi Kim, I'm Ava. {re} Invoice x3 []"
        );
    }

    #[test]
    fn an_unknown_customer_is_left_out_or_gets_the_word() {
        let none = UserData::new();
        let cases = [
            ("Hi {customer}!", "Hi!"),
            (
                "Sorry {customer}, I didn't get that.",
                "Sorry, I didn't get that.",
            ),
            (
                "Sorry, {customer}, I didn't get that.",
                "Sorry, I didn't get that.",
            ),
            ("Hi, {customer}!", "Hi!"),
            (
                "Are you still there {customer}? Write",
                "Are you still there? Write",
            ),
            ("{customer}, your order is ready.", "your order is ready."),
            ("Thanks {customer}", "Thanks"),
            ("Hi {customer|there}!", "Hi there!"),
            ("Dear {customer|customer},", "Dear customer,"),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template, None, &none), expected, "{template}");
            assert_eq!(render(template, Some(" "), &none), expected, "{template}");
            assert!(!render(template, None, &none).contains("there,"));
        }
        assert_eq!(
            render("Hi {customer|there}!", Some("Kim"), &none),
            "Hi Kim!"
        );
        assert_eq!(
            render("Sorry {customer}, I didn't get that.", Some("Kim"), &none),
            "Sorry Kim, I didn't get that."
        );
    }

    #[test]
    fn match_groups_render_what_the_regex_captured() {
        let template = Template::parse("Order {match.order}{match.none}, ok").unwrap();
        assert_eq!(
            template.references(),
            vec![
                (6, Reference::Group("order")),
                (19, Reference::Group("none"))
            ]
        );
        let regex = regex::Regex::new(r"#(?P<order>\d+)(?P<none>x)?").unwrap();
        let captures = regex.captures("where is #4455667").unwrap();
        let id = ChatId::from("c1");
        let fired = HashSet::new();
        let data = UserData::new();
        let chat = ChatView {
            id: &id,
            message_id: None,
            recent: &[],
            customer: None,
            bot: "Ava",
            user_data: &data,
            turn: 1,
            unanswered: 0,
            fired: &fired,
            awaiting: None,
            now: jiff::Timestamp::UNIX_EPOCH,
        };
        let schedules = Default::default();
        let env = Env {
            now: chat.now,
            active: None,
            schedules: &schedules,
        };
        assert_eq!(
            template.render(&chat, &env, Some(&captures)),
            "Order 4455667, ok"
        );
        assert_eq!(template.render(&chat, &env, None), "Order , ok");
    }

    #[test]
    fn bare_next_open_is_resolved_by_the_validator() {
        let mut template = Template::parse("Back {next_open}.").unwrap();
        assert_eq!(template.references(), vec![(5, Reference::Schedule(None))]);
        template.resolve_next_open("support");
        assert_eq!(
            template.references(),
            vec![(5, Reference::Schedule(Some("support")))]
        );
        let errors = Template::parse("{customer|} {match.} {bot|x}").unwrap_err();
        let messages: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "`{customer|}` names no word for an unknown customer",
                "`{match.}` names no regex group",
                "unknown placeholder `{bot|x}`",
            ]
        );
    }

    #[test]
    fn unknown_placeholder_is_an_error_with_offset_and_hint() {
        let errors = Template::parse("Hello {custmer}, {bot}").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].offset, 6);
        assert_eq!(errors[0].message, "unknown placeholder `{custmer}`");
        assert_eq!(
            errors[0].hint.as_deref(),
            Some("did you mean `{customer}`?")
        );
        let errors = Template::parse("{zzz}").unwrap_err();
        let hint = errors[0].hint.as_deref().unwrap();
        assert!(hint.starts_with("known placeholders: `customer`"), "{hint}");
    }

    #[test]
    fn unbalanced_braces_and_empty_placeholders_are_errors() {
        let errors = Template::parse("a } b {next_open.} c {oops").unwrap_err();
        let messages: Vec<_> = errors
            .iter()
            .map(|e| (e.offset, e.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            vec![
                (2, "`}` without an opening `{`"),
                (6, "`{next_open.}` names no schedule"),
                (21, "`{` is never closed"),
            ]
        );
        assert!(Template::parse("{user_data.}").is_err());
    }
}
