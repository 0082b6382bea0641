//! The list of built-in responders and their configuration: the one place that names them.
//!
//! A responder is configured as `[[responder]] type = "…"` in the daemon's configuration; the
//! chain is asked in the order given. Without any `[[responder]]` the chain is just `rules`.
//! Every type takes the common settings `name`, `timeout` and `on_error` (see
//! `docs/responders.md`); its own settings are checked by `config::check` and built here.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::chain::{Link, OnError};
use super::rules::{RuleSet, RulesResponder};
use super::webhook::{self, WebhookConfig};

/// How long one responder call may take unless `timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The responder types, as written in `type = "…"`.
pub const TYPES: &[&str] = &["rules", "webhook"];

/// Configuration of one responder in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponderConfig {
    /// The name in logs, metrics and the decision log; the type when not set.
    pub name: String,
    /// The longest one call may take.
    pub timeout: Duration,
    pub on_error: OnError,
    pub kind: ResponderKind,
}

/// A responder type and its own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponderKind {
    /// The supervisors' rule files from `bot.rules`.
    Rules,
    /// An external bot over HTTP.
    Webhook(WebhookConfig),
}

impl ResponderKind {
    /// The type as written in the configuration.
    pub fn type_name(&self) -> &'static str {
        match self {
            ResponderKind::Rules => "rules",
            ResponderKind::Webhook(_) => "webhook",
        }
    }
}

impl Default for ResponderConfig {
    fn default() -> Self {
        ResponderConfig::rules()
    }
}

impl ResponderConfig {
    /// The rule files with the default settings.
    pub fn rules() -> Self {
        ResponderConfig::with_defaults(ResponderKind::Rules)
    }

    /// `kind` named after its type, with the default `timeout` and `on_error`.
    pub fn with_defaults(kind: ResponderKind) -> Self {
        ResponderConfig {
            name: kind.type_name().to_owned(),
            timeout: DEFAULT_TIMEOUT,
            on_error: OnError::default(),
            kind,
        }
    }
}

/// What building a responder may need from the daemon.
pub struct BuildContext {
    /// The active rule set; swapped atomically on reload.
    pub rules: Arc<ArcSwap<RuleSet>>,
    /// The emergency override file, when the daemon has a state directory.
    pub overrides: Option<Arc<crate::schedule::overrides::Watch>>,
}

/// A responder that cannot be built: the configuration is wrong or a file it names is
/// unusable (the daemon exits with 78).
#[derive(Debug, thiserror::Error)]
#[error("responder \"{name}\": {reason}")]
pub struct BuildError {
    pub name: String,
    pub reason: String,
}

impl ResponderConfig {
    /// Build the running responder with its settings.
    pub fn build(&self, ctx: &BuildContext) -> Result<Link, BuildError> {
        let responder: Box<dyn super::Responder> = match &self.kind {
            ResponderKind::Rules => {
                let responder = RulesResponder::new(ctx.rules.clone());
                Box::new(match &ctx.overrides {
                    Some(watch) => responder.with_overrides(watch.clone()),
                    None => responder,
                })
            }
            ResponderKind::Webhook(config) => Box::new(
                webhook::Webhook::new(config, ctx.rules.clone()).map_err(|reason| BuildError {
                    name: self.name.clone(),
                    reason,
                })?,
            ),
        };
        Ok(Link {
            name: self.name.clone(),
            responder,
            timeout: Some(self.timeout),
            on_error: self.on_error,
        })
    }
}
