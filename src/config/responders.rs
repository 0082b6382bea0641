//! `[[responder]]` entries: the common settings (`type`, `name`, `timeout`, `on_error`) and
//! each type's own, every problem named by the entry (`responder[2].url`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use config::Value;

use super::reader::{closest, origin};
use crate::responder::registry::{DEFAULT_TIMEOUT, TYPES};
use crate::responder::webhook::{Format, WebhookConfig, read_token};
use crate::responder::{OnError, ResponderConfig, ResponderKind};

const COMMON_KEYS: &[&str] = &["type", "name", "timeout", "on_error"];
const WEBHOOK_KEYS: &[&str] = &[
    "type",
    "name",
    "timeout",
    "on_error",
    "url",
    "format",
    "bearer_token_file",
    "allow_plain_http",
    "idle",
];
/// The longest `timeout` accepted: a customer waits this long for the bot.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// One entry's table while it is read; problems name `at.key`.
struct Entry<'p> {
    at: String,
    table: config::Map<String, Value>,
    problems: &'p mut Vec<String>,
}

impl Entry<'_> {
    fn bad(&mut self, key: &str, value: &Value, why: impl std::fmt::Display) {
        let origin = origin(value);
        self.problems
            .push(format!("{}.{key}{origin}: {why}", self.at));
    }

    fn string(&mut self, key: &str) -> Option<String> {
        let v = self.table.remove(key)?;
        match v.clone().into_string() {
            Ok(s) if !s.trim().is_empty() => Some(s),
            Ok(_) => {
                self.bad(key, &v, "must not be empty");
                None
            }
            Err(_) => {
                self.bad(key, &v, "must be a text value (in quotes)");
                None
            }
        }
    }

    fn boolean(&mut self, key: &str) -> bool {
        let Some(v) = self.table.remove(key) else {
            return false;
        };
        v.clone().into_bool().unwrap_or_else(|_| {
            self.bad(key, &v, "must be true or false");
            false
        })
    }

    fn duration_text(&mut self, key: &str, text: &str, value: &Value) -> Option<Duration> {
        match humantime::parse_duration(text) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.bad(key, value, "must be longer than 0");
                None
            }
            Err(e) => {
                self.bad(
                    key,
                    value,
                    format!("\"{text}\" is not a duration ({e}; e.g. \"2s\")"),
                );
                None
            }
        }
    }

    /// Keys left over once the type's own are read.
    fn finish(&mut self, known: &[&str]) {
        for (key, value) in std::mem::take(&mut self.table) {
            let hint = closest(&key, known)
                .map(|k| format!(" (did you mean {k}?)"))
                .unwrap_or_default();
            self.bad(&key, &value, format!("unknown key{hint}"));
        }
    }
}

/// Read the entries of `[[responder]]`; `warnings` gets what works but an operator should know.
pub(super) fn read(
    value: Value,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Vec<ResponderConfig> {
    let entries = match value.clone().into_array() {
        Ok(entries) => entries,
        Err(_) => {
            problems.push(format!(
                "responder{}: must be a list of [[responder]] tables",
                origin(&value)
            ));
            return Vec::new();
        }
    };
    if entries.is_empty() {
        problems.push("responder: the chain is empty; add [[responder]] type = \"rules\"".into());
    }
    let mut names = HashSet::new();
    let mut list = Vec::new();
    for (n, entry) in entries.into_iter().enumerate() {
        let at = format!("responder[{}]", n + 1);
        let shown = format!("{at}{}", origin(&entry));
        let Ok(table) = entry.into_table() else {
            problems.push(format!("{shown}: must be a table"));
            continue;
        };
        let mut e = Entry {
            at,
            table,
            problems,
        };
        let Some(config) = one(&mut e, &shown, warnings) else {
            continue;
        };
        if !names.insert(config.name.clone()) {
            problems.push(format!(
                "{shown}: a second responder named \"{}\"; give each a distinct `name`",
                config.name
            ));
        }
        list.push(config);
    }
    list
}

/// One entry; `None` when it has problems (reported).
fn one(e: &mut Entry<'_>, shown: &str, warnings: &mut Vec<String>) -> Option<ResponderConfig> {
    let before = e.problems.len();
    let kind = e.string("type");
    let name = e.string("name");
    if let Some(name) = &name {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            e.problems.push(format!(
                "{shown}.name: \"{name}\" may hold only letters, digits, _ and -"
            ));
        }
    }
    let timeout = match e.table.remove("timeout") {
        None => DEFAULT_TIMEOUT,
        Some(v) => match v.clone().into_string() {
            Ok(text) => e
                .duration_text("timeout", &text, &v)
                .unwrap_or(DEFAULT_TIMEOUT),
            Err(_) => {
                e.bad("timeout", &v, "must be a duration text such as \"2s\"");
                DEFAULT_TIMEOUT
            }
        },
    };
    if timeout > MAX_TIMEOUT {
        e.problems.push(format!(
            "{shown}.timeout: longer than {} keeps the customer waiting",
            humantime::format_duration(MAX_TIMEOUT)
        ));
    }
    let on_error = match e.string("on_error").as_deref() {
        None | Some("pass") => OnError::Pass,
        Some("hand_over") => OnError::HandOver,
        Some(other) => {
            e.problems.push(format!(
                "{shown}.on_error: \"{other}\" is not \"pass\" or \"hand_over\""
            ));
            OnError::Pass
        }
    };
    let kind = match kind.as_deref() {
        None => {
            e.problems.push(format!(
                "{shown}.type: missing (one of: {})",
                TYPES.join(", ")
            ));
            return None;
        }
        Some("rules") => {
            let table = std::mem::take(&mut e.table);
            rules_keys(e, table);
            ResponderKind::Rules
        }
        Some("webhook") => ResponderKind::Webhook(webhook(e, shown, warnings)?),
        Some(other) => {
            let hint = closest(other, TYPES)
                .map(|k| format!(" (did you mean \"{k}\"?)"))
                .unwrap_or_default();
            e.problems.push(format!(
                "{shown}.type: unknown responder type \"{other}\"{hint}; known: {}",
                TYPES.join(", ")
            ));
            return None;
        }
    };
    (e.problems.len() == before).then(|| ResponderConfig {
        name: name.unwrap_or_else(|| kind.type_name().to_owned()),
        timeout,
        on_error,
        kind,
    })
}

/// A `rules` responder reads `bot.rules`: nothing beyond the common keys.
fn rules_keys(e: &mut Entry<'_>, table: config::Map<String, Value>) {
    for (key, value) in table {
        e.bad(
            &key,
            &value,
            format!(
                "unknown key (a `rules` responder reads bot.rules and takes only {})",
                COMMON_KEYS.join(", ")
            ),
        );
    }
}

/// The settings of a `webhook` responder.
fn webhook(e: &mut Entry<'_>, shown: &str, warnings: &mut Vec<String>) -> Option<WebhookConfig> {
    let url = e.string("url");
    let allow_plain_http = e.boolean("allow_plain_http");
    let format = match e.string("format") {
        None => {
            e.problems.push(format!(
                "{shown}.format: missing: \"rasa\" (Rasa's REST channel) or \"native\""
            ));
            None
        }
        Some(text) => text
            .parse::<Format>()
            .map_err(|why| e.problems.push(format!("{shown}.format: {why}")))
            .ok(),
    };
    let bearer_token_file = e.string("bearer_token_file").map(PathBuf::from);
    if let Some(path) = &bearer_token_file {
        if let Err(why) = read_token(path) {
            e.problems.push(format!("{shown}.bearer_token_file: {why}"));
        }
    }
    let idle = idle(e, format);
    e.finish(WEBHOOK_KEYS);
    let Some(url) = url else {
        e.problems.push(format!(
            "{shown}.url: missing (for example: \"http://127.0.0.1:5005/webhooks/rest/webhook\")"
        ));
        return None;
    };
    let has_token = bearer_token_file.is_some();
    let warning = check_url(&url, allow_plain_http, has_token, shown, e.problems)?;
    warnings.extend(warning);
    Some(WebhookConfig {
        url,
        format: format?,
        bearer_token_file,
        idle,
    })
}

/// `idle`: silences after which a `native` webhook is asked (the Rasa channel has no such
/// trigger).
fn idle(e: &mut Entry<'_>, format: Option<Format>) -> Vec<Duration> {
    let Some(v) = e.table.remove("idle") else {
        return Vec::new();
    };
    if format == Some(Format::Rasa) {
        e.bad(
            "idle",
            &v,
            "only a \"native\" webhook is asked about silences",
        );
        return Vec::new();
    }
    let Ok(items) = v.clone().into_array() else {
        e.bad("idle", &v, "must be a list of durations such as [\"2m\"]");
        return Vec::new();
    };
    let mut all = Vec::new();
    for item in items {
        match item.clone().into_string() {
            Ok(text) => all.extend(e.duration_text("idle", &text, &item)),
            Err(_) => e.bad("idle", &item, "must be a duration text such as \"2m\""),
        }
    }
    all
}

/// The webhook URL: http(s), no user info, and plain http only to this machine unless
/// `allow_plain_http` (a warning then). `None` when refused (reported).
fn check_url(
    url: &str,
    allow_plain_http: bool,
    has_token: bool,
    shown: &str,
    problems: &mut Vec<String>,
) -> Option<Option<String>> {
    let shown_url = super::redact_url(url);
    let parsed = match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => parsed,
        Ok(_) | Err(_) => {
            problems.push(format!(
                "{shown}.url: \"{shown_url}\" is not an http:// or https:// URL"
            ));
            return None;
        }
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        problems.push(format!(
            "{shown}.url: must not contain a user name or password; use bearer_token_file"
        ));
        return None;
    }
    if parsed.scheme() == "http" && !super::gws::loopback(&parsed) {
        let host = parsed.host_str().unwrap_or_default();
        let what = if has_token {
            "the bearer token and the customers' messages"
        } else {
            "the customers' messages"
        };
        if !allow_plain_http {
            problems.push(format!(
                "{shown}.url: plain http:// to {host} would send {what} in clear text; use \
                 https://, or set allow_plain_http = true on a network you trust"
            ));
            return None;
        }
        return Some(Some(format!(
            "{shown}: allow_plain_http = true: {what} go to {host} in clear text (http://)"
        )));
    }
    Some(None)
}

#[cfg(test)]
mod tests;
