//! What an operation answers and the work it leaves to do once the state lock is released
//! (timers, scripts, late errors); shared by the operations and the scripted participants.

use std::time::Duration;

use serde_json::{Map, Value};

use super::types::{AgentStep, Step};

/// Work to start once the state lock is released.
pub(crate) enum Effect {
    /// The consulted agent joins after `after` unless the consultation changed meanwhile.
    ConsultJoin {
        chat: String,
        generation: u64,
        after: Duration,
    },
    /// Run the customer's script.
    Script {
        chat: String,
        steps: Vec<Step>,
        /// The chat's progress when it was accepted: a bot text sent before the script runs
        /// (the greeting right after Accept) counts as a reply.
        mark: super::model::Progress,
    },
    /// Run a conferenced agent's script.
    AgentScript {
        chat: String,
        agent: String,
        steps: Vec<AgentStep>,
    },
    /// An accepted operation fails: an `Error` notification with its `referenceId`.
    AsyncError {
        chat: String,
        reference: u64,
        message: String,
    },
}

/// The answer to an operation.
pub(crate) struct OpReply {
    pub status_code: i64,
    pub message: Option<String>,
    pub reference: Option<u64>,
    pub effects: Vec<Effect>,
}

impl OpReply {
    pub fn fail(status_code: i64, message: impl Into<String>) -> OpReply {
        OpReply {
            status_code,
            message: Some(message.into()),
            reference: None,
            effects: Vec::new(),
        }
    }
}

pub(crate) fn ok(effects: Vec<Effect>) -> OpReply {
    OpReply {
        status_code: 0,
        message: None,
        reference: None,
        effects,
    }
}

pub(crate) fn text_param<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}
