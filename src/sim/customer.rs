//! Customers: what they say and when they leave, by hand through [`super::Control`] or from a
//! [`Step`] script, plus the timers and scripts that operations start (consulted agents
//! joining, conferenced agents' scripts, injected asynchronous failures).

use std::sync::Arc;
use std::time::Duration;

use super::agents::{self, announce};
use super::chats::{Chat, with_chat};
use super::effect::Effect;
use super::model::Progress;
use super::ops;
use super::state::{Shared, State, pause};
use super::types::{ChatOutcome, ChatState, SimError, SimEvent, Step};
use super::wire::Note;

/// How long after accepting an operation an injected asynchronous failure is notified (a real
/// server answers first and learns of the failure from the contact centre later).
const ASYNC_ERROR_DELAY: Duration = Duration::from_millis(50);

fn live_chat<'a>(st: &'a State, id: &str) -> Result<&'a Chat, SimError> {
    let chat = st
        .chats
        .get(id)
        .ok_or_else(|| SimError::UnknownChat(id.to_owned()))?;
    if chat.state == ChatState::Ended {
        return Err(SimError::ChatEnded(id.to_owned()));
    }
    if !chat.customer_present {
        return Err(SimError::CustomerLeft(id.to_owned()));
    }
    Ok(chat)
}

/// The customer types `text`; the owning bot sees it when the chat is live.
pub(crate) fn says(st: &mut State, id: &str, text: &str) -> Result<(), SimError> {
    live_chat(st, id)?;
    with_chat(st, id, |st, chat| {
        let entry = chat.customer_entry(st, "Text", Some(text.to_owned()));
        if chat.bot_is_in() {
            chat.notify(st, Note::Messages(&[entry]), None);
        }
    });
    Ok(())
}

/// The customer leaves. A chat nobody accepted yet ends as [`ChatOutcome::Abandoned`]; a live
/// chat stays with the bot, which should finish it. A live chat's bot hears of it per
/// [`super::Readings::customer_leaves`].
pub(crate) fn leaves(st: &mut State, id: &str) -> Result<(), SimError> {
    live_chat(st, id)?;
    with_chat(st, id, |st, chat| {
        chat.customer_present = false;
        match chat.state {
            ChatState::Chatting => {
                let notices = st.readings.customer_leaves;
                announce(st, chat, notices, None, |st, chat| {
                    chat.customer_entry(st, "ParticipantLeft", None)
                });
            }
            ChatState::Queued | ChatState::Invited => {
                chat.customer_entry(st, "ParticipantLeft", None);
                chat.state = ChatState::Ended;
                chat.outcome = Some(ChatOutcome::Abandoned);
                chat.progress.send_modify(|p| p.ended = true);
                chat.notify(st, Note::Status, None);
                st.emit(SimEvent::State {
                    chat: id.to_owned(),
                    state: ChatState::Ended,
                });
                st.emit(SimEvent::Ended {
                    chat: id.to_owned(),
                    outcome: ChatOutcome::Abandoned,
                });
            }
            ChatState::Ended => {}
        }
    });
    Ok(())
}

/// Starts the timers and scripts that an operation asked for.
pub(crate) fn spawn_effects(shared: &Arc<Shared>, effects: Vec<Effect>) {
    for effect in effects {
        let shared = Arc::clone(shared);
        match effect {
            Effect::ConsultJoin {
                chat,
                generation,
                after,
            } => {
                tokio::spawn(async move {
                    if pause(&shared, after).await {
                        agents::consult_join(&mut shared.lock(), &chat, generation);
                    }
                });
            }
            Effect::Script { chat, steps, mark } => {
                tokio::spawn(run_script(shared, chat, steps, mark));
            }
            Effect::AgentScript { chat, agent, steps } => {
                tokio::spawn(agents::run_script(shared, chat, agent, steps));
            }
            Effect::AsyncError {
                chat,
                reference,
                message,
            } => {
                tokio::spawn(async move {
                    if pause(&shared, ASYNC_ERROR_DELAY).await {
                        ops::async_error(&mut shared.lock(), &chat, reference, &message);
                    }
                });
            }
        }
    }
}

/// Plays a customer's script until it ends or the chat leaves the bot.
async fn run_script(shared: Arc<Shared>, chat: String, steps: Vec<Step>, mut mark: Progress) {
    let Some(mut progress) = shared
        .lock()
        .chats
        .get(&chat)
        .map(|c| c.progress.subscribe())
    else {
        return;
    };
    for step in steps {
        if progress.borrow().ended {
            return;
        }
        let result = match step {
            Step::Say { after, text } => {
                if !pause(&shared, after).await || progress.borrow().ended {
                    return;
                }
                // The mark is taken under the lock the message is posted under: a bot
                // answering before this task runs again is not counted as already seen
                // (the task may be descheduled right after the lock is released).
                let mut st = shared.lock();
                let said = says(&mut st, &chat, &text);
                mark = *progress.borrow();
                drop(st);
                if let Err(e) = said {
                    tracing::debug!(chat = %chat, error = %e, "customer script stopped");
                    return;
                }
                continue;
            }
            Step::AwaitReply => {
                let ended = tokio::select! {
                    r = progress.wait_for(|p| p.bot_texts > mark.bot_texts || p.ended) => r.map(|p| p.ended).unwrap_or(true),
                    () = shared.shutdown.cancelled() => true,
                };
                if ended {
                    return;
                }
                Ok(())
            }
            Step::AwaitAgentLeft => {
                let ended = tokio::select! {
                    r = progress.wait_for(|p| p.agents_left > mark.agents_left || p.ended) => r.map(|p| p.ended).unwrap_or(true),
                    () = shared.shutdown.cancelled() => true,
                };
                if ended {
                    return;
                }
                Ok(())
            }
            Step::Leave { after } => {
                if !pause(&shared, after).await || progress.borrow().ended {
                    return;
                }
                leaves(&mut shared.lock(), &chat)
            }
        };
        if let Err(e) = result {
            tracing::debug!(chat = %chat, error = %e, "customer script stopped");
            return;
        }
        mark = *progress.borrow();
    }
}
