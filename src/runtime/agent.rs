//! The dispatcher's handle on the agent's GWS session: set the agent state (Ready/NotReady),
//! turn an offer down, close a chat whose task failed, and finish a chat the bot left. The
//! dispatcher talks to chats and to this handle, never to the REST client or HTTP itself.

use crate::event::{ChatId, ChatUpdate};
use crate::gws::{self, Operation, SessionOperation};

/// A handle on the agent's session. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Agent {
    gws: gws::Client,
}

impl Agent {
    /// The agent logged in through `gws`.
    pub fn new(gws: gws::Client) -> Self {
        Agent { gws }
    }

    /// Ready, NotReady (or another session operation).
    pub async fn set_state(&self, op: &SessionOperation) -> Result<(), gws::Error> {
        self.gws.session(op).await
    }

    /// Turn an offer down.
    pub async fn reject(&self, chat: &ChatId) -> Result<(), gws::Error> {
        self.gws.execute(chat, &Operation::Reject).await.map(drop)
    }

    /// Stop processing a chat (its task failed and cannot do it itself).
    pub async fn stop_processing(&self, chat: &ChatId) -> Result<(), gws::Error> {
        self.gws
            .execute(chat, &Operation::StopProcessing)
            .await
            .map(drop)
    }

    /// Whether a listed chat is one the bot has left without finishing it.
    pub fn has_left(&self, chat: &ChatUpdate) -> bool {
        self.gws.is_left(chat)
    }

    /// Finish a listed chat the bot has left; true when it was finished.
    pub async fn finish_left(&self, chat: &ChatUpdate) -> bool {
        self.gws.finish_left(chat).await
    }
}
