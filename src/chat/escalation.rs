//! Hand a chat to a human: consult the team's agents one after another, and once the consulted
//! agent has joined either transfer the chat to them or (`mode = "conference"`) bring them into
//! the customer's conversation next to the bot (see `chat::conference`); fall back to a
//! single-step transfer to the team's skill, and when that fails too tell the customer and close
//! the chat. The customer hears what is happening at each step (texts from `[escalation]` in the
//! configuration).
//!
//! Who has joined is read as real servers show it (docs/gws-protocol.md, the readings section):
//! a participant's `participantId` is opaque, so the consulted agent is a human agent who was
//! not in the chat when the consultation began and, where the server names users, is that
//! user. Where it names nobody, a newcomer may be someone else: GWS then refuses to complete
//! the consultation, and the bot waits on for the one it consulted.
//!
//! GWS has no documented way to cancel a chat consultation; consulting the next agent replaces
//! an unanswered one, which is what `docs/gws-protocol.md` §7.3 proposes.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{Instrument, info, info_span, warn};

use crate::chat::{Chat, End, Input, Next};
use crate::gws::{self, Operation};
use crate::responder::{Team, TeamMode};
use crate::store::decision_log::Decision;
use crate::store::state::{self, Stage};

/// Run the escalation for `chat` to `team` until the chat is handed over or closed; `None`
/// when the bot goes on answering (a conference whose human left, with `resume = true`).
pub async fn run(chat: &mut Chat, team: &Team) -> Option<End> {
    let span = info_span!("escalation", team = %team.name);
    escalate(chat, team, 0, Stage::Decided, Vec::new())
        .instrument(span)
        .await
}

/// Continue a hand-over that a restart interrupted, from the step it had got to; nothing the
/// customer was told is told again, and an agent who joined meanwhile gets the chat at once.
pub async fn resume(chat: &mut Chat, step: state::Escalation) -> Option<End> {
    let team = Team {
        name: step.team,
        agents: step.agents,
        skill: step.skill,
        wait: Duration::from_millis(step.wait_ms),
        mode: step.mode,
        resume: step.resume,
    };
    let span = info_span!("escalation", team = %team.name);
    async {
        info!(agent = step.agent, stage = ?step.stage, "resuming the hand-over");
        escalate(chat, &team, step.agent, step.stage, step.present).await
    }
    .instrument(span)
    .await
}

/// Record an escalation step in the chat's decision log.
pub(crate) fn step(chat: &Chat, team: &str, step: &str, detail: Option<String>) {
    chat.note(Decision::Escalation {
        team: team.to_owned(),
        step: step.into(),
        detail,
    });
}

/// Save how far the hand-over got (before telling the customer, so that a restart never tells
/// them twice), with who cannot be the agent being consulted (`present`). From `Consulting`
/// on, the message that asked for it counts as handled.
pub(crate) fn mark(chat: &mut Chat, team: &Team, agent: usize, stage: Stage, present: &[String]) {
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
        mode: team.mode,
        resume: team.resume,
        present: present.to_vec(),
    });
    chat.save();
}

/// Run the hand-over from `agent` at `stage` (`Decided` for a new one); `present` as saved.
async fn escalate(
    chat: &mut Chat,
    team: &Team,
    agent: usize,
    stage: Stage,
    present: Vec<String>,
) -> Option<End> {
    let started = Instant::now();
    if stage == Stage::Decided {
        info!(
            agents = team.agents.len(),
            mode = team.mode.name(),
            "escalating"
        );
        chat.ctx.stats.escalation_started();
        step(
            chat,
            &team.name,
            "started",
            Some(format!("agents to consult: {}", team.agents.join(", "))),
        );
        mark(chat, team, 0, Stage::Consulting, &[]);
        let consulting = chat.ctx.texts.consulting.clone();
        if let Err(e) = chat.say(&consulting).await {
            warn!(error = %e, "could not tell the customer about the hand-over");
        }
    }
    if stage == Stage::Conferenced {
        let id = team.agents.get(agent).cloned().unwrap_or_default();
        return chat.in_conference(team, &id, started).await;
    }
    if stage != Stage::Queued {
        let mut present = present;
        for (index, id) in team.agents.iter().enumerate().skip(agent) {
            let resuming = stage != Stage::Decided && index == agent;
            let at = Hand {
                team,
                index,
                id,
                started,
            };
            if let Some(end) =
                consult_and_hand(chat, at, resuming.then_some(stage), &mut present).await
            {
                return end;
            }
        }
    }
    Some(to_skill(chat, team, stage, started).await)
}

/// The agent being consulted in a hand-over.
#[derive(Clone, Copy)]
struct Hand<'a> {
    team: &'a Team,
    /// The agent's place in the team's list.
    index: usize,
    id: &'a str,
    started: Instant,
}

/// Consult one agent (or, resuming at `resumed`, go on where a restart stopped) and hand the
/// chat to them once they have joined. `None` when the next agent is to be tried; otherwise
/// what became of the chat (`Some(None)`: a conference whose human left, and the bot goes on).
async fn consult_and_hand(
    chat: &mut Chat,
    at: Hand<'_>,
    resumed: Option<Stage>,
    present: &mut Vec<String>,
) -> Option<Option<End>> {
    let (team, id) = (at.team, at.id);
    // Resumed after the conference request may have gone out (see `Stage::Completing`).
    let completing = resumed == Some(Stage::Completing);
    let mut told = completing || resumed == Some(Stage::Connected);
    let (mut consulted, deadline) = begin(chat, at, resumed, present).await;
    let mut briefed = completing;
    loop {
        match consulted {
            Consulted::Joined => {
                before_completing(chat, at, present, &mut told, &mut briefed).await;
                match complete(chat, team, id).await {
                    Ok(()) => return Some(handed(chat, at, present).await),
                    Err(e) if is_not_yet(&e) && completing => {
                        // The consultation the bot saw joined is gone: the conference was made
                        // before the restart, and the agent is in the customer's conversation.
                        info!(agent = %id, "the conference was made before the restart");
                        return Some(handed(chat, at, present).await);
                    }
                    Err(e) if is_not_yet(&e) && Instant::now() < deadline => {
                        // A server that names nobody showed a newcomer who was someone else.
                        info!(agent = %id, "GWS says the consulted agent has not joined yet; waiting on");
                        step(
                            chat,
                            &team.name,
                            "not_joined_yet",
                            Some(format!("{id}: {e}")),
                        );
                        *present = chat.human_agents();
                        mark(chat, team, at.index, Stage::Connected, present);
                        consulted = wait_for(chat, id, team, deadline, present).await;
                    }
                    Err(e) => {
                        warn!(agent = %id, error = %e, "completing the consultation failed");
                        step(
                            chat,
                            &team.name,
                            "transfer_failed",
                            Some(format!("{id}: {e}")),
                        );
                        return None;
                    }
                }
            }
            Consulted::NoAnswer => {
                info!(agent = %id, "the agent did not join in time");
                step(
                    chat,
                    &team.name,
                    "no_answer",
                    Some(format!("{id} did not join within {:?}", team.wait)),
                );
                return None;
            }
            Consulted::Refused => return None,
            Consulted::Over(end) => {
                step(chat, &team.name, "ended", Some(end.label().into()));
                chat.ctx
                    .stats
                    .escalation_ended("ended", at.started.elapsed());
                return Some(Some(end));
            }
        }
    }
}

/// The consulted agent has joined: tell the customer (once), brief a conference agent (once),
/// and save that the conference request is about to go out.
async fn before_completing(
    chat: &mut Chat,
    at: Hand<'_>,
    present: &[String],
    told: &mut bool,
    briefed: &mut bool,
) {
    let team = at.team;
    if !*told {
        mark(chat, team, at.index, Stage::Connected, present);
        let connected = chat.ctx.texts.connected.clone();
        if let Err(e) = chat.say(&connected).await {
            warn!(error = %e, "could not tell the customer");
        }
        *told = true;
    }
    if team.mode == TeamMode::Conference {
        if !*briefed {
            brief(chat, team, at.id).await;
            *briefed = true;
        }
        mark(chat, team, at.index, Stage::Completing, present);
    }
}

/// Where the consultation with `at.id` stands: joined already (resuming after the customer
/// was told, or the agent joined while the bot was away), or consulted now and waited for;
/// with the deadline for the agent to join.
async fn begin(
    chat: &mut Chat,
    at: Hand<'_>,
    resumed: Option<Stage>,
    present: &mut Vec<String>,
) -> (Consulted, Instant) {
    let (team, id) = (at.team, at.id);
    if matches!(resumed, Some(Stage::Connected | Stage::Completing)) {
        return (Consulted::Joined, Instant::now() + team.wait);
    }
    if resumed.is_some() && chat.consulted(id, present).is_some() {
        info!(agent = %id, "the consulted agent joined while the bot was away");
        return (Consulted::Joined, Instant::now() + team.wait);
    }
    *present = chat.human_agents();
    mark(chat, team, at.index, Stage::Consulting, present);
    let consulted = consult(chat, id, team).await;
    let deadline = Instant::now() + team.wait;
    match consulted {
        Some(()) => (wait_for(chat, id, team, deadline, present).await, deadline),
        None => (Consulted::Refused, deadline),
    }
}

/// `statusCode` 2 on completing a consultation: GWS sees nobody to hand the chat to yet.
fn is_not_yet(e: &gws::Error) -> bool {
    e.status() == Some(gws::Status::InvalidState)
}

/// Turn the consultation with `id` into a transfer or a conference, as the team says.
async fn complete(chat: &mut Chat, team: &Team, id: &str) -> Result<(), gws::Error> {
    let agent_id = id.to_owned();
    match team.mode {
        TeamMode::Transfer => chat.exec(Operation::CompleteTransfer { agent_id }).await,
        TeamMode::Conference => chat.exec(Operation::CompleteConference { agent_id }).await,
    }
}

/// The consultation became a transfer or a conference.
async fn handed(chat: &mut Chat, at: Hand<'_>, present: &[String]) -> Option<End> {
    let (team, id) = (at.team, at.id);
    match team.mode {
        TeamMode::Transfer => {
            info!(agent = %id, "chat handed to the agent");
            step(chat, &team.name, "transferred", Some(id.to_owned()));
            chat.ctx
                .stats
                .escalation_ended("agent", at.started.elapsed());
            Some(End::HandedOver {
                to: format!("agent {id}"),
            })
        }
        TeamMode::Conference => {
            info!(agent = %id, "agent brought into the conversation (conference)");
            step(chat, &team.name, "conferenced", Some(id.to_owned()));
            chat.ctx
                .stats
                .escalation_ended("conference", at.started.elapsed());
            mark(chat, team, at.index, Stage::Conferenced, present);
            chat.in_conference(team, id, at.started).await
        }
    }
}

/// Give the joined agent a short hand-over summary, where the dialect has agents-only text.
async fn brief(chat: &mut Chat, team: &Team, id: &str) {
    if !chat.ctx.gws.dialect().agent_notes() {
        return;
    }
    let text = chat.summary(&team.name);
    if let Err(e) = chat.exec(Operation::NoteToAgents { text }).await {
        warn!(agent = %id, error = %e, "could not give the agent the hand-over summary");
    }
}

/// Nobody took the chat from the agents' list: transfer it to the team's skill (or the
/// fallback skill), or tell the customer and close it.
async fn to_skill(chat: &mut Chat, team: &Team, stage: Stage, started: Instant) -> End {
    let end = match team
        .skill
        .clone()
        .or_else(|| chat.ctx.fallback_skill.clone())
    {
        Some(skill) => {
            step(chat, &team.name, "to_skill", Some(skill.clone()));
            if stage != Stage::Queued {
                mark(chat, team, team.agents.len(), Stage::Queued, &[]);
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
                &team.name,
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
    NoAnswer,
    Refused,
    /// The chat ended while waiting (customer left, GWS finished it, daemon stopping).
    Over(End),
}

/// Start consulting `agent`; `None` when GWS refused.
async fn consult(chat: &mut Chat, agent: &str, team: &Team) -> Option<()> {
    let op = Operation::StartConsultation {
        agent_id: agent.to_owned(),
    };
    if let Err(e) = chat.exec(op).await {
        warn!(agent, error = %e, "consultation refused");
        step(chat, &team.name, "refused", Some(format!("{agent}: {e}")));
        return None;
    }
    info!(agent, wait = ?team.wait, "consulting");
    step(
        chat,
        &team.name,
        "consulting",
        Some(format!("{agent}, waiting up to {:?}", team.wait)),
    );
    Some(())
}

/// Wait until `deadline` for the consulted `agent` to join (anyone who is not in `present`).
async fn wait_for(
    chat: &mut Chat,
    agent: &str,
    team: &Team,
    deadline: Instant,
    present: &[String],
) -> Consulted {
    loop {
        if chat.consulted(agent, present).is_some() {
            step(chat, &team.name, "joined", Some(agent.to_owned()));
            return Consulted::Joined;
        }
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
            }
            Next::Input(Input::CatchUp) => chat.catch_up().await,
            Next::Input(Input::Unlisted(_)) => {}
            Next::Timeout => return Consulted::NoAnswer,
            Next::Closed => return Consulted::Over(End::Abandoned),
            Next::Deadline => return Consulted::Over(chat.hand_over_at_deadline().await),
        }
    }
}
