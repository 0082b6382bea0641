//! Checking the whole configuration: one function per section, each reading its keys through a
//! [`Reader`] so that every problem is collected before anything fails.

use std::path::{Path, PathBuf};

use config::Value;

use super::gws::{check_api_url, resolve_password};
use super::reader::{Reader, closest, origin};
use super::*;

pub(super) const GWS_KEYS: &[&str] = &[
    "api_url",
    "username",
    "password",
    "password_file",
    "place",
    "dialect",
    "request_timeout",
    "operation_names",
    "retry_attempts",
    "tls_ca_file",
    "danger_accept_invalid_certs",
    "allow_plain_http",
    "max_response_size",
];
pub(super) const BOT_KEYS: &[&str] = &[
    "nickname",
    "rules",
    "max_chats",
    "shutdown_grace",
    "fallback_skill",
    "state_dir",
    "max_message_chars",
    "max_requests_per_second",
    "watch_rules",
];
const ESCALATION_KEYS: &[&str] = &[
    "consulting",
    "connected",
    "queued",
    "failed",
    "error",
    "conference_ended",
];
const HTTP_KEYS: &[&str] = &["listen"];
const DECISION_LOG_KEYS: &[&str] = &[
    "enabled",
    "max_file_size",
    "max_files",
    "include_customer_text",
];
const SHADOW_KEYS: &[&str] = &["rules", "watch"];
const SECTIONS: &[&str] = &[
    "gws",
    "bot",
    "escalation",
    "responder",
    "http",
    "decision_log",
    "shadow",
];

/// Check every key of `root`; `credentials_dir` is `$CREDENTIALS_DIRECTORY`, `instance` the
/// template instance whose state directory is the default.
pub(super) fn check(
    mut root: config::Map<String, Value>,
    credentials_dir: Option<&Path>,
    instance: Option<&str>,
) -> Result<Config, Problems> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let gws = gws(&mut root, credentials_dir, &mut problems, &mut warnings);
    let bot = bot(&mut root, instance, &mut problems);
    let http = http(&mut root, &mut problems);
    let decision_log = decision_log(&mut root, &mut problems);
    let escalation = escalation(&mut root, &mut problems);
    let responders = responders(&mut root, &mut problems, &mut warnings);
    let shadow = shadow(&mut root, bot.as_ref(), &mut problems);
    for (key, value) in root {
        let hint = closest(&key, SECTIONS)
            .map(|k| format!(" (did you mean [{k}]?)"))
            .unwrap_or_default();
        problems.push(format!("{key}{}: unknown section{hint}", origin(&value)));
    }
    match (gws, bot) {
        (Some(gws), Some(bot)) if problems.is_empty() => Ok(Config {
            gws,
            bot,
            escalation,
            responders,
            http,
            decision_log,
            shadow,
            warnings,
        }),
        _ => Err(Problems(problems)),
    }
}

/// `[gws]`; `None` when a required key is missing or invalid (reported).
fn gws(
    root: &mut config::Map<String, Value>,
    credentials_dir: Option<&Path>,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Option<Gws> {
    let mut r = Reader::new(root, "gws", problems);
    let api_url = r.required_string("api_url", "\"https://gws.example:8443/api/v2\"");
    let allow_plain_http = r.boolean("allow_plain_http");
    let api_url = api_url.filter(|url| {
        let (ok, warning) = check_api_url(url, allow_plain_http, r.problems);
        warnings.extend(warning);
        ok
    });
    let username = r.required_string("username", "\"bot01\"");
    let password = r.string("password");
    let password_file = r.string("password_file");
    let place = r.string("place").filter(|p| !p.is_empty());
    let dialect = match r.string("dialect").map(|d| d.parse::<crate::gws::Choice>()) {
        None => crate::gws::Choice::Auto,
        Some(Ok(choice)) => choice,
        Some(Err(e)) => {
            r.problems.push(format!(
                "gws.dialect: {e}; use \"auto\" unless the server must not be probed"
            ));
            crate::gws::Choice::Auto
        }
    };
    let request_timeout = r.duration("request_timeout", DEFAULT_REQUEST_TIMEOUT);
    let operation_names = r.string_map("operation_names");
    if let Err(e) = crate::gws::OperationNames::default().apply_overrides(&operation_names) {
        r.problems.push(format!("gws.operation_names: {e}"));
    }
    let retry_attempts = r.uint("retry_attempts", 3, 1, 10) as u32;
    let tls_ca_file = r.string("tls_ca_file").map(PathBuf::from);
    let danger_accept_invalid_certs = r.boolean("danger_accept_invalid_certs");
    let max_response_size = r.size("max_response_size", DEFAULT_MAX_RESPONSE_SIZE, 64 * 1024);
    r.finish(GWS_KEYS);
    let password = resolve_password(password, password_file, credentials_dir, problems, warnings);
    Some(Gws {
        api_url: api_url?.trim_end_matches('/').to_owned(),
        username: username?,
        password: password?,
        place,
        dialect,
        request_timeout,
        operation_names,
        retry_attempts,
        tls_ca_file,
        danger_accept_invalid_certs,
        allow_plain_http,
        max_response_size,
    })
}

/// `[bot]`; `None` when a required key is missing or invalid (reported).
fn bot(
    root: &mut config::Map<String, Value>,
    instance: Option<&str>,
    problems: &mut Vec<String>,
) -> Option<Bot> {
    let mut r = Reader::new(root, "bot", problems);
    let nickname = r.required_string("nickname", "\"Ava\"");
    let rules = r.required_string("rules", "\"/etc/gws-botd/rules\"");
    let max_chats = r.uint("max_chats", DEFAULT_MAX_CHATS as u64, 1, 100_000) as usize;
    let shutdown_grace = r.duration("shutdown_grace", DEFAULT_SHUTDOWN_GRACE);
    let fallback_skill = r.string("fallback_skill").filter(|s| !s.is_empty());
    let default_state_dir = default_state_dir(instance);
    let state_dir = match r.string("state_dir") {
        Some(dir) if dir.trim().is_empty() => {
            r.problems.push(
                "bot.state_dir: must not be empty (for example: \"/var/lib/gws-botd\")".into(),
            );
            default_state_dir
        }
        Some(dir) => PathBuf::from(dir),
        None => default_state_dir,
    };
    let max_message_chars = r.uint(
        "max_message_chars",
        DEFAULT_MAX_MESSAGE_CHARS as u64,
        1,
        1_000_000,
    ) as usize;
    let max_requests_per_second = r.uint(
        "max_requests_per_second",
        u64::from(DEFAULT_MAX_REQUESTS_PER_SECOND),
        0,
        100_000,
    ) as u32;
    let watch_rules = r.boolean_or("watch_rules", true);
    r.finish(BOT_KEYS);
    Some(Bot {
        nickname: nickname?,
        rules: PathBuf::from(rules?),
        max_chats,
        shutdown_grace,
        fallback_skill,
        state_dir,
        max_message_chars,
        max_requests_per_second,
        watch_rules,
    })
}

/// `[http]`.
fn http(root: &mut config::Map<String, Value>, problems: &mut Vec<String>) -> Http {
    let mut r = Reader::new(root, "http", problems);
    let listen = match r.string("listen") {
        None => None,
        Some(s) if s.trim().is_empty() => None,
        Some(s) => match s.trim().parse::<std::net::SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                r.problems.push(format!(
                    "http.listen: \"{s}\" is not an address and port (for example: \"127.0.0.1:9464\")"
                ));
                None
            }
        },
    };
    r.finish(HTTP_KEYS);
    Http { listen }
}

/// `[decision_log]`.
fn decision_log(root: &mut config::Map<String, Value>, problems: &mut Vec<String>) -> DecisionLog {
    let mut r = Reader::new(root, "decision_log", problems);
    let defaults = DecisionLog::default();
    let decision_log = DecisionLog {
        enabled: r.boolean_or("enabled", defaults.enabled),
        max_file_size: r.size("max_file_size", defaults.max_file_size, 4096),
        max_files: r.uint("max_files", defaults.max_files.into(), 1, 1000) as u32,
        include_customer_text: r.boolean("include_customer_text"),
    };
    r.finish(DECISION_LOG_KEYS);
    decision_log
}

/// `[shadow]`; `None` without the section. Its directory must be given and must not be the
/// live one (whose rules would then only agree with themselves).
fn shadow(
    root: &mut config::Map<String, Value>,
    bot: Option<&Bot>,
    problems: &mut Vec<String>,
) -> Option<Shadow> {
    if !root.contains_key("shadow") {
        return None;
    }
    let mut r = Reader::new(root, "shadow", problems);
    let rules = r.required_string("rules", "\"/etc/gws-botd/rules-next\"");
    let watch = r.boolean_or("watch", true);
    r.finish(SHADOW_KEYS);
    let rules = PathBuf::from(rules?);
    if bot.is_some_and(|bot| same_dir(&bot.rules, &rules)) {
        problems.push(format!(
            "shadow.rules: {} is the live rules directory (bot.rules); point it at the copy \
             with the changes you want to try",
            rules.display()
        ));
    }
    Some(Shadow { rules, watch })
}

/// Whether two directory names are the same directory (as written, or once resolved).
fn same_dir(a: &Path, b: &Path) -> bool {
    let trimmed = |p: &Path| p.components().collect::<PathBuf>();
    trimmed(a) == trimmed(b)
        || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// `[escalation]`.
fn escalation(
    root: &mut config::Map<String, Value>,
    problems: &mut Vec<String>,
) -> EscalationTexts {
    let mut r = Reader::new(root, "escalation", problems);
    let defaults = EscalationTexts::default();
    let mut text = |key: &str, default: String| match r.string(key) {
        Some(s) if s.trim().is_empty() => {
            r.problems
                .push(format!("escalation.{key}: must not be empty"));
            default
        }
        Some(s) => s,
        None => default,
    };
    let escalation = EscalationTexts {
        consulting: text("consulting", defaults.consulting),
        connected: text("connected", defaults.connected),
        queued: text("queued", defaults.queued),
        failed: text("failed", defaults.failed),
        error: text("error", defaults.error),
        conference_ended: text("conference_ended", defaults.conference_ended),
    };
    r.finish(ESCALATION_KEYS);
    escalation
}

/// `[[responder]]`: each entry on its own, so a problem names the entry (see
/// `responders.rs`); without any, the chain is just `rules`.
fn responders(
    root: &mut config::Map<String, Value>,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Vec<ResponderConfig> {
    match root.remove("responder") {
        None => vec![ResponderConfig::default()],
        Some(v) => super::responders::read(v, problems, warnings),
    }
}

/// Every key the configuration knows, as `section.key` (`responder` entries aside): for tests
/// that keep the example configuration complete.
pub fn known_keys() -> Vec<String> {
    [
        ("gws", GWS_KEYS),
        ("bot", BOT_KEYS),
        ("escalation", ESCALATION_KEYS),
        ("http", HTTP_KEYS),
        ("decision_log", DECISION_LOG_KEYS),
        ("shadow", SHADOW_KEYS),
    ]
    .iter()
    .flat_map(|(section, keys)| keys.iter().map(move |k| format!("{section}.{k}")))
    .collect()
}

/// The state directory when `bot.state_dir` is not set: per instance under the default.
pub(super) fn default_state_dir(instance: Option<&str>) -> PathBuf {
    match instance {
        Some(name) => Path::new(DEFAULT_STATE_DIR).join(name),
        None => PathBuf::from(DEFAULT_STATE_DIR),
    }
}
