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

mod check;
mod files;
mod gws;
mod reader;
mod responders;
mod syntax;
mod target;
#[cfg(test)]
mod tests;

pub use gws::redact_url;
pub(crate) use reader::closest;
pub use target::{INSTANCE_DIR, Target};

use check::check;
pub use check::known_keys;
use syntax::{syntax_problem, without_snippets};

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
pub use crate::store::decision_log::{
    DEFAULT_MAX_FILE_SIZE as DEFAULT_DECISION_LOG_MAX_FILE_SIZE,
    DEFAULT_MAX_FILES as DEFAULT_DECISION_LOG_MAX_FILES,
};
pub use crate::store::state::DEFAULT_STATE_DIR;
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
    /// `[shadow]`: a second rules directory tried on live traffic and never sent; `None`
    /// without the section.
    pub shadow: Option<Shadow>,
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

/// `[shadow]`: rules a supervisor tries on live traffic (see `docs/shadow.md`). They are
/// evaluated after the live chain on every trigger, recorded in the decision log and never
/// sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    /// Directory of the shadow rule files (validated like `bot.rules`).
    pub rules: PathBuf,
    /// Reload the shadow rules when one of their files is saved (besides SIGHUP); on by
    /// default.
    pub watch: bool,
}

/// `[decision_log]`: the record of what the bot decided in each chat and why, for `explain`.
pub use crate::store::decision_log::Settings as DecisionLog;

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
    /// Reload the rules when a rule file is saved (besides SIGHUP); on by default.
    pub watch_rules: bool,
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
    /// The template instance (`gws-botd@NAME`): its state directory is the default.
    pub instance: Option<String>,
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
        check(
            root,
            credentials_dir.as_deref(),
            sources.instance.as_deref(),
        )
    }
}

/// The state directory `config_path` names, read leniently for tools such as `explain` that
/// need nothing else: `GWS_BOTD__BOT__STATE_DIR`, else `[bot] state_dir` in the file, else
/// [`DEFAULT_STATE_DIR`]. An unreadable file or other invalid keys do not matter here.
pub fn state_dir_of(config_path: &Path) -> PathBuf {
    Target::file(config_path).state_dir()
}
