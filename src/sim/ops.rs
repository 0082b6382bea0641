//! Chat operations (`POST {api}/me/interactions/{id}` or `POST {api}/me/chats/{id}`), strictly
//! per `docs/gws-protocol.md` §7: each is valid only in the right state, and failures
//! answer the GWS status codes (1 missing parameter, 2 wrong state, 6 not found, 10 out of
//! range). This file holds the dispatch, the actions both dialects share (they change the one
//! chat model) and the `interactions` names; `ops_chats` maps the `chats` names onto the same
//! actions.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Map, Value};

use super::agents;
use super::chats::{Chat, Consult, Progress, Role, with_chat};
use super::ops_chats;
use super::readings::HistoryStart;
use super::state::State;
use super::types::{AgentStep, ChatOutcome, ChatState, SimAgent, SimDialect, SimEvent, Step};
use super::wire::Note;

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

/// Work to start once the state lock is released.
pub(crate) enum Effect {
    /// The consulted agent joins after `after` unless the consultation changed meanwhile.
    ConsultJoin {
        chat: String,
        generation: u64,
        after: Duration,
    },
    /// Run the customer's script, counting from `mark`: where the chat stood at Accept (the
    /// task may first run after the bot has answered, on a loaded machine; counting from
    /// then, the customer waited for an answer that had come, silent until the end).
    Script {
        chat: String,
        steps: Vec<Step>,
        mark: Progress,
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

/// Applies the operation in `body` by `user` to chat `id`, in the simulator's dialect.
pub(crate) fn operate(st: &mut State, user: &str, id: &str, body: &Map<String, Value>) -> OpReply {
    let Some(name) = text_param(body, "operationName") else {
        return OpReply::fail(1, "operationName is required");
    };
    let (known, other) = match st.dialect {
        SimDialect::Interactions => (&OPERATIONS[..], &ops_chats::OPERATIONS[..]),
        SimDialect::Chats => (&ops_chats::OPERATIONS[..], &OPERATIONS[..]),
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
            SimDialect::Interactions => apply(st, chat, name, body, reference),
            SimDialect::Chats => ops_chats::apply(st, chat, name, body, reference),
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

/// The `interactions` names, in an offered or live chat.
fn apply(
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

/// Accept an offer: live, then (dialect permitting) the history, then the bot's joining entry.
pub(crate) fn accept(
    st: &mut State,
    chat: &mut Chat,
    body: &Map<String, Value>,
    r: u64,
) -> OpReply {
    let Some(nick) = text_param(body, "nickname").filter(|n| !n.trim().is_empty()) else {
        return OpReply::fail(1, "nickname is required");
    };
    chat.state = ChatState::Chatting;
    chat.nickname = Some(nick.to_owned());
    chat.bot_pid(st);
    chat.notify(st, Note::Status, Some(r));
    if st.readings.history_after_accept {
        let history: Vec<_> = chat.transcript.iter().cloned().collect();
        chat.notify(st, Note::History(&history), Some(r));
    }
    let joined = chat.bot_entry(st, "ParticipantJoined", None);
    chat.notify(st, Note::Messages(&[joined]), None);
    st.emit(SimEvent::State {
        chat: chat.id.clone(),
        state: ChatState::Chatting,
    });
    let effects = match chat.script.take() {
        Some(steps) if !steps.is_empty() => vec![Effect::Script {
            chat: chat.id.clone(),
            steps,
            mark: *chat.progress.borrow(),
        }],
        _ => Vec::new(),
    };
    ok(effects)
}

/// The bot's copy of the chat ends with `outcome`.
pub(crate) fn finish(st: &mut State, chat: &mut Chat, outcome: ChatOutcome, r: u64) -> OpReply {
    chat.finish(st, outcome, Some(r));
    ok(Vec::new())
}

/// The bot says `text` (echoed back as an `Agent` entry).
pub(crate) fn send_message(
    st: &mut State,
    chat: &mut Chat,
    body: &Map<String, Value>,
    r: u64,
) -> OpReply {
    let Some(text) = text_param(body, "text") else {
        return OpReply::fail(1, "text is required");
    };
    let entry = chat.bot_entry(st, "Text", Some(text.to_owned()));
    chat.notify(st, Note::Messages(&[entry]), Some(r));
    chat.progress.send_modify(|p| p.bot_texts += 1);
    ok(Vec::new())
}

/// The refusal (statusCode 10, and a violation) of an agent named by a `participantId` of the
/// chat: operations name agents by their user id, never by the opaque id of the chat session.
pub(crate) fn refuse_participant_id(
    st: &mut State,
    chat: &Chat,
    name: &str,
    agent: &str,
) -> Option<OpReply> {
    let person = chat.person_of(agent)?;
    st.violation(format!(
        "{name} on chat {} names participantId {agent} ({person:?}), not a user id",
        chat.id
    ));
    Some(OpReply::fail(
        10,
        format!("{agent} is a participantId of the chat, not a user id"),
    ))
}

fn greet(st: &mut State, chat: &mut Chat, agent: &SimAgent) {
    let greeting = format!(
        "Hi {}, this is {}. I'll take it from here.",
        chat.customer, agent.nickname
    );
    chat.agent_entry(st, agent, "Text", Some(greeting), "All");
}

/// A single-step transfer to a human agent, who joins and greets the customer.
pub(crate) fn transfer_to_agent(
    st: &mut State,
    chat: &mut Chat,
    agent_id: &str,
    r: u64,
) -> OpReply {
    let Some(agent) = st.agents.iter().find(|a| a.id == agent_id).cloned() else {
        return OpReply::fail(6, format!("agent {agent_id} not found"));
    };
    chat.finish(
        st,
        ChatOutcome::TransferredToAgent(agent.id.clone()),
        Some(r),
    );
    chat.enter(st, &agent, Role::Owner);
    chat.agent_entry(st, &agent, "ParticipantJoined", None, "All");
    greet(st, chat, &agent);
    ok(Vec::new())
}

/// A single-step transfer to a skill (queue).
pub(crate) fn transfer_to_skill(st: &mut State, chat: &mut Chat, skill: &str, r: u64) -> OpReply {
    let Some(skill) = st.skills.iter().find(|s| s.as_str() == skill).cloned() else {
        return OpReply::fail(6, format!("skill {skill} not found"));
    };
    chat.finish(st, ChatOutcome::TransferredToSkill(skill), Some(r));
    ok(Vec::new())
}

/// Starts consulting `agent_id` (replacing a consultation nobody joined yet).
pub(crate) fn consult(st: &mut State, chat: &mut Chat, agent_id: &str) -> OpReply {
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

/// The consulted agent, once joined.
pub(crate) fn joined_agent(chat: &Chat) -> Option<SimAgent> {
    chat.consult
        .as_ref()
        .filter(|c| c.joined)
        .map(|c| c.agent.clone())
}

/// Hands the chat to the consulted agent who has joined (the bot's part ends), or
/// (`conference`) brings them into the customer's conversation next to the bot.
pub(crate) fn complete_consultation(
    st: &mut State,
    chat: &mut Chat,
    conference: bool,
    r: u64,
) -> OpReply {
    let Some(agent) = joined_agent(chat) else {
        return OpReply::fail(2, "no consulted agent has joined");
    };
    if conference {
        return agents::conference(st, chat, &agent, r);
    }
    chat.finish(
        st,
        ChatOutcome::TransferredToAgent(agent.id.clone()),
        Some(r),
    );
    chat.enter(st, &agent, Role::Owner);
    greet(st, chat, &agent);
    ok(Vec::new())
}

/// Merges `userData` into the chat's attached data.
pub(crate) fn update_user_data(
    st: &mut State,
    chat: &mut Chat,
    body: &Map<String, Value>,
    r: u64,
) -> OpReply {
    let Some(data) = body.get("userData").and_then(Value::as_object) else {
        return OpReply::fail(1, "userData (an object) is required");
    };
    chat.user_data
        .extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
    chat.notify(st, Note::Properties, Some(r));
    ok(Vec::new())
}

/// Tells the owner of chat `id` that the operation with `reference` failed.
pub(crate) fn async_error(st: &mut State, id: &str, reference: u64, message: &str) {
    with_chat(st, id, |st, chat| {
        chat.notify(st, Note::Error(message), Some(reference));
    });
}
