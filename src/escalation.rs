//! Hand a chat to a human: consult the team's agents one after another, complete the transfer
//! to the first who joins, fall back to a single-step transfer to the team's skill, and when
//! that fails too tell the customer and close the chat. The customer hears what is happening at
//! each step (texts from `[escalation]` in the configuration).
//!
//! GWS has no documented way to cancel a chat consultation; consulting the next agent replaces
//! an unanswered one, which is what `docs/gws-protocol.md` §7.3 proposes.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{Instrument, info, info_span, warn};

use crate::chat::{Chat, End, Input, Next};
use crate::decision_log::Decision;
use crate::gws::Operation;
use crate::responder::Team;
use crate::state::{self, Stage};

/// Run the escalation for `chat` to `team` until the chat is handed over or closed.
pub async fn run(chat: &mut Chat, team: &Team) -> End {
    let span = info_span!("escalation", team = %team.name);
    escalate(chat, team, 0, Stage::Decided)
        .instrument(span)
        .await
}

/// Continue a hand-over that a restart interrupted, from the step it had got to; nothing the
/// customer was told is told again, and an agent who joined meanwhile gets the chat at once.
pub async fn resume(chat: &mut Chat, step: state::Escalation) -> End {
    let team = Team {
        name: step.team,
        agents: step.agents,
        skill: step.skill,
        wait: Duration::from_millis(step.wait_ms),
    };
    let span = info_span!("escalation", team = %team.name);
    async {
        info!(agent = step.agent, stage = ?step.stage, "resuming the hand-over");
        escalate(chat, &team, step.agent, step.stage).await
    }
    .instrument(span)
    .await
}

/// Record an escalation step in the chat's decision log.
fn step(chat: &Chat, team: &Team, step: &str, detail: Option<String>) {
    chat.note(Decision::Escalation {
        team: team.name.clone(),
        step: step.into(),
        detail,
    });
}

/// Save how far the hand-over got (before telling the customer, so that a restart never tells
/// them twice). From `Consulting` on, the message that asked for it counts as handled.
pub(crate) fn mark(chat: &mut Chat, team: &Team, agent: usize, stage: Stage) {
    if stage != Stage::Decided {
        let answering = chat.record.answering.take();
        if answering.is_some() {
            chat.memory.handled_through(answering.clone());
            chat.record.cursor = answering;
        }
    }
    chat.record.escalation = Some(state::Escalation {
        team: team.name.clone(),
        agents: team.agents.clone(),
        skill: team.skill.clone(),
        wait_ms: u64::try_from(team.wait.as_millis()).unwrap_or(u64::MAX),
        agent,
        stage,
    });
    chat.save();
}

/// Run the hand-over from `agent` at `stage` (`Decided` for a new one).
async fn escalate(chat: &mut Chat, team: &Team, agent: usize, stage: Stage) -> End {
    let started = Instant::now();
    if stage == Stage::Decided {
        info!(agents = team.agents.len(), "escalating");
        chat.ctx.stats.escalation_started();
        step(
            chat,
            team,
            "started",
            Some(format!("agents to consult: {}", team.agents.join(", "))),
        );
        mark(chat, team, 0, Stage::Consulting);
        let consulting = chat.ctx.texts.consulting.clone();
        if let Err(e) = chat.say(&consulting).await {
            warn!(error = %e, "could not tell the customer about the hand-over");
        }
    }
    let resumed = stage != Stage::Decided;
    if stage != Stage::Queued {
        for (index, id) in team.agents.iter().enumerate().skip(agent) {
            let consulted = if resumed && index == agent && stage == Stage::Connected {
                Consulted::Told
            } else if resumed && index == agent && chat.has_agent(id) {
                info!(agent = %id, "the consulted agent joined while the bot was away");
                Consulted::Joined
            } else {
                mark(chat, team, index, Stage::Consulting);
                consult(chat, id, team).await
            };
            match consulted {
                Consulted::Joined | Consulted::Told => {
                    if matches!(consulted, Consulted::Joined) {
                        mark(chat, team, index, Stage::Connected);
                        let connected = chat.ctx.texts.connected.clone();
                        if let Err(e) = chat.say(&connected).await {
                            warn!(error = %e, "could not tell the customer");
                        }
                    }
                    match chat
                        .exec(Operation::CompleteTransfer {
                            agent_id: id.clone(),
                        })
                        .await
                    {
                        Ok(()) => {
                            info!(agent = %id, "chat handed to the agent");
                            step(chat, team, "transferred", Some(id.clone()));
                            chat.ctx.stats.escalation_ended("agent", started.elapsed());
                            return End::HandedOver {
                                to: format!("agent {id}"),
                            };
                        }
                        Err(e) => {
                            warn!(agent = %id, error = %e, "CompleteTransfer failed");
                            step(chat, team, "transfer_failed", Some(format!("{id}: {e}")));
                        }
                    }
                }
                Consulted::NoAnswer => {
                    info!(agent = %id, "the agent did not join in time");
                    step(
                        chat,
                        team,
                        "no_answer",
                        Some(format!("{id} did not join within {:?}", team.wait)),
                    );
                }
                Consulted::Refused => {}
                Consulted::Over(end) => {
                    step(chat, team, "ended", Some(end.label().into()));
                    chat.ctx.stats.escalation_ended("ended", started.elapsed());
                    return end;
                }
            }
        }
    }
    let end = match team
        .skill
        .clone()
        .or_else(|| chat.ctx.fallback_skill.clone())
    {
        Some(skill) => {
            step(chat, team, "to_skill", Some(skill.clone()));
            if stage != Stage::Queued {
                mark(chat, team, team.agents.len(), Stage::Queued);
                let queued = chat.ctx.texts.queued.clone();
                if let Err(e) = chat.say(&queued).await {
                    warn!(error = %e, "could not tell the customer");
                }
            }
            chat.transfer_to_skill(&skill).await
        }
        None => {
            warn!("nobody joined and the team has no skill to transfer to");
            step(
                chat,
                team,
                "nobody",
                Some("no agent joined and there is no skill to transfer to".into()),
            );
            chat.give_up().await
        }
    };
    let outcome = match &end {
        End::HandedOver { .. } => "skill",
        _ => "failed",
    };
    chat.ctx.stats.escalation_ended(outcome, started.elapsed());
    end
}

enum Consulted {
    Joined,
    /// A resumed hand-over had told the customer the agent is there: transfer now.
    Told,
    NoAnswer,
    Refused,
    /// The chat ended while waiting (customer left, GWS finished it, daemon stopping).
    Over(End),
}

async fn consult(chat: &mut Chat, agent: &str, team: &Team) -> Consulted {
    let op = Operation::StartConsultation {
        agent_id: agent.to_owned(),
    };
    if let Err(e) = chat.exec(op).await {
        warn!(agent, error = %e, "consultation refused");
        step(chat, team, "refused", Some(format!("{agent}: {e}")));
        return Consulted::Refused;
    }
    info!(agent, wait = ?team.wait, "consulting");
    step(
        chat,
        team,
        "consulting",
        Some(format!("{agent}, waiting up to {:?}", team.wait)),
    );
    let deadline = Instant::now() + team.wait;
    loop {
        match chat.next(Some(deadline)).await {
            Next::Input(Input::Update(update)) => {
                // Customer messages while waiting are remembered (so they are never
                // answered later) but not answered: a human is about to take over.
                let seen = chat.absorb(&update);
                if seen.finished {
                    return Consulted::Over(End::Gone);
                }
                if seen.customer_left {
                    return Consulted::Over(
                        chat.close("the customer left during the hand-over").await,
                    );
                }
                if seen.joined.iter().any(|id| id == agent) {
                    step(chat, team, "joined", Some(agent.to_owned()));
                    return Consulted::Joined;
                }
            }
            Next::Input(Input::CatchUp) => chat.catch_up().await,
            Next::Input(Input::Unlisted) => {}
            Next::Timeout => return Consulted::NoAnswer,
            Next::Closed => return Consulted::Over(End::Abandoned),
            Next::Deadline => return Consulted::Over(chat.hand_over_at_deadline().await),
        }
    }
}
