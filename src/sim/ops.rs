//! The `interactions`-dialect chat operations (`POST /api/v2/me/interactions/{id}`), strictly per
//! section 5 of the protocol notes: each is valid only in the right state, and failures answer
//! the GWS status codes (1 missing parameter, 2 wrong state, 6 not found, 10 out of range).

use std::time::Duration;

use serde_json::{Map, Value};

use super::chats::{Chat, Consult, with_chat};
use super::state::State;
use super::types::{ChatOutcome, ChatState, Step};

/// Operation names the simulator knows.
const OPERATIONS: [&str; 12] = [
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

/// Work to start once the state lock is released.
pub(crate) enum Effect {
    /// The consulted agent joins after `after` unless the consultation changed meanwhile.
    ConsultJoin {
        chat: String,
        generation: u64,
        after: Duration,
    },
    /// Run the customer's script.
    Script { chat: String, steps: Vec<Step> },
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

fn text_param<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

/// Applies the operation in `body` by `user` to chat `id`.
pub(crate) fn operate(st: &mut State, user: &str, id: &str, body: &Map<String, Value>) -> OpReply {
    let Some(name) = text_param(body, "operationName") else {
        return OpReply::fail(1, "operationName is required");
    };
    if !OPERATIONS.contains(&name) {
        return OpReply::fail(1, format!("unknown operationName {name:?}"));
    }
    let owned = st
        .chats
        .get(id)
        .is_some_and(|c| c.owner.as_deref() == Some(user));
    if !owned {
        return OpReply::fail(6, format!("interaction {id} not found"));
    }
    let reference = st.next_number();
    let reply = with_chat(st, id, |st, chat| apply(st, chat, name, body, reference));
    let mut reply = reply.unwrap_or_else(|| OpReply::fail(6, "interaction not found"));
    if reply.status_code == 0 {
        reply.reference = Some(reference);
    }
    reply
}

fn ok(effects: Vec<Effect>) -> OpReply {
    OpReply {
        status_code: 0,
        message: None,
        reference: None,
        effects,
    }
}

fn apply(
    st: &mut State,
    chat: &mut Chat,
    name: &str,
    body: &Map<String, Value>,
    r: u64,
) -> OpReply {
    let offer_op = matches!(name, "Accept" | "Reject");
    match chat.state {
        ChatState::Ended => {
            // A chat the customer abandoned can race with the bot's operation: not a bug.
            if chat.outcome != Some(ChatOutcome::Abandoned) {
                st.violation(format!("{name} on completed interaction {}", chat.id));
            }
            return OpReply::fail(2, "interaction is completed");
        }
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
        ChatState::Queued => return OpReply::fail(6, "interaction not found"),
        _ => {}
    }
    let reference = Some(r);
    match name {
        "Accept" => {
            let Some(nick) = text_param(body, "nickname").filter(|n| !n.trim().is_empty()) else {
                return OpReply::fail(1, "nickname is required");
            };
            chat.state = ChatState::Chatting;
            chat.nickname = Some(nick.to_owned());
            chat.notify(st, "StatusChange", reference, None);
            let history: Vec<_> = chat.transcript.iter().cloned().collect();
            chat.notify(st, "ChatHistory", reference, Some(&history));
            let joined = chat.bot_entry(st, "ParticipantJoined", None);
            chat.notify(st, "NewMessages", None, Some(&[joined]));
            st.emit(super::types::SimEvent::State {
                chat: chat.id.clone(),
                state: ChatState::Chatting,
            });
            let effects = match chat.script.take() {
                Some(steps) if !steps.is_empty() => vec![Effect::Script {
                    chat: chat.id.clone(),
                    steps,
                }],
                _ => Vec::new(),
            };
            ok(effects)
        }
        "Reject" => {
            chat.finish(st, ChatOutcome::Rejected, reference);
            ok(Vec::new())
        }
        "SendMessage" => {
            let Some(text) = text_param(body, "text") else {
                return OpReply::fail(1, "text is required");
            };
            let entry = chat.bot_entry(st, "Text", Some(text.to_owned()));
            chat.notify(st, "NewMessages", reference, Some(&[entry]));
            chat.progress.send_modify(|p| p.bot_texts += 1);
            ok(Vec::new())
        }
        "SendNotification" => {
            let value =
                text_param(body, "notifcation").or_else(|| text_param(body, "notification"));
            match value {
                None => OpReply::fail(1, "notifcation is required"),
                Some("TypingStarted" | "TypingStopped") => ok(Vec::new()),
                Some(other) => OpReply::fail(10, format!("unknown notification {other:?}")),
            }
        }
        "Transfer" => transfer(st, chat, body, reference),
        "StopProcessing" => {
            chat.finish(st, ChatOutcome::ClosedByBot, reference);
            ok(Vec::new())
        }
        "RequestChatHistory" => {
            let after = text_param(body, "eventId")
                .and_then(|e| chat.transcript.iter().position(|x| x.event_id == e));
            let skip = after.map_or(0, |i| i + 1);
            let entries: Vec<_> = chat.transcript.iter().skip(skip).cloned().collect();
            chat.notify(st, "ChatHistory", reference, Some(&entries));
            ok(Vec::new())
        }
        "StartChatConsultation" => {
            let Some(agent_id) = text_param(body, "agentId") else {
                return OpReply::fail(1, "agentId is required");
            };
            let Some(agent) = st.agents.iter().find(|a| a.id == agent_id).cloned() else {
                return OpReply::fail(6, format!("agent {agent_id} not found"));
            };
            if chat.consult.as_ref().is_some_and(|c| c.joined) {
                return OpReply::fail(2, "a consulted agent has already joined");
            }
            chat.consult_generation += 1;
            let generation = chat.consult_generation;
            let after = agent.join_after;
            chat.consult = Some(Consult {
                agent,
                joined: false,
            });
            let effects = after
                .map(|after| Effect::ConsultJoin {
                    chat: chat.id.clone(),
                    generation,
                    after,
                })
                .into_iter()
                .collect();
            ok(effects)
        }
        "CompleteTransfer" | "CompleteConference" | "LeaveChatConsultation" => {
            let Some(agent) = chat
                .consult
                .as_ref()
                .filter(|c| c.joined)
                .map(|c| c.agent.clone())
            else {
                return OpReply::fail(2, "no consulted agent has joined");
            };
            if name == "CompleteTransfer" {
                chat.finish(
                    st,
                    ChatOutcome::TransferredToAgent(agent.id.clone()),
                    reference,
                );
                let greeting = format!(
                    "Hi {}, this is {}. I'll take it from here.",
                    chat.customer, agent.nickname
                );
                chat.agent_entry(st, &agent, "Text", Some(greeting), "All");
            } else {
                chat.finish(st, ChatOutcome::Conference(agent.id.clone()), reference);
            }
            ok(Vec::new())
        }
        "UpdateUserData" => {
            let Some(data) = body.get("userData").and_then(Value::as_object) else {
                return OpReply::fail(1, "userData (an object) is required");
            };
            chat.user_data
                .extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
            chat.notify(st, "PropertiesUpdated", reference, None);
            ok(Vec::new())
        }
        other => OpReply::fail(1, format!("unknown operationName {other:?}")),
    }
}

fn transfer(
    st: &mut State,
    chat: &mut Chat,
    body: &Map<String, Value>,
    reference: Option<u64>,
) -> OpReply {
    if let Some(agent_id) = text_param(body, "agentId") {
        let Some(agent) = st.agents.iter().find(|a| a.id == agent_id).cloned() else {
            return OpReply::fail(6, format!("agent {agent_id} not found"));
        };
        chat.finish(
            st,
            ChatOutcome::TransferredToAgent(agent.id.clone()),
            reference,
        );
        chat.agent_entry(st, &agent, "ParticipantJoined", None, "All");
        let greeting = format!(
            "Hi {}, this is {}. I'll take it from here.",
            chat.customer, agent.nickname
        );
        chat.agent_entry(st, &agent, "Text", Some(greeting), "All");
        return ok(Vec::new());
    }
    if let Some(skill) = text_param(body, "skill") {
        let Some(skill) = st.skills.iter().find(|s| s.as_str() == skill).cloned() else {
            return OpReply::fail(6, format!("skill {skill} not found"));
        };
        chat.finish(st, ChatOutcome::TransferredToSkill(skill), reference);
        return ok(Vec::new());
    }
    OpReply::fail(1, "agentId or skill is required")
}

/// The consulted agent joins chat `id` if the consultation `generation` is still current.
pub(crate) fn consult_join(st: &mut State, id: &str, generation: u64) {
    with_chat(st, id, |st, chat| {
        if chat.state != ChatState::Chatting || chat.consult_generation != generation {
            return;
        }
        let Some(consult) = chat.consult.as_mut().filter(|c| !c.joined) else {
            return;
        };
        consult.joined = true;
        let agent = consult.agent.clone();
        chat.notify(st, "ParticipantsUpdated", None, None);
        let entry = chat.agent_entry(st, &agent, "ParticipantJoined", None, "Agents");
        chat.notify(st, "NewMessages", None, Some(&[entry]));
    });
}
