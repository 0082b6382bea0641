//! The `interactions`-dialect operation names (`POST {api}/me/interactions/{id}`), mapped onto
//! the shared actions.

use serde_json::{Map, Value};

use super::actions::{
    accept, complete_consultation, consult, finish, refuse_participant_id, send_message,
    transfer_to_agent, transfer_to_skill, update_user_data,
};
use crate::sim::chats::Chat;
use crate::sim::effect::{OpReply, ok, text_param};
use crate::sim::readings::HistoryStart;
use crate::sim::state::State;
use crate::sim::types::{ChatOutcome, ChatState};
use crate::sim::wire::Note;

/// Operation names of the `interactions` dialect.
pub(crate) const OPERATIONS: [&str; 12] = [
    "Accept",
    "Reject",
    "SendMessage",
    "SendNotification",
    "Transfer",
    "StopProcessing",
    "RequestChatHistory",
    "StartChatConsultation",
    "CompleteTransfer",
    "CompleteConference",
    "LeaveChatConsultation",
    "UpdateUserData",
];

/// The `interactions` names, in an offered or live chat.
pub(super) fn apply(
    st: &mut State,
    chat: &mut Chat,
    name: &str,
    body: &Map<String, Value>,
    r: u64,
) -> OpReply {
    let offer_op = matches!(name, "Accept" | "Reject");
    match chat.state {
        ChatState::Invited if !offer_op => {
            if name == "SendMessage" {
                st.violation(format!(
                    "SendMessage on interaction {} while not Chatting",
                    chat.id
                ));
            }
            return OpReply::fail(2, format!("{name} is not valid for an invitation"));
        }
        ChatState::Chatting if offer_op => {
            return OpReply::fail(2, format!("{name} is not valid for a chat in progress"));
        }
        _ => {}
    }
    match name {
        "Accept" => accept(st, chat, body, r),
        "Reject" => finish(st, chat, ChatOutcome::Rejected, r),
        "SendMessage" => send_message(st, chat, body, r),
        "SendNotification" => {
            let value =
                text_param(body, "notifcation").or_else(|| text_param(body, "notification"));
            match value {
                None => OpReply::fail(1, "notifcation is required"),
                Some("TypingStarted" | "TypingStopped") => ok(Vec::new()),
                Some(other) => OpReply::fail(10, format!("unknown notification {other:?}")),
            }
        }
        "Transfer" => match (text_param(body, "agentId"), text_param(body, "skill")) {
            (Some(agent), _) => match refuse_participant_id(st, chat, name, agent) {
                Some(refused) => refused,
                None => transfer_to_agent(st, chat, agent, r),
            },
            (None, Some(skill)) => transfer_to_skill(st, chat, skill, r),
            (None, None) => OpReply::fail(1, "agentId or skill is required"),
        },
        "StopProcessing" => finish(st, chat, ChatOutcome::ClosedByBot, r),
        "RequestChatHistory" => {
            let at = text_param(body, "eventId")
                .and_then(|e| chat.transcript.iter().position(|x| x.event_id == e));
            let skip = match (at, st.readings.history_start) {
                (None, _) => 0,
                (Some(i), HistoryStart::After) => i + 1,
                (Some(i), HistoryStart::From) => i,
            };
            let entries: Vec<_> = chat.transcript.iter().skip(skip).cloned().collect();
            chat.notify(st, Note::History(&entries), Some(r));
            ok(Vec::new())
        }
        "StartChatConsultation" => match text_param(body, "agentId") {
            Some(agent) => match refuse_participant_id(st, chat, name, agent) {
                Some(refused) => refused,
                None => consult(st, chat, agent),
            },
            None => OpReply::fail(1, "agentId is required"),
        },
        "CompleteTransfer" => complete_consultation(st, chat, false, r),
        "CompleteConference" | "LeaveChatConsultation" => complete_consultation(st, chat, true, r),
        "UpdateUserData" => update_user_data(st, chat, body, r),
        other => OpReply::fail(1, format!("unknown operationName {other:?}")),
    }
}
