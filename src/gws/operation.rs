//! The operations the daemon asks GWS to perform, independent of the API dialect.
//!
//! `gws::dialect` turns each into a request path and JSON body; nothing else knows the wire form.

use crate::event::UserData;

/// An operation on one chat interaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Take an offered chat, showing `nickname` to the customer.
    Accept { nickname: String },
    /// Decline an offered chat so that routing can offer it elsewhere.
    Reject,
    /// Send text visible to everyone in the chat.
    SendMessage { text: String },
    /// Show (`true`) or hide (`false`) the typing indicator.
    Typing(bool),
    /// Single-step transfer to one agent.
    TransferToAgent { agent_id: String },
    /// Single-step transfer to a skill (queue).
    TransferToSkill { skill: String },
    /// Finish the interaction on the bot's side.
    StopProcessing,
    /// Ask for the transcript after `event_id` (all of it when `None`); it arrives as a
    /// `ChatHistory` update in the event stream (pushed by the server in `interactions`,
    /// fetched and delivered by the client in `chats`).
    RequestChatHistory { event_id: Option<String> },
    /// Bring an agent into the chat, hidden from the customer.
    StartConsultation { agent_id: String },
    /// Turn the consultation with `agent_id` into a transfer to that agent. (The `chats`
    /// dialect names the agent; `interactions` does not need it.)
    CompleteTransfer { agent_id: String },
    /// Turn the consultation with `agent_id` into a conference with that agent.
    CompleteConference { agent_id: String },
    /// Add or change attached data.
    UpdateUserData { user_data: UserData },
    /// Text only agents see (the hand-over summary); only dialects whose
    /// [`Dialect::agent_notes`](crate::gws::Dialect::agent_notes) is true carry it.
    NoteToAgents { text: String },
}

impl Operation {
    /// Doing it twice has the same effect as once, so a request that timed out may be sent
    /// again. Everything else is retried only when the server certainly did not act on it.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self,
            Operation::Typing(_)
                | Operation::RequestChatHistory { .. }
                | Operation::UpdateUserData { .. }
        )
    }

    /// When GWS reports later that it failed (an `Error` notification), the chat is still the
    /// bot's although the chat's task may have ended on the reply: a transfer or a finish.
    pub fn ends_the_bots_part(&self) -> bool {
        matches!(
            self,
            Operation::TransferToAgent { .. }
                | Operation::TransferToSkill { .. }
                | Operation::StopProcessing
                | Operation::CompleteTransfer { .. }
                | Operation::CompleteConference { .. }
        )
    }

    /// A short stable name for logs and metrics (not the wire name).
    pub fn label(&self) -> &'static str {
        match self {
            Operation::Accept { .. } => "accept",
            Operation::Reject => "reject",
            Operation::SendMessage { .. } => "send_message",
            Operation::Typing(true) => "typing_started",
            Operation::Typing(false) => "typing_stopped",
            Operation::TransferToAgent { .. } => "transfer_agent",
            Operation::TransferToSkill { .. } => "transfer_skill",
            Operation::StopProcessing => "stop_processing",
            Operation::RequestChatHistory { .. } => "request_chat_history",
            Operation::StartConsultation { .. } => "start_consultation",
            Operation::CompleteTransfer { .. } => "complete_transfer",
            Operation::CompleteConference { .. } => "complete_conference",
            Operation::UpdateUserData { .. } => "update_user_data",
            Operation::NoteToAgents { .. } => "note_to_agents",
        }
    }
}

/// Session-level operations (on `{api}/me` and `{api}/me/channels/chat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOperation {
    StartContactCenterSession { place: Option<String> },
    Ready,
    NotReady,
    EndContactCenterSession,
}

impl SessionOperation {
    /// A short stable name for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            SessionOperation::StartContactCenterSession { .. } => "start_session",
            SessionOperation::Ready => "ready",
            SessionOperation::NotReady => "not_ready",
            SessionOperation::EndContactCenterSession => "end_session",
        }
    }
}
