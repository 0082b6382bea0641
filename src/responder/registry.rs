//! The list of built-in responders and their configuration: the one place that names them.
//!
//! A responder is configured as `[[responder]] type = "…"` in the daemon's configuration; the
//! chain is asked in the order given. Without any `[[responder]]` the chain is just `rules`.

use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Deserialize;

use super::Responder;
use super::rules::{RuleSet, RulesResponder};

/// Configuration of one responder in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResponderConfig {
    /// The supervisors' rule files from `bot.rules`.
    #[default]
    Rules,
}

/// What building a responder may need from the daemon.
pub struct BuildContext {
    /// The active rule set; swapped atomically on reload.
    pub rules: Arc<ArcSwap<RuleSet>>,
    /// The emergency override file, when the daemon has a state directory.
    pub overrides: Option<Arc<crate::schedule::overrides::Watch>>,
}

impl ResponderConfig {
    /// Build the running responder.
    pub fn build(&self, ctx: &BuildContext) -> Box<dyn Responder> {
        match self {
            ResponderConfig::Rules => {
                let responder = RulesResponder::new(ctx.rules.clone());
                Box::new(match &ctx.overrides {
                    Some(watch) => responder.with_overrides(watch.clone()),
                    None => responder,
                })
            }
        }
    }
}
