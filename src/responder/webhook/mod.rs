//! `type = "webhook"`: an external bot over HTTP, in one of two formats: `rasa` (Rasa's REST
//! channel: customer messages only) or `native` (our own versioned JSON: every trigger with
//! the chat view; `docs/webhook-native.schema.json`). See `docs/responders.md`.
//!
//! The webhook has its own HTTP client (rustls, pooled connections, no redirects), separate
//! from the GWS one. A non-2xx status, a body that is not the expected JSON or is over
//! [`MAX_BODY`] is an error, handled by the chain as the responder's `on_error` says; so is
//! the chain's `timeout`, which drops the request (a late answer is never used). The bearer
//! token lives in a [`SecretString`] and appears in no log, error or `Debug` output.

pub mod native;
pub mod rasa;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};

use super::rules::RuleSet;
use super::{ChatView, Outcome, Responder, Trigger};

/// The largest answer body read; a larger one is an error.
pub const MAX_BODY: usize = 1024 * 1024;

/// Longest `typing` pause a webhook may ask for.
pub const MAX_TYPING: Duration = Duration::from_secs(30);

/// What the webhook speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Rasa's REST channel (`POST /webhooks/rest/webhook`).
    Rasa,
    /// Our own JSON, version 1.
    Native,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rasa" => Ok(Format::Rasa),
            "native" => Ok(Format::Native),
            _ => Err(format!(
                "unknown format \"{s}\" (use \"rasa\" or \"native\")"
            )),
        }
    }
}

/// The settings of `[[responder]] type = "webhook"` (checked by `config::check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    pub format: Format,
    /// A file holding the bearer token sent as `Authorization: Bearer …`.
    pub bearer_token_file: Option<PathBuf>,
    /// `native` only: silences after which the webhook is asked with an `idle` trigger.
    pub idle: Vec<Duration>,
}

/// The running webhook responder.
pub struct Webhook {
    client: reqwest::Client,
    url: reqwest::Url,
    /// The URL without query (which may hold a token) for logs and errors.
    shown: String,
    format: Format,
    token: Option<SecretString>,
    /// For `custom.handover`: the teams of the live rule files.
    rules: Arc<ArcSwap<RuleSet>>,
    idle: Arc<[Duration]>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.shown)
            .field("format", &self.format)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// Read a bearer token file: the first line, which must not be empty.
pub fn read_token(path: &std::path::Path) -> Result<SecretString, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read bearer_token_file {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err(format!("bearer_token_file {} is empty", path.display()));
    }
    Ok(SecretString::from(token.to_owned()))
}

/// `url` without its query and fragment.
pub fn shown_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

impl Webhook {
    /// Build the responder: read the token file, set up the HTTP client. Blocking file I/O
    /// (start-up only).
    pub fn new(config: &WebhookConfig, rules: Arc<ArcSwap<RuleSet>>) -> Result<Webhook, String> {
        let url = reqwest::Url::parse(&config.url).map_err(|e| format!("url: {e}"))?;
        let token = match &config.bearer_token_file {
            Some(path) => Some(read_token(path)?),
            None => None,
        };
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("gws-botd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        let mut idle = config.idle.clone();
        idle.sort();
        idle.dedup();
        Ok(Webhook {
            client,
            shown: shown_url(&url),
            url,
            format: config.format,
            token,
            rules,
            idle: Arc::from(idle),
        })
    }

    /// POST `body` and read the JSON answer (at most [`MAX_BODY`] bytes).
    async fn post(&self, body: &serde_json::Value) -> anyhow::Result<serde_json::Value> {
        let mut request = self.client.post(self.url.clone()).json(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose_secret());
        }
        let shown = &self.shown;
        let mut response = request
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("POST {shown}: {}", e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            bail!("POST {shown}: HTTP {status}");
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            bail!("POST {shown}: the answer is over {MAX_BODY} bytes");
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| anyhow::anyhow!("POST {shown}: {}", e.without_url()))?
        {
            if bytes.len() + chunk.len() > MAX_BODY {
                bail!("POST {shown}: the answer is over {MAX_BODY} bytes");
            }
            bytes.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&bytes)
            .with_context(|| format!("POST {shown}: the answer is not JSON"))
    }
}

#[async_trait]
impl Responder for Webhook {
    fn name(&self) -> &str {
        "webhook"
    }

    async fn respond(&self, chat: &ChatView<'_>, trigger: &Trigger) -> anyhow::Result<Outcome> {
        match self.format {
            Format::Rasa => {
                let Some(body) = rasa::request(chat, trigger) else {
                    return Ok(Outcome::Pass);
                };
                let answer = self.post(&body).await?;
                rasa::answer(answer, &self.rules.load())
            }
            Format::Native => {
                let answer = self.post(&native::request(chat, trigger)).await?;
                native::answer(answer, &self.rules.load())
            }
        }
    }

    fn idle_timeouts(&self) -> Arc<[Duration]> {
        self.idle.clone()
    }
}

/// A `typing` pause such as `"1s"`, at most [`MAX_TYPING`].
pub(crate) fn typing(text: &str) -> anyhow::Result<Duration> {
    let pause =
        humantime::parse_duration(text).map_err(|e| anyhow::anyhow!("typing \"{text}\": {e}"))?;
    if pause > MAX_TYPING {
        bail!(
            "typing \"{text}\": longer than {}",
            humantime::format_duration(MAX_TYPING)
        );
    }
    Ok(pause)
}

/// The team `name` of the live rule files, for a hand-over the webhook asks for.
pub(crate) fn team(rules: &RuleSet, name: &str) -> anyhow::Result<super::Then> {
    match rules.team(name) {
        Some(team) => Ok(super::Then::Escalate(team.clone())),
        None => bail!("hand-over to team \"{name}\", which the rule files do not define"),
    }
}

#[cfg(test)]
mod tests;
