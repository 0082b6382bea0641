//! The daemon's configuration: a TOML file plus `GWS_BOTD__<SECTION>__<KEY>` environment
//! overrides, loaded with the `config` crate, then checked key by key so that *every* invalid
//! value is reported at once, each naming its key, where it came from and why it is wrong.
//!
//! The keys under `[gws]` and `[bot]` are a contract with operators and other tools: add keys
//! freely, rename none.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Environment, File, FileFormat, Value};
use secrecy::SecretString;

use crate::responder::ResponderConfig;

/// The default configuration file.
pub const DEFAULT_PATH: &str = "/etc/gws-botd/gws-botd.toml";
/// Environment variables with this prefix override file values (`GWS_BOTD__GWS__PASSWORD`).
pub const ENV_PREFIX: &str = "GWS_BOTD";
/// The default per-request timeout towards GWS.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The default number of open chats at which the bot stops taking new ones.
pub const DEFAULT_MAX_CHATS: usize = 1000;
/// Customer messages are cut to this many characters unless configured otherwise.
pub const DEFAULT_MAX_MESSAGE_CHARS: usize = 4000;
/// Default ceiling of REST requests per second per session.
pub const DEFAULT_MAX_REQUESTS_PER_SECOND: u32 = 100;
/// Default time open chats get after SIGTERM.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Where the daemon keeps its own files (decision log, override) unless `bot.state_dir` says otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/gws-botd";
/// The decision log file is rotated when it would grow past this many bytes.
pub const DEFAULT_DECISION_LOG_MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;
/// Decision log files kept, the active one included.
pub const DEFAULT_DECISION_LOG_MAX_FILES: u32 = 5;
/// REST and CometD response bodies larger than this are refused unless configured otherwise.
pub const DEFAULT_MAX_RESPONSE_SIZE: u64 = crate::gws::DEFAULT_MAX_RESPONSE_SIZE;
/// The file name looked up in `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`).
pub const CREDENTIAL_NAME: &str = "gws-password";

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub gws: Gws,
    pub bot: Bot,
    pub escalation: EscalationTexts,
    /// The responder chain, asked in this order.
    pub responders: Vec<ResponderConfig>,
    pub http: Http,
    pub decision_log: DecisionLog,
    /// Things that work but an operator should know about (a world-readable password file,
    /// plain HTTP allowed to a remote host): logged at WARN by `run`, printed by `check`.
    pub warnings: Vec<String>,
}

/// `[http]`: the metrics and health endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Http {
    /// Serve `/metrics`, `/healthz` and `/readyz` here; off when `None`.
    pub listen: Option<std::net::SocketAddr>,
}

/// `[decision_log]`: the record of what the bot decided in each chat and why, for `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionLog {
    pub enabled: bool,
    /// Rotate the file before it grows past this many bytes.
    pub max_file_size: u64,
    /// Files kept, the active one included; the oldest is deleted at rotation.
    pub max_files: u32,
    /// Record what customers wrote; off by default (only the length is recorded).
    pub include_customer_text: bool,
}

impl Default for DecisionLog {
    fn default() -> Self {
        DecisionLog {
            enabled: true,
            max_file_size: DEFAULT_DECISION_LOG_MAX_FILE_SIZE,
            max_files: DEFAULT_DECISION_LOG_MAX_FILES,
            include_customer_text: false,
        }
    }
}

/// `[gws]`: how to reach and log in to Genesys Web Services.
#[derive(Debug, Clone)]
pub struct Gws {
    /// API root including `/api/v2`; CometD is `{api_url}/notifications`.
    pub api_url: String,
    pub username: String,
    /// Never printed: `SecretString`'s `Debug` redacts it.
    pub password: SecretString,
    pub place: Option<String>,
    /// `interactions`, `chats` or `auto`.
    pub dialect: crate::gws::Choice,
    pub request_timeout: Duration,
    /// Wire names that replace the defaults of the dialect's operation table.
    pub operation_names: BTreeMap<String, String>,
    /// Total attempts for a request that fails transiently (5xx, connection errors).
    pub retry_attempts: u32,
    /// Extra CA certificate (PEM) to trust besides the system roots.
    pub tls_ca_file: Option<PathBuf>,
    /// Turns TLS verification off. Only for lab setups; logged loudly.
    pub danger_accept_invalid_certs: bool,
    /// Allows `http://` to a host that is not a loopback address (the password then crosses
    /// the network in clear text with every request); warned about at every start.
    pub allow_plain_http: bool,
    /// REST and CometD response bodies larger than this many bytes are an error for that
    /// request, so a broken or hostile server cannot exhaust the daemon's memory.
    pub max_response_size: u64,
}

/// `[bot]`: who the bot is and how much it takes on.
#[derive(Debug, Clone)]
pub struct Bot {
    pub nickname: String,
    /// Directory of rule files.
    pub rules: PathBuf,
    /// Go NotReady at this many open chats, Ready again below it.
    pub max_chats: usize,
    /// How long open chats may go on after a shutdown request before they are handed over.
    pub shutdown_grace: Duration,
    /// Skill that takes chats the bot cannot handle (responder failure, team without skill).
    pub fallback_skill: Option<String>,
    /// The daemon's own files (per-chat state, decision log, emergency override); systemd's
    /// `StateDirectory=`.
    pub state_dir: PathBuf,
    /// Customer messages longer than this many characters are cut before the rules see them.
    pub max_message_chars: usize,
    /// Ceiling of GWS REST requests per second for this session (0: no ceiling).
    pub max_requests_per_second: u32,
}

/// `[escalation]`: what the customer is told during a hand-over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationTexts {
    /// Sent when consultation starts.
    pub consulting: String,
    /// Sent just before the chat goes to the agent who joined.
    pub connected: String,
    /// Sent before a single-step transfer to a skill.
    pub queued: String,
    /// Sent when nobody could take the chat, before the bot closes it.
    pub failed: String,
    /// Sent when the bot itself failed and hands the chat on.
    pub error: String,
    /// Sent when the human agent of a conference left and the team does not `resume`,
    /// before the bot closes the chat.
    pub conference_ended: String,
}

impl Default for EscalationTexts {
    fn default() -> Self {
        EscalationTexts {
            consulting: "Please hold on a moment while I bring in a colleague.".into(),
            connected: "A colleague is with you now.".into(),
            queued:
                "All colleagues are busy right now. I've put you in the queue for the next one \
                     free."
                    .into(),
            failed: "I'm sorry, no colleague is available right now. Please try again later."
                .into(),
            error: "I'm sorry, something went wrong on my side. Let me pass you to a colleague."
                .into(),
            conference_ended: "Our colleague has left the chat. Thank you for contacting us, \
                               and goodbye!"
                .into(),
        }
    }
}

/// Every problem found in a configuration, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<String>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} problem{} in the configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Where configuration comes from: a file, environment variables and (for systemd credentials)
/// a credentials directory. Tests pass explicit values instead of touching the process.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub file: Option<PathBuf>,
    /// `None`: read the process environment.
    pub env: Option<BTreeMap<String, String>>,
    /// `$CREDENTIALS_DIRECTORY`; `None` reads the process environment.
    pub credentials_dir: Option<PathBuf>,
}

impl Config {
    /// Load `path` plus the process environment.
    pub fn load(path: &Path) -> Result<Config, Problems> {
        Config::load_from(&Sources {
            file: Some(path.to_owned()),
            ..Sources::default()
        })
    }

    /// Load from explicit sources, checking every key.
    pub fn load_from(sources: &Sources) -> Result<Config, Problems> {
        let mut builder = config::Config::builder();
        if let Some(file) = &sources.file {
            if !file.exists() {
                return Err(Problems(vec![format!(
                    "{}: no such file (give another with --config or GWS_BOTD_CONFIG)",
                    file.display()
                )]));
            }
            if let Ok(text) = std::fs::read_to_string(file)
                && let Some(problem) = syntax_problem(file, &text)
            {
                return Err(Problems(vec![problem]));
            }
            builder = builder.add_source(File::from(file.as_path()).format(FileFormat::Toml));
        }
        let env = Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .source(sources.env.as_ref().map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<config::Map<_, _>>()
            }));
        builder = builder.add_source(env);
        let root = builder
            .build()
            .and_then(|c| c.try_deserialize::<config::Map<String, Value>>())
            .map_err(|e| Problems(vec![without_snippets(&e.to_string())]))?;
        let credentials_dir = sources
            .credentials_dir
            .clone()
            .or_else(|| std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from));
        check(root, credentials_dir.as_deref())
    }
}

/// The state directory `config_path` names, read leniently for tools such as `explain` that
/// need nothing else: `GWS_BOTD__BOT__STATE_DIR`, else `[bot] state_dir` in the file, else
/// [`DEFAULT_STATE_DIR`]. An unreadable file or other invalid keys do not matter here.
pub fn state_dir_of(config_path: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os(format!("{ENV_PREFIX}__BOT__STATE_DIR")) {
        return PathBuf::from(dir);
    }
    std::fs::read_to_string(config_path)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| t.get("bot")?.get("state_dir")?.as_str().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

/// Collects problems while reading one table.
struct Reader<'a> {
    section: &'static str,
    table: config::Map<String, Value>,
    problems: &'a mut Vec<String>,
}

impl<'a> Reader<'a> {
    fn new(
        root: &mut config::Map<String, Value>,
        section: &'static str,
        problems: &'a mut Vec<String>,
    ) -> Self {
        let table = match root.remove(section) {
            None => config::Map::new(),
            Some(v) => {
                let origin = origin(&v);
                match v.into_table() {
                    Ok(t) => t,
                    Err(_) => {
                        problems.push(format!("[{section}]{origin}: must be a table"));
                        config::Map::new()
                    }
                }
            }
        };
        Reader {
            section,
            table,
            problems,
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}.{key}", self.section)
    }

    fn bad(&mut self, key: &str, value: &Value, why: impl fmt::Display) {
        let origin = origin(value);
        self.problems
            .push(format!("{}{origin}: {why}", self.key(key)));
    }

    fn string(&mut self, key: &str) -> Option<String> {
        let v = self.table.remove(key)?;
        match v.clone().into_string() {
            Ok(s) => Some(s),
            Err(_) => {
                self.bad(key, &v, "must be a text value (in quotes)");
                None
            }
        }
    }

    fn required_string(&mut self, key: &str, example: &str) -> Option<String> {
        let s = self.string(key);
        match s {
            Some(s) if !s.trim().is_empty() => Some(s),
            Some(_) => {
                self.problems.push(format!(
                    "{}: must not be empty (for example: {example})",
                    self.key(key)
                ));
                None
            }
            None if !self.table.contains_key(key) => {
                self.problems.push(format!(
                    "{}: missing (for example: {example})",
                    self.key(key)
                ));
                None
            }
            None => None,
        }
    }

    fn duration(&mut self, key: &str, default: Duration) -> Duration {
        let Some(v) = self.table.remove(key) else {
            return default;
        };
        match v
            .clone()
            .into_string()
            .map(|s| humantime::parse_duration(&s))
        {
            Ok(Ok(d)) if !d.is_zero() => d,
            _ => {
                self.bad(
                    key,
                    &v,
                    "must be a duration such as \"10s\", \"1m 30s\" or \"500ms\", above zero",
                );
                default
            }
        }
    }

    fn uint(&mut self, key: &str, default: u64, min: u64, max: u64) -> u64 {
        let Some(v) = self.table.remove(key) else {
            return default;
        };
        match v.clone().into_int() {
            Ok(n) if (min as i64..=max as i64).contains(&n) => n as u64,
            _ => {
                self.bad(
                    key,
                    &v,
                    format!("must be a whole number from {min} to {max}"),
                );
                default
            }
        }
    }

    fn boolean(&mut self, key: &str) -> bool {
        self.boolean_or(key, false)
    }

    fn boolean_or(&mut self, key: &str, default: bool) -> bool {
        let Some(v) = self.table.remove(key) else {
            return default;
        };
        match v.clone().into_bool() {
            Ok(b) => b,
            Err(_) => {
                self.bad(key, &v, "must be true or false");
                default
            }
        }
    }

    /// A size in bytes: a whole number or text such as "16MiB", "500 kB", "1GB".
    fn size(&mut self, key: &str, default: u64, min: u64) -> u64 {
        let Some(v) = self.table.remove(key) else {
            return default;
        };
        let parsed = match v.clone().into_int() {
            Ok(n) => u64::try_from(n).ok(),
            Err(_) => v.clone().into_string().ok().and_then(|s| parse_size(&s)),
        };
        match parsed {
            Some(n) if n >= min => n,
            _ => {
                self.bad(
                    key,
                    &v,
                    format!("must be a size such as \"16MiB\", \"500kB\" or a number of bytes, at least {min}"),
                );
                default
            }
        }
    }

    fn string_map(&mut self, key: &str) -> BTreeMap<String, String> {
        let Some(v) = self.table.remove(key) else {
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        match v.clone().into_table() {
            Ok(t) => {
                for (k, val) in t {
                    match val.clone().into_string() {
                        Ok(s) => {
                            out.insert(k, s);
                        }
                        Err(_) => self.bad(&format!("{key}.{k}"), &val, "must be a text value"),
                    }
                }
            }
            Err(_) => self.bad(key, &v, "must be a table of names"),
        }
        out
    }

    /// Report keys nobody read, with a suggestion when one is close.
    fn finish(self, known: &[&str]) {
        for (key, value) in self.table {
            let origin = origin(&value);
            let hint = closest(&key, known)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            self.problems
                .push(format!("{}.{key}{origin}: unknown key{hint}", self.section));
        }
    }
}

/// Parse "16MiB", "500 kB", "2G", "1024" into bytes.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// Key names whose values are secrets (matched case-insensitively anywhere in a key or table
/// name): such a value never appears in a message.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "apikey",
    "api_key",
    "private",
];

/// Whether a key or table name is named like a secret.
fn secret_like(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| name.contains(w))
}

/// A TOML syntax error in `text`, as `file:line:column: message` with the offending line, or
/// instead of it the key it belongs to when the line may hold a secret (a key or table named
/// like one, a line inside a multi-line string, a line that is no `key = value`).
fn syntax_problem(file: &Path, text: &str) -> Option<String> {
    let error = toml::from_str::<toml::Table>(text).err()?;
    let mut offset = error.span().map_or(0, |s| s.start).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or_default();
    let earlier = &text[..line_start];
    let in_multiline =
        earlier.matches("\"\"\"").count() % 2 == 1 || earlier.matches("'''").count() % 2 == 1;
    let table = earlier
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .unwrap_or_default();
    let trimmed = line.trim();
    let key = trimmed
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches(['"', '\'']).to_owned());
    let hidden = "   (the line is not shown: it may hold a secret)".to_owned();
    let shown = if in_multiline || secret_like(table) {
        hidden
    } else if trimmed.starts_with('[') {
        if secret_like(trimmed) {
            hidden
        } else {
            format!("   | {line}")
        }
    } else {
        match key {
            Some(key) if secret_like(&key) => {
                format!("   | {key} = … (the value of `{key}` is not shown)")
            }
            Some(_) => format!("   | {line}"),
            None => hidden,
        }
    };
    Some(format!(
        "{}:{line_no}:{column}: not valid TOML: {}\n{shown}",
        file.display(),
        error.message()
    ))
}

/// An error text without the source lines a parser quotes (`12 | password = …`).
fn without_snippets(text: &str) -> String {
    text.lines()
        .filter(|l| {
            let l = l.trim_start();
            let digits = l.chars().take_while(char::is_ascii_digit).count();
            !(l.starts_with('|') || (digits > 0 && l[digits..].trim_start().starts_with('|')))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `url` with any `user:password@` replaced by `***@`, for messages.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return match url.rfind('@') {
            Some(at) => format!("***@{}", &url[at + 1..]),
            None => url.to_owned(),
        };
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Whether `url` names a host that is this machine: `localhost` or a loopback address.
fn loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Check `gws.api_url`: http(s), no user info, and plain HTTP only to this machine unless
/// allowed (then the warning to give). Messages never show user info.
fn check_api_url(url: &str, allow_plain_http: bool, problems: &mut Vec<String>) -> Option<String> {
    let shown = redact_url(url);
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        problems.push(format!(
            "gws.api_url: \"{shown}\" must start with http:// or https:// and include /api/v2"
        ));
        return None;
    }
    let parsed = match reqwest::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(e) => {
            problems.push(format!("gws.api_url: \"{shown}\" is not a URL ({e})"));
            return None;
        }
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        problems.push(
            "gws.api_url: must not contain a user name or password (`user:password@`); give \
             them in gws.username and gws.password_file (the URL is not shown here)"
                .into(),
        );
        return None;
    }
    if parsed.scheme() == "http" && !loopback(&parsed) {
        let host = parsed.host_str().unwrap_or_default();
        if !allow_plain_http {
            problems.push(format!(
                "gws.api_url: plain http:// to {host} would send the agent's password in clear \
                 text with every request; use https://, or set gws.allow_plain_http = true on a \
                 network you trust"
            ));
            return None;
        }
        return Some(format!(
            "gws.allow_plain_http = true: the agent's password goes to {host} in clear text \
             (http://) with every request; use https:// unless the network is trusted"
        ));
    }
    None
}

fn origin(v: &Value) -> String {
    match v.origin() {
        Some(o) => format!(" (from {o})"),
        None => String::new(),
    }
}

/// The known key closest to `key`, if it is a plausible typo.
pub(crate) fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) || (key.len() >= 3 && k.starts_with(key)))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

const GWS_KEYS: &[&str] = &[
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
const BOT_KEYS: &[&str] = &[
    "nickname",
    "rules",
    "max_chats",
    "shutdown_grace",
    "fallback_skill",
    "state_dir",
    "max_message_chars",
    "max_requests_per_second",
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
const SECTIONS: &[&str] = &[
    "gws",
    "bot",
    "escalation",
    "responder",
    "http",
    "decision_log",
];

fn check(
    mut root: config::Map<String, Value>,
    credentials_dir: Option<&Path>,
) -> Result<Config, Problems> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();

    let mut r = Reader::new(&mut root, "gws", &mut problems);
    let api_url = r.required_string("api_url", "\"https://gws.example:8443/api/v2\"");
    let allow_plain_http = r.boolean("allow_plain_http");
    if let Some(url) = &api_url {
        warnings.extend(check_api_url(url, allow_plain_http, r.problems));
    }
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
    let password = resolve_password(
        password,
        password_file,
        credentials_dir,
        &mut problems,
        &mut warnings,
    );

    let mut r = Reader::new(&mut root, "bot", &mut problems);
    let nickname = r.required_string("nickname", "\"Ava\"");
    let rules = r.required_string("rules", "\"/etc/gws-botd/rules\"");
    let max_chats = r.uint("max_chats", DEFAULT_MAX_CHATS as u64, 1, 100_000) as usize;
    let shutdown_grace = r.duration("shutdown_grace", DEFAULT_SHUTDOWN_GRACE);
    let fallback_skill = r.string("fallback_skill").filter(|s| !s.is_empty());
    let state_dir = match r.string("state_dir") {
        Some(dir) if dir.trim().is_empty() => {
            r.problems.push(
                "bot.state_dir: must not be empty (for example: \"/var/lib/gws-botd\")".into(),
            );
            PathBuf::from(DEFAULT_STATE_DIR)
        }
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(DEFAULT_STATE_DIR),
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
    r.finish(BOT_KEYS);

    let mut r = Reader::new(&mut root, "http", &mut problems);
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
    let http = Http { listen };

    let mut r = Reader::new(&mut root, "decision_log", &mut problems);
    let defaults = DecisionLog::default();
    let decision_log = DecisionLog {
        enabled: r.boolean_or("enabled", defaults.enabled),
        max_file_size: r.size("max_file_size", defaults.max_file_size, 4096),
        max_files: r.uint("max_files", defaults.max_files.into(), 1, 1000) as u32,
        include_customer_text: r.boolean("include_customer_text"),
    };
    r.finish(DECISION_LOG_KEYS);

    let mut r = Reader::new(&mut root, "escalation", &mut problems);
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

    let responders = match root.remove("responder") {
        None => vec![ResponderConfig::default()],
        Some(v) => match v.clone().try_deserialize::<Vec<ResponderConfig>>() {
            Ok(list) if !list.is_empty() => list,
            Ok(_) => {
                problems.push(
                    "responder: the chain is empty; add [[responder]] type = \"rules\"".into(),
                );
                Vec::new()
            }
            Err(e) => {
                problems.push(format!("responder{}: {e}", origin(&v)));
                Vec::new()
            }
        },
    };

    for (key, value) in root {
        let hint = closest(&key, SECTIONS)
            .map(|k| format!(" (did you mean [{k}]?)"))
            .unwrap_or_default();
        problems.push(format!("{key}{}: unknown section{hint}", origin(&value)));
    }

    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    let (Some(api_url), Some(username), Some(password), Some(nickname), Some(rules)) =
        (api_url, username, password, nickname, rules)
    else {
        unreachable!("every missing value was reported as a problem")
    };
    Ok(Config {
        gws: Gws {
            api_url: api_url.trim_end_matches('/').to_owned(),
            username,
            password,
            place,
            dialect,
            request_timeout,
            operation_names,
            retry_attempts,
            tls_ca_file,
            danger_accept_invalid_certs,
            allow_plain_http,
            max_response_size,
        },
        bot: Bot {
            nickname,
            rules: PathBuf::from(rules),
            max_chats,
            shutdown_grace,
            fallback_skill,
            state_dir,
            max_message_chars,
            max_requests_per_second,
        },
        escalation,
        responders,
        http,
        decision_log,
        warnings,
    })
}

/// The password comes from exactly one of: `gws.password`, `gws.password_file`, or the systemd
/// credential `gws-password`.
fn resolve_password(
    password: Option<String>,
    password_file: Option<String>,
    credentials_dir: Option<&Path>,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Option<SecretString> {
    match (password, password_file) {
        (Some(_), Some(_)) => {
            problems.push("gws.password and gws.password_file are both set: keep only one".into());
            None
        }
        (Some(p), None) if p.is_empty() => {
            problems.push("gws.password: must not be empty".into());
            None
        }
        (Some(p), None) => Some(SecretString::from(p)),
        (None, Some(file)) => {
            let path = Path::new(&file);
            warnings.extend(readable_by_others(path, "gws.password_file"));
            read_password_file(path, "gws.password_file", problems)
        }
        (None, None) => {
            let credential = credentials_dir.map(|d| d.join(CREDENTIAL_NAME));
            match credential {
                Some(path) if path.exists() => {
                    read_password_file(&path, "systemd credential", problems)
                }
                _ => {
                    problems.push(
                        "gws.password: missing (set gws.password, gws.password_file, \
                         GWS_BOTD__GWS__PASSWORD, or a systemd credential named gws-password)"
                            .into(),
                    );
                    None
                }
            }
        }
    }
}

/// A warning when the file at `path` may be read by its group or by others.
fn readable_by_others(path: &Path, what: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o044 != 0).then(|| {
        format!(
            "{what}: {} is readable by {} (mode {mode:04o}); make it readable by the bot's user \
             alone (chmod 600), or use a systemd credential",
            path.display(),
            if mode & 0o004 != 0 {
                "everyone"
            } else {
                "its group"
            }
        )
    })
}

/// Read a password file; problems name the file, never its content.
fn read_password_file(path: &Path, what: &str, problems: &mut Vec<String>) -> Option<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let p = s.trim_end_matches(['\r', '\n']);
            if p.is_empty() {
                problems.push(format!("{what}: {} is empty", path.display()));
                None
            } else {
                Some(SecretString::from(p.to_owned()))
            }
        }
        Err(e) => {
            problems.push(format!("{what}: cannot read {}: {e}", path.display()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, Problems> {
        let dir = std::env::temp_dir().join(format!(
            "gws-botd-config-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gws-botd.toml");
        std::fs::write(&file, toml).unwrap();
        let result = Config::load_from(&Sources {
            file: Some(file),
            env: Some(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            credentials_dir: Some(dir.join("no-credentials")),
        });
        std::fs::remove_dir_all(&dir).ok();
        result
    }

    const GOOD: &str = r#"
        [gws]
        api_url = "http://127.0.0.1:8090/api/v2"
        username = "bot01"
        password = "s3cret"
        [bot]
        nickname = "Ava"
        rules = "rules"
    "#;

    #[test]
    fn a_minimal_file_gets_defaults() {
        let c = load(GOOD, &[]).unwrap();
        assert_eq!(c.gws.api_url, "http://127.0.0.1:8090/api/v2");
        assert_eq!(c.gws.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(c.gws.dialect, crate::gws::Choice::Auto);
        assert_eq!(c.bot.max_chats, DEFAULT_MAX_CHATS);
        assert_eq!(
            c.bot.state_dir,
            PathBuf::from(crate::store::state::DEFAULT_STATE_DIR)
        );
        assert_eq!(c.bot.max_message_chars, DEFAULT_MAX_MESSAGE_CHARS);
        assert_eq!(
            c.bot.max_requests_per_second,
            DEFAULT_MAX_REQUESTS_PER_SECOND
        );
        assert_eq!(c.responders, vec![ResponderConfig::default()]);
        assert_eq!(c.escalation, EscalationTexts::default());
        assert_eq!(c.bot.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
    }

    #[test]
    fn environment_overrides_the_file() {
        let c = load(
            GOOD,
            &[
                ("GWS_BOTD__GWS__PASSWORD", "from-env"),
                ("GWS_BOTD__BOT__MAX_CHATS", "7"),
                ("GWS_BOTD__BOT__STATE_DIR", "/srv/botd"),
                ("GWS_BOTD__BOT__MAX_REQUESTS_PER_SECOND", "0"),
            ],
        )
        .unwrap();
        assert_eq!(c.gws.password.expose_secret(), "from-env");
        assert_eq!(c.bot.max_chats, 7);
        assert_eq!(c.bot.state_dir, PathBuf::from("/srv/botd"));
        assert_eq!(c.bot.max_requests_per_second, 0);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = r#"
            [gws]
            api_url = "gws.example/api/v2"
            usrname = "bot01"
            request_timeout = "soon"
            dialect = "chat"
            [bot]
            nickname = "Ava"
            rules = "rules"
            max_chats = 0
            [bott]
        "#;
        let problems = load(bad, &[]).unwrap_err().0;
        let all = problems.join("\n");
        assert!(
            all.contains("gws.api_url: \"gws.example/api/v2\" must start with http://"),
            "{all}"
        );
        assert!(all.contains("gws.username: missing"), "{all}");
        assert!(
            all.contains("gws.usrname") && all.contains("did you mean `username`"),
            "{all}"
        );
        assert!(
            all.contains("gws.request_timeout") && all.contains("must be a duration"),
            "{all}"
        );
        assert!(
            all.contains("bot.max_chats") && all.contains("from 1 to 100000"),
            "{all}"
        );
        assert!(all.contains("gws.password: missing"), "{all}");
        assert!(
            all.contains("bott") && all.contains("did you mean [bot]"),
            "{all}"
        );
        assert!(
            all.contains(
                "gws.dialect: unknown GWS dialect `chat` (known: interactions, chats, auto)"
            ),
            "{all}"
        );
        assert_eq!(problems.len(), 8, "{all}");
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let c = load(GOOD, &[]).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn password_file_and_credentials_directory() {
        let dir = std::env::temp_dir().join(format!("gws-botd-cred-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(CREDENTIAL_NAME), "from-credential\n").unwrap();
        let mut problems = Vec::new();
        let p = resolve_password(None, None, Some(&dir), &mut problems, &mut Vec::new()).unwrap();
        assert_eq!(p.expose_secret(), "from-credential");
        let file = dir.join(CREDENTIAL_NAME).display().to_string();
        let p = resolve_password(None, Some(file), None, &mut problems, &mut Vec::new()).unwrap();
        assert_eq!(p.expose_secret(), "from-credential");
        assert!(problems.is_empty());
        resolve_password(
            Some("a".into()),
            Some("b".into()),
            None,
            &mut problems,
            &mut Vec::new(),
        );
        assert_eq!(problems.len(), 1);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn observability_keys_are_checked() {
        let c = load(GOOD, &[]).unwrap();
        assert_eq!(c.http.listen, None);
        assert_eq!(c.bot.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(c.decision_log, DecisionLog::default());
        let good = format!(
            "{GOOD}\n[http]\nlisten = \"127.0.0.1:9464\"\n[decision_log]\nmax_file_size = \"1MiB\"\n\
             max_files = 3\ninclude_customer_text = true\nenabled = false\n"
        )
        .replace("rules = \"rules\"", "rules = \"rules\"\nstate_dir = \"/tmp/x\"");
        let c = load(&good, &[]).unwrap();
        assert_eq!(c.http.listen, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(c.bot.state_dir, PathBuf::from("/tmp/x"));
        assert_eq!(
            c.decision_log,
            DecisionLog {
                enabled: false,
                max_file_size: 1 << 20,
                max_files: 3,
                include_customer_text: true
            }
        );
        let bad = format!(
            "{GOOD}\n[http]\nlisten = \"localhost\"\n[decision_log]\nmax_file_size = \"huge\"\nmax_files = 0\nkeep = 1\n"
        );
        let all = load(&bad, &[]).unwrap_err().0.join("\n");
        assert!(
            all.contains("http.listen: \"localhost\" is not an address"),
            "{all}"
        );
        assert!(all.contains("decision_log.max_file_size"), "{all}");
        assert!(all.contains("decision_log.max_files"), "{all}");
        assert!(all.contains("decision_log.keep: unknown key"), "{all}");
    }

    /// A syntax error on a line holding a secret names the key, never the value; elsewhere
    /// the line is shown.
    #[test]
    fn syntax_errors_never_show_a_secret() {
        for (toml, key) in [
            ("[gws]\npassword = \"Pw-77ab\n", Some("password")),
            ("[gws]\npassword = Pw-77ab\n", Some("password")),
            ("[gws]\napi_token = \"Pw-77ab\\q\"\n", Some("api_token")),
            ("[gws.secrets]\nfoo = Pw-77ab\n", None),
            ("[gws]\npassword = \"\"\"\nPw-77ab\n\"\"\" x\n", None),
            ("[gws]\nPw-77ab\n", None),
        ] {
            let problems = load(toml, &[]).unwrap_err().0.join("\n");
            assert!(!problems.contains("Pw-77ab"), "{toml:?}: {problems}");
            assert!(problems.contains("not valid TOML"), "{problems}");
            if let Some(key) = key {
                assert!(
                    problems.contains(&format!("value of `{key}` is not shown")),
                    "{problems}"
                );
            } else {
                assert!(problems.contains("not shown"), "{problems}");
            }
        }
        let problems = load("[bot]\nnickname = Ava\n", &[])
            .unwrap_err()
            .0
            .join("\n");
        assert!(problems.contains(":2:12: not valid TOML"), "{problems}");
        assert!(problems.contains("| nickname = Ava"), "{problems}");
    }

    #[test]
    fn api_urls_with_user_info_are_refused_without_echo() {
        let text = GOOD.replace("http://127.0.0.1:8090", "https://bot01:Pw-77ab@gws.example");
        let problems = load(&text, &[]).unwrap_err().0.join("\n");
        assert!(
            problems.contains("must not contain a user name or password"),
            "{problems}"
        );
        assert!(!problems.contains("Pw-77ab"), "{problems}");
        let text = GOOD.replace("http://127.0.0.1:8090", "bot01:Pw-77ab@gws.example");
        let problems = load(&text, &[]).unwrap_err().0.join("\n");
        assert!(!problems.contains("Pw-77ab"), "{problems}");
        assert_eq!(redact_url("https://u:p@h:1/x@y"), "https://***@h:1/x@y");
    }

    #[test]
    fn plain_http_goes_to_this_machine_only_unless_allowed() {
        for local in [
            "http://127.0.0.1:8090",
            "http://localhost:8090",
            "http://[::1]:8090",
        ] {
            let c = load(&GOOD.replace("http://127.0.0.1:8090", local), &[]).unwrap();
            assert!(c.warnings.is_empty(), "{local}: {:?}", c.warnings);
        }
        let remote = GOOD.replace("http://127.0.0.1:8090", "http://gws.example:8080");
        let problems = load(&remote, &[]).unwrap_err().0.join("\n");
        assert!(
            problems.contains("plain http:// to gws.example"),
            "{problems}"
        );
        assert!(problems.contains("gws.allow_plain_http"), "{problems}");
        let allowed = remote.replace("username", "allow_plain_http = true\nusername");
        let c = load(&allowed, &[]).unwrap();
        assert!(c.gws.allow_plain_http);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("clear text"), "{:?}", c.warnings);
        let https = GOOD.replace("http://127.0.0.1:8090", "https://gws.example");
        assert!(load(&https, &[]).unwrap().warnings.is_empty());
    }

    #[test]
    fn a_password_file_readable_by_others_is_warned_about() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("gws-botd-pwmode-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, "Pw-77ab\n").unwrap();
        let text = GOOD.replace(
            "password = \"s3cret\"",
            &format!("password_file = \"{}\"", file.display()),
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = load(&text, &[]).unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("(mode 0644)"), "{:?}", c.warnings);
        assert!(!c.warnings[0].contains("Pw-77ab"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(load(&text, &[]).unwrap().warnings[0].contains("its group (mode 0640)"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&text, &[]).unwrap().warnings.is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_response_size_limit_takes_human_sizes() {
        assert_eq!(load(GOOD, &[]).unwrap().gws.max_response_size, 16 << 20);
        let text = GOOD.replace("username", "max_response_size = \"4MiB\"\nusername");
        assert_eq!(load(&text, &[]).unwrap().gws.max_response_size, 4 << 20);
        let text = GOOD.replace("username", "max_response_size = \"1kB\"\nusername");
        let problems = load(&text, &[]).unwrap_err().0.join("\n");
        assert!(problems.contains("gws.max_response_size"), "{problems}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Some(16 << 20));
        assert_eq!(parse_size("500 kB"), Some(500_000));
        assert_eq!(parse_size("42"), Some(42));
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size("MiB"), None);
    }

    #[test]
    fn typo_suggestions() {
        assert_eq!(closest("nickame", BOT_KEYS), Some("nickname"));
        assert_eq!(closest("zzz", BOT_KEYS), None);
    }
}
