//! The actions both dialects share: accept, finish, send, transfer, consult and complete a
//! consultation, user data, late errors. They change the one chat model; the dialects' names
//! map onto them.

use serde_json::{Map, Value};

use crate::sim::agents;
use crate::sim::chats::{Chat, Consult, Role, with_chat};
use crate::sim::effect::{Effect, OpReply, ok, text_param};
use crate::sim::state::State;
use crate::sim::types::{ChatOutcome, ChatState, SimAgent, SimEvent};
use crate::sim::wire::Note;

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
