//! Reply templates: text with `{customer}`, `{bot}`, `{user_data.Key}` and
//! `{next_open.NAME}` placeholders.
//!
//! Templates are parsed once at load into literal and placeholder pieces; rendering only
//! concatenates. `{{` and `}}` are literal braces. Unknown placeholders are load errors, so
//! a typo never reaches a customer as `{custmer}`.

use std::fmt::Write as _;

use crate::responder::ChatView;
use crate::schedule;

use super::problem::{closest, did_you_mean};
use super::rule::Env;

/// What a customer is called when the chat does not tell us their nickname.
pub(super) const DEFAULT_CUSTOMER: &str = "there";

/// Placeholders a template may use (for "did you mean").
const PLACEHOLDERS: [&str; 4] = ["customer", "bot", "user_data.Key", "next_open.NAME"];

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Customer,
    Bot,
    UserData(String),
    /// The next opening of the schedule with this name (checked by the validator).
    NextOpen(String),
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
                    match placeholder(name) {
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

    /// The schedules named by `{next_open.NAME}`, with their byte offsets in the text.
    pub fn schedules<'t>(&'t self, text: &str) -> Vec<(usize, &'t str)> {
        let mut found = Vec::new();
        for piece in &self.pieces {
            if let Piece::NextOpen(name) = piece {
                let placeholder = format!("{{next_open.{name}}}");
                let offset = text.find(&placeholder).unwrap_or(0);
                found.push((offset, name.as_str()));
            }
        }
        found
    }

    /// The text for this chat: a missing user-data key renders as "", a missing customer
    /// nickname as [`DEFAULT_CUSTOMER`].
    pub fn render(&self, chat: &ChatView<'_>, env: &Env<'_>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Customer => out.push_str(
                    chat.customer
                        .filter(|c| !c.trim().is_empty())
                        .unwrap_or(DEFAULT_CUSTOMER),
                ),
                Piece::Bot => out.push_str(chat.bot),
                Piece::NextOpen(name) => {
                    let opening = env
                        .schedules
                        .get(name)
                        .and_then(|s| s.next_open(env.now, env.active));
                    out.push_str(&schedule::describe(opening.as_ref(), env.now));
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

/// The piece a `{name}` stands for, or why it is not allowed.
fn placeholder(name: &str) -> Result<Piece, (String, Option<String>)> {
    match name {
        "customer" => Ok(Piece::Customer),
        "bot" => Ok(Piece::Bot),
        _ => {
            if let Some(key) = name.strip_prefix("user_data.") {
                if key.is_empty() {
                    return Err((
                        "`{user_data.}` names no key".into(),
                        Some("write it like `{user_data.Subject}`".into()),
                    ));
                }
                return Ok(Piece::UserData(key.to_owned()));
            }
            if let Some(schedule) = name.strip_prefix("next_open.") {
                if schedule.is_empty() {
                    return Err((
                        "`{next_open.}` names no schedule".into(),
                        Some("write it like `{next_open.support}`".into()),
                    ));
                }
                return Ok(Piece::NextOpen(schedule.to_owned()));
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
    }
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
            customer,
            bot: "Ava",
            user_data,
            turn: 1,
            unanswered: 0,
            fired: &fired,
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
            .render(&chat, &env)
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
    fn missing_customer_is_there() {
        assert_eq!(
            render("Hi {customer}!", None, &UserData::new()),
            "Hi there!"
        );
        assert_eq!(
            render("Hi {customer}!", Some(" "), &UserData::new()),
            "Hi there!"
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
