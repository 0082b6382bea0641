//! Chat operations (`POST {api}/me/interactions/{id}` or `POST {api}/me/chats/{id}`), strictly
//! per `docs/gws-protocol.md` §7: each is valid only in the right state, and failures
//! answer the GWS status codes (1 missing parameter, 2 wrong state, 6 not found, 10 out of
//! range). This module holds the dispatch; [`actions`] the actions both dialects share (they
//! change the one chat model); [`interactions`] and [`chats`] map each dialect's names onto
//! them.

mod actions;
mod chats;
mod interactions;

use std::collections::VecDeque;

use serde_json::{Map, Value};

use super::chats::{Chat, with_chat};
use super::effect::{Effect, OpReply, ok, text_param};
use super::state::State;
use super::types::{ChatOutcome, ChatState, SimDialect};

pub(crate) use actions::async_error;

/// Applies the operation in `body` by `user` to chat `id`, in the simulator's dialect.
pub(crate) fn operate(st: &mut State, user: &str, id: &str, body: &Map<String, Value>) -> OpReply {
    let Some(name) = text_param(body, "operationName") else {
        return OpReply::fail(1, "operationName is required");
    };
    let (known, other) = match st.dialect {
        SimDialect::Interactions => (&interactions::OPERATIONS[..], &chats::OPERATIONS[..]),
        SimDialect::Chats => (&chats::OPERATIONS[..], &interactions::OPERATIONS[..]),
    };
    if !known.contains(&name) {
        if other.contains(&name) {
            st.violation(format!(
                "{name} on chat {id}: an operation of the other dialect (this server speaks {})",
                st.dialect
            ));
        }
        return OpReply::fail(1, format!("unknown operationName {name:?}"));
    }
    let owned = st
        .chats
        .get(id)
        .is_some_and(|c| c.owner.as_deref() == Some(user));
    if !owned {
        return OpReply::fail(6, format!("chat {id} not found"));
    }
    let reference = st.next_number();
    if let Some(message) = st.fail_async.get_mut(name).and_then(VecDeque::pop_front) {
        let mut reply = ok(vec![Effect::AsyncError {
            chat: id.to_owned(),
            reference,
            message,
        }]);
        reply.reference = Some(reference);
        return reply;
    }
    let reply = with_chat(st, id, |st, chat| {
        if let Some(refused) = refuse_finished(st, chat, name) {
            return refused;
        }
        match st.dialect {
            SimDialect::Interactions => interactions::apply(st, chat, name, body, reference),
            SimDialect::Chats => chats::apply(st, chat, name, body, reference),
        }
    });
    let mut reply = reply.unwrap_or_else(|| OpReply::fail(6, "chat not found"));
    if reply.status_code == 0 {
        reply.reference = Some(reference);
    }
    reply
}

/// The refusal of any operation on a chat that is no longer (or not yet) the bot's.
fn refuse_finished(st: &mut State, chat: &Chat, name: &str) -> Option<OpReply> {
    match chat.state {
        ChatState::Ended => {
            // A chat the customer abandoned can race with the bot's operation: not a bug.
            if chat.outcome != Some(ChatOutcome::Abandoned) {
                st.violation(format!("{name} on completed chat {}", chat.id));
            }
            Some(OpReply::fail(2, "the chat is completed"))
        }
        ChatState::Queued => Some(OpReply::fail(6, "chat not found")),
        ChatState::Invited | ChatState::Chatting => None,
    }
}
