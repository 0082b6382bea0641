//! Human agents in a chat: the consulted agent joining, agents joining unasked (a supervisor
//! looking in), a consultation turned into a conference that keeps the bot in, agents writing
//! and leaving, the chat being finished by others, and conferenced agents' scripts. How a
//! joining is announced follows [`super::SimConfig::join_notices`].

use std::sync::Arc;

use super::chats::{Chat, Role, with_chat};
use super::effect::{Effect, OpReply, ok};
use super::readings::Notices;
use super::state::{Shared, State, pause};
use super::types::{AgentStep, ChatOutcome, ChatState, Entry, SimAgent, SimError};
use super::wire::Note;

/// Announces a participant change to the bot (when it is in the chat): a participants update
/// and/or the entry `write` adds, in the order `notices` gives. With
/// [`Notices::ParticipantsOnly`] the entry is not written at all.
pub(crate) fn announce(
    st: &mut State,
    chat: &mut Chat,
    notices: Notices,
    reference: Option<u64>,
    write: impl FnOnce(&State, &mut Chat) -> Entry,
) {
    let tell = chat.bot_is_in();
    let entry_first = matches!(notices, Notices::EntryFirst | Notices::EntryOnly);
    let participants = tell && notices.sends_participants();
    if participants && !entry_first {
        chat.notify(st, Note::Participants, reference);
    }
    if notices.writes_entry() {
        let entry = write(st, chat);
        if tell {
            chat.notify(st, Note::Messages(&[entry]), reference);
        }
    }
    if participants && entry_first {
        chat.notify(st, Note::Participants, reference);
    }
}

/// An agent enters `chat` hidden from the customer and is announced per `join_notices`.
fn join_hidden(st: &mut State, chat: &mut Chat, agent: &SimAgent, role: Role) {
    chat.enter(st, agent, role);
    let notices = st.join_notices;
    announce(st, chat, notices, None, |st, chat| {
        chat.agent_entry(st, agent, "ParticipantJoined", None, "Agents")
    });
}

/// The consulted agent joins chat `id` if the consultation `generation` is still current. An
/// agent already looking in becomes the consulted one without a second announcement.
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
        if chat.present(&agent.id).is_some() {
            chat.enter(st, &agent, Role::Consulting);
        } else {
            join_hidden(st, chat, &agent, Role::Consulting);
        }
    });
}

/// The consulted agent who has joined becomes a conference member next to the bot: the
/// customer now sees them (a `ParticipantJoined` entry visible to all, announced per
/// `join_notices`), the bot stays `Chatting`, and the agent's conference script starts.
pub(crate) fn conference(st: &mut State, chat: &mut Chat, agent: &SimAgent, r: u64) -> OpReply {
    chat.consult = None;
    chat.consult_generation += 1;
    chat.enter(st, agent, Role::Conference);
    chat.conference = Some(agent.id.clone());
    let notices = st.join_notices;
    announce(st, chat, notices, Some(r), |st, chat| {
        chat.agent_entry(st, agent, "ParticipantJoined", None, "All")
    });
    let steps = st
        .conference_scripts
        .get(&agent.id)
        .cloned()
        .unwrap_or_default();
    if steps.is_empty() {
        return ok(Vec::new());
    }
    ok(vec![Effect::AgentScript {
        chat: chat.id.clone(),
        agent: agent.id.clone(),
        steps,
    }])
}

fn known_agent(st: &State, agent: &str) -> Result<SimAgent, SimError> {
    st.agents
        .iter()
        .find(|a| a.id == agent)
        .cloned()
        .ok_or_else(|| SimError::UnknownAgent(agent.to_owned()))
}

fn absent(chat: &Chat, agent: &str) -> SimError {
    SimError::AgentAbsent {
        chat: chat.id.clone(),
        agent: agent.to_owned(),
    }
}

/// Runs `f` on chat `id`, or says it is unknown.
fn on_chat<R>(
    st: &mut State,
    id: &str,
    f: impl FnOnce(&mut State, &mut Chat) -> Result<R, SimError>,
) -> Result<R, SimError> {
    with_chat(st, id, f).unwrap_or_else(|| Err(SimError::UnknownChat(id.to_owned())))
}

/// An agent who was not consulted (a supervisor looking in) joins live chat `id`, hidden from
/// the customer. If the bot is consulting that very agent, this is the consulted agent joining.
pub(crate) fn joins(st: &mut State, id: &str, agent: &str) -> Result<(), SimError> {
    let agent = known_agent(st, agent)?;
    on_chat(st, id, |st, chat| {
        match chat.state {
            ChatState::Ended => return Err(SimError::ChatEnded(id.to_owned())),
            ChatState::Queued | ChatState::Invited => {
                return Err(SimError::NotAccepted(id.to_owned()));
            }
            ChatState::Chatting => {}
        }
        if !chat.customer_present {
            return Err(SimError::CustomerLeft(id.to_owned()));
        }
        if chat.present(&agent.id).is_some() {
            return Err(SimError::AgentPresent {
                chat: id.to_owned(),
                agent: agent.id.clone(),
            });
        }
        let consulted = chat
            .consult
            .as_mut()
            .filter(|c| !c.joined && c.agent.id == agent.id);
        let role = match consulted {
            Some(consult) => {
                consult.joined = true;
                Role::Consulting
            }
            None => Role::LookingIn,
        };
        join_hidden(st, chat, &agent, role);
        Ok(())
    })
}

/// Agent `agent`, in chat `id`, writes `text`: to agents only while consulting or looking in,
/// to everyone once conferenced in or handed the chat.
pub(crate) fn says(st: &mut State, id: &str, agent: &str, text: &str) -> Result<(), SimError> {
    let agent = known_agent(st, agent)?;
    on_chat(st, id, |st, chat| {
        let visibility = chat
            .present(&agent.id)
            .ok_or_else(|| absent(chat, &agent.id))?
            .role
            .visibility();
        let entry = chat.agent_entry(st, &agent, "Text", Some(text.to_owned()), visibility);
        if chat.bot_is_in() {
            chat.notify(st, Note::Messages(&[entry]), None);
        }
        Ok(())
    })
}

/// Agent `agent` leaves chat `id`: their `ParticipantLeft` entry, then a participants update
/// without them. A consultation with them is over.
pub(crate) fn leaves(st: &mut State, id: &str, agent: &str) -> Result<(), SimError> {
    let agent = known_agent(st, agent)?;
    on_chat(st, id, |st, chat| {
        let role = chat
            .present(&agent.id)
            .ok_or_else(|| absent(chat, &agent.id))?
            .role;
        chat.agents.retain(|a| a.agent.id != agent.id);
        chat.progress.send_modify(|p| p.agents_left += 1);
        if chat
            .consult
            .as_ref()
            .is_some_and(|c| c.agent.id == agent.id)
        {
            chat.consult = None;
            chat.consult_generation += 1;
        }
        announce(st, chat, Notices::EntryFirst, None, |st, chat| {
            chat.agent_entry(st, &agent, "ParticipantLeft", None, role.visibility())
        });
        Ok(())
    })
}

/// Others finish chat `id` (e.g. the conferenced agent ends it): the customer is removed (their
/// `ParticipantLeft` entry, then a participants update), the agents are gone, and the bot's
/// copy turns `Completed` with [`ChatOutcome::ClosedByOthers`] (or
/// [`ChatOutcome::Conference`] after a conference).
pub(crate) fn close(st: &mut State, id: &str) -> Result<(), SimError> {
    on_chat(st, id, |st, chat| {
        match chat.state {
            ChatState::Queued | ChatState::Invited => {
                return Err(SimError::NotAccepted(id.to_owned()));
            }
            ChatState::Ended if !chat.customer_present && chat.agents.is_empty() => {
                return Err(SimError::ChatEnded(id.to_owned()));
            }
            ChatState::Ended | ChatState::Chatting => {}
        }
        if chat.customer_present {
            chat.customer_present = false;
            announce(st, chat, Notices::EntryFirst, None, |st, chat| {
                chat.customer_entry(st, "ParticipantLeft", None)
            });
        }
        chat.agents.clear();
        if chat.state == ChatState::Chatting {
            chat.finish(st, ChatOutcome::ClosedByOthers, None);
        }
        Ok(())
    })
}

/// Plays a conferenced agent's script until it ends, the agent is gone, or the chat leaves
/// the bot.
pub(crate) async fn run_script(
    shared: Arc<Shared>,
    chat: String,
    agent: String,
    steps: Vec<AgentStep>,
) {
    let Some(progress) = shared
        .lock()
        .chats
        .get(&chat)
        .map(|c| c.progress.subscribe())
    else {
        return;
    };
    for step in steps {
        let after = match &step {
            AgentStep::Say { after, .. } | AgentStep::Leave { after } => *after,
        };
        if !pause(&shared, after).await || progress.borrow().ended {
            return;
        }
        let result = match &step {
            AgentStep::Say { text, .. } => says(&mut shared.lock(), &chat, &agent, text),
            AgentStep::Leave { .. } => leaves(&mut shared.lock(), &chat, &agent),
        };
        if let Err(e) = result {
            tracing::debug!(chat = %chat, agent = %agent, error = %e, "agent script stopped");
            return;
        }
    }
}
