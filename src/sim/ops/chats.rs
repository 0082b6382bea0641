//! The `chats`-dialect operations (`POST {api}/me/chats/{id}`), per `docs/gws-protocol.md` §7: the
//! names, parameters and state rules of released GWS, mapped onto the shared actions (`ops::actions`) that
//! both dialects share. What only this dialect has: typing notices as operations (each uses up
//! a transcript position, so cursors have gaps), agents named by `targetUri`, `Invite`,
//! `SendCustomNoticeToAgents`, and `Leave` before `Complete`.

use serde_json::{Map, Value};

use super::actions as ops;
use crate::sim::chats::Chat;
use crate::sim::effect::{OpReply, ok, text_param};
use crate::sim::state::State;
use crate::sim::types::{ChatOutcome, ChatState};
use crate::sim::wire::Note;

/// Operation names of the `chats` dialect.
pub(crate) const OPERATIONS: [&str; 12] = [
    "Accept",
    "Reject",
    "SendMessage",
    "SendStartTypingNotification",
    "SendStopTypingNotification",
    "Transfer",
    "Consult",
    "Invite",
    "UpdateUserData",
    "SendCustomNoticeToAgents",
    "Leave",
    "Complete",
];

/// Applies a `chats` operation to an offered or live chat.
pub(crate) fn apply(
    st: &mut State,
    chat: &mut Chat,
    name: &str,
    body: &Map<String, Value>,
    r: u64,
) -> OpReply {
    if let Some(refused) = refuse(st, chat, name) {
        return refused;
    }
    match name {
        "Accept" => ops::accept(st, chat, body, r),
        "Reject" => ops::finish(st, chat, ChatOutcome::Rejected, r),
        "SendMessage" => ops::send_message(st, chat, body, r),
        "SendStartTypingNotification" | "SendStopTypingNotification" => {
            chat.skip_position();
            ok(Vec::new())
        }
        "Transfer" => transfer(st, chat, body, r),
        "Consult" => match target(st, chat, name, body) {
            Ok(agent) => ops::consult(st, chat, agent),
            Err(refused) => refused,
        },
        "Invite" => match target(st, chat, name, body) {
            Ok(agent) if ops::joined_agent(chat).is_some_and(|a| a.id == agent) => {
                ops::complete_consultation(st, chat, true, r)
            }
            Ok(agent) if !st.agents.iter().any(|a| a.id == agent) => {
                OpReply::fail(6, format!("agent {agent} not found"))
            }
            Ok(agent) => OpReply::fail(
                2,
                format!("Invite needs a consulted agent who has joined, not {agent}"),
            ),
            Err(refused) => refused,
        },
        "UpdateUserData" => ops::update_user_data(st, chat, body, r),
        "SendCustomNoticeToAgents" => {
            let Some(text) = text_param(body, "noticeText") else {
                return OpReply::fail(1, "noticeText is required");
            };
            let entry = chat.bot_entry_to(st, "CustomNotice", Some(text.to_owned()), "Agents");
            chat.notify(st, Note::Messages(&[entry]), Some(r));
            ok(Vec::new())
        }
        "Leave" => {
            chat.bot_entry(st, "ParticipantLeft", None);
            chat.bot_left = true;
            chat.consult_generation += 1;
            chat.progress.send_modify(|p| p.ended = true);
            chat.notify(st, Note::Status, Some(r));
            ok(Vec::new())
        }
        "Complete" => ops::finish(st, chat, ChatOutcome::ClosedByBot, r),
        other => OpReply::fail(1, format!("unknown operationName {other:?}")),
    }
}

/// The state rules: an offer takes Accept and Reject; a live chat takes everything else, but
/// `Complete` only once the bot has left or the customer has gone; a chat the bot has left
/// (`LeftChat`) takes only `Complete`.
fn refuse(st: &mut State, chat: &Chat, name: &str) -> Option<OpReply> {
    let offer_op = matches!(name, "Accept" | "Reject");
    let id = &chat.id;
    match chat.state {
        ChatState::Invited if !offer_op => {
            if name == "SendMessage" {
                st.violation(format!("SendMessage on chat {id} while not Chatting"));
            }
            Some(OpReply::fail(
                2,
                format!("{name} is not valid for an invitation"),
            ))
        }
        ChatState::Chatting if offer_op => Some(OpReply::fail(
            2,
            format!("{name} is not valid for a chat in progress"),
        )),
        ChatState::Chatting if chat.bot_left => match name {
            "Complete" => None,
            "SendMessage" => {
                st.violation(format!("SendMessage on chat {id} after the bot left it"));
                Some(OpReply::fail(2, "the bot has left the chat"))
            }
            _ => Some(OpReply::fail(
                2,
                format!("{name}: the bot has left the chat"),
            )),
        },
        ChatState::Chatting if name == "Complete" && chat.customer_present => {
            st.violation(format!(
                "Complete on chat {id} while the bot and the customer are in it (Leave first)"
            ));
            Some(OpReply::fail(2, "Complete needs Leave first"))
        }
        _ => None,
    }
}

/// `Transfer` to exactly one of an agent (`targetUri`; the consulted agent once joined makes it
/// consult → transfer) or a queue (`queueName`, a skill).
fn transfer(st: &mut State, chat: &mut Chat, body: &Map<String, Value>, r: u64) -> OpReply {
    match (body.get("targetUri"), text_param(body, "queueName")) {
        (Some(_), Some(_)) => OpReply::fail(10, "give exactly one of targetUri, queueName"),
        (Some(_), None) => match target(st, chat, "Transfer", body) {
            Ok(agent) if ops::joined_agent(chat).is_some_and(|a| a.id == agent) => {
                ops::complete_consultation(st, chat, false, r)
            }
            Ok(agent) => ops::transfer_to_agent(st, chat, agent, r),
            Err(refused) => refused,
        },
        (None, Some(queue)) => ops::transfer_to_skill(st, chat, queue, r),
        (None, None) => OpReply::fail(1, "targetUri or queueName is required"),
    }
}

/// The agent id named by `targetUri` (`{api}/users/{id}`); a `participantId` of the chat in
/// its place is refused with statusCode 10 (see [`ops::refuse_participant_id`]).
fn target<'a>(
    st: &mut State,
    chat: &Chat,
    name: &str,
    body: &'a Map<String, Value>,
) -> Result<&'a str, OpReply> {
    let Some(uri) = text_param(body, "targetUri") else {
        return Err(OpReply::fail(1, "targetUri is required"));
    };
    let agent = agent_of(uri).ok_or_else(|| {
        OpReply::fail(
            10,
            format!("targetUri {uri:?} is not an agent URI ({{api}}/users/{{id}})"),
        )
    })?;
    match ops::refuse_participant_id(st, chat, name, agent) {
        Some(refused) => Err(refused),
        None => Ok(agent),
    }
}

/// `http(s)://host/…/users/{id}` → `id`.
fn agent_of(uri: &str) -> Option<&str> {
    let rest = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))?;
    let (head, id) = rest.trim_end_matches('/').rsplit_once('/')?;
    (head.ends_with("/users") && !id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_uris() {
        let ok = "http://gws:8080/api/v2/users/agent-101";
        assert_eq!(agent_of(ok), Some("agent-101"));
        assert_eq!(agent_of(&format!("{ok}/")), Some("agent-101"));
        assert_eq!(agent_of("https://h/api/v2/users/x"), Some("x"));
        assert_eq!(agent_of("agent-101"), None);
        assert_eq!(agent_of("http://h/api/v2/queues/x"), None);
        assert_eq!(agent_of("http://h/api/v2/users/"), None);
        assert_eq!(agent_of("ftp://h/users/x"), None);
    }
}
