//! The bot in a conference: a consulted agent joined the customer's conversation next to the
//! bot (a team with `mode = "conference"`). While any human agent is in the chat the bot says
//! nothing: what the customer writes then is the human's to answer, and counts as handled for
//! good. The bot finishes its own part when others finish the chat or the customer leaves; when
//! the humans have left and the customer is still there, it answers again with `resume = true`
//! (the agent handed the customer back), and otherwise says goodbye and closes.

use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{Chat, End, Input, Next, Said};
use crate::chat::escalation::step;
use crate::event::{Message, MessageKind, ParticipantKind};
use crate::responder::Team;

/// The event ids of the customer texts in `messages` written after the last agent's
/// `ParticipantLeft` entry. Once no human agent is in a conference, these came after the humans
/// had left, so they are the bot's to answer (with `resume = true`); the texts before it were
/// the humans'. `None` when no agent left in `messages`: then nothing tells which texts came
/// after (a server that announces leaving by the participants list alone), and all of them
/// count as the humans'.
pub(crate) fn texts_after_agents_left(messages: &[Message]) -> Option<Vec<String>> {
    let left = messages.iter().rposition(|m| {
        m.kind == MessageKind::ParticipantLeft && m.from.kind == ParticipantKind::Agent
    })?;
    Some(
        messages[left + 1..]
            .iter()
            .filter(|m| m.is_customer_text())
            .filter_map(|m| m.event_id.clone())
            .collect(),
    )
}

/// Split `texts` into those written after the humans left (`after`) and the others.
pub(crate) fn split_after(texts: Vec<Said>, after: &[String]) -> (Vec<Said>, Vec<Said>) {
    texts
        .into_iter()
        .partition(|s| s.id.as_ref().is_some_and(|id| after.contains(id)))
}

impl Chat {
    /// Stay in the conference with `agent` until the bot's part ends (`Some`), or until the
    /// humans have left and the team resumes (`None`: the bot answers again).
    pub(crate) async fn in_conference(
        &mut self,
        team: &Team,
        agent: &str,
        started: Instant,
    ) -> Option<End> {
        let handed = || End::HandedOver {
            to: format!("conference with agent {agent}"),
        };
        // Texts of an update that also showed the last human leave, written after that.
        let mut ours = Vec::new();
        loop {
            if self.human_agents().is_empty() {
                let end = self.after_conference(team, agent, started).await;
                if end.is_none() {
                    for said in ours {
                        if let Some(end) = Box::pin(self.on_customer_text(said)).await {
                            return Some(end);
                        }
                    }
                }
                return end;
            }
            match self.next(None).await {
                Next::Input(Input::Update(update)) => {
                    let seen = self.absorb(&update);
                    let mut theirs = seen.texts;
                    if team.resume && self.human_agents().is_empty() {
                        if let Some(after) = texts_after_agents_left(&update.messages) {
                            (ours, theirs) = split_after(theirs, &after);
                        }
                    }
                    for said in theirs {
                        debug!("the customer wrote in the conference; the agent answers");
                        self.handled(said.id);
                    }
                    if seen.finished {
                        info!(agent, "the conference was finished by others");
                        step(self, &team.name, "conference_finished", None);
                        return Some(handed());
                    }
                    if seen.customer_left {
                        step(self, &team.name, "customer_left", Some(agent.to_owned()));
                        return Some(match self.close("the customer left the conference").await {
                            End::Closed { .. } => handed(),
                            other => other,
                        });
                    }
                }
                Next::Input(Input::CatchUp) => self.catch_up().await,
                Next::Input(Input::Unlisted(_)) | Next::Timeout => {}
                Next::Closed => return Some(End::Abandoned),
                Next::Deadline => {
                    // Shutting down: the bot leaves its part; the agent keeps the customer.
                    return Some(match self.close("the bot is shutting down").await {
                        End::Closed { .. } => handed(),
                        other => other,
                    });
                }
            }
        }
    }

    /// Every human agent has left the conference while the customer is still there.
    async fn after_conference(
        &mut self,
        team: &Team,
        agent: &str,
        started: Instant,
    ) -> Option<End> {
        let after = started.elapsed();
        if team.resume {
            info!(
                agent,
                ?after,
                "the agent left the conference; the bot answers again"
            );
            step(self, &team.name, "resumed", Some(agent.to_owned()));
            self.record.escalation = None;
            self.save();
            self.activity();
            return None;
        }
        info!(
            agent,
            ?after,
            "the agent left the conference; closing the chat"
        );
        step(self, &team.name, "conference_ended", Some(agent.to_owned()));
        self.record.finish = Some(crate::store::state::Finish::Close);
        self.save();
        let goodbye = self.ctx.texts.conference_ended.clone();
        if let Err(e) = self.say(&goodbye).await {
            warn!(error = %e, "could not tell the customer");
        }
        Some(self.close("the agent left the conference").await)
    }

    /// The hand-over summary for the joining agent (agents-only text): who the customer is,
    /// how far the bot got, and the chat's attached data.
    pub(crate) fn summary(&self, team: &str) -> String {
        let customer = self.memory.customer().unwrap_or("the customer");
        let mut text = format!(
            "Hand-over from {bot} (team {team}): {customer} wrote {turn} message(s); \
             {unanswered} in a row without an answer.",
            bot = self.ctx.nickname,
            turn = self.turn,
            unanswered = self.unanswered,
        );
        if !self.memory.user_data.is_empty() {
            let data: Vec<String> = self
                .memory
                .user_data
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) => format!("{k}={s}"),
                    None => format!("{k}={v}"),
                })
                .collect();
            text.push_str(&format!(" Attached data: {}.", data.join(", ")));
        }
        text
    }
}
