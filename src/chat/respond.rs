//! Answering the customer: take in an update, ask the responder chain about each new text
//! (or another trigger), record the decision, carry out the actions and the decided end.

use tracing::{debug, error, warn};

use super::{Chat, End, Said, limit_text};
use crate::event::{ChatUpdate, UpdateKind};
use crate::gws::Operation;
use crate::responder::{Action, ChatView, Line, Response, Speaker, Then, Trigger, Verdict};
use crate::store::decision_log::Decision;
use crate::store::state::Finish;

pub(super) fn trigger_name(trigger: &Trigger) -> &'static str {
    match trigger {
        Trigger::Accepted => "accepted",
        Trigger::Message { .. } => "message",
        Trigger::Idle { .. } => "idle",
        Trigger::EscalationFailed => "escalation_failed",
    }
}

/// The decision-log record of a response about to be carried out; `message_id` is the
/// transcript id of the customer message it answers.
pub(super) fn responded(
    trigger: &Trigger,
    responder: &str,
    message_id: Option<&str>,
    response: &Response,
) -> Decision {
    let mut replies = Vec::new();
    let mut attached = Vec::new();
    for action in &response.actions {
        match action {
            Action::Reply(text) => replies.push(text.clone()),
            Action::Attach(data) => attached.extend(data.keys().cloned()),
            Action::Typing(_) => {}
        }
    }
    let then = match &response.then {
        Then::Stay => "stay".to_owned(),
        Then::Close => "close".to_owned(),
        Then::Escalate(team) => match team.mode {
            crate::responder::TeamMode::Transfer => format!("escalate to team {}", team.name),
            mode => format!("escalate to team {} ({})", team.name, mode.name()),
        },
        Then::Transfer(skill) => format!("transfer to skill {skill}"),
    };
    Decision::Responded {
        trigger: trigger_name(trigger).into(),
        responder: responder.to_owned(),
        message_id: message_id.map(str::to_owned),
        rules: response.acted.clone(),
        matched: response.matched,
        replies,
        reply_chars: Vec::new(),
        attached,
        then,
    }
}

impl Chat {
    pub(super) async fn on_update(&mut self, update: &ChatUpdate) -> Option<End> {
        if update.kind == UpdateKind::Error {
            warn!(
                reference_id = update.reference_id,
                error = update.error.as_deref().unwrap_or(""),
                "GWS reported an error for this chat"
            );
        }
        let seen = self.absorb(update);
        if let Some(id) = seen.answered {
            self.handled(Some(id));
        }
        if seen.finished {
            return Some(End::Gone);
        }
        for said in seen.texts {
            if let Some(end) = self.on_customer_text(said).await {
                return Some(end);
            }
        }
        if seen.customer_left {
            return Some(Box::pin(self.close("the customer left")).await);
        }
        None
    }

    pub(super) async fn on_customer_text(&mut self, said: Said) -> Option<End> {
        self.turn += 1;
        self.activity();
        self.ctx.stats.message_in();
        let text = limit_text(said.text, self.ctx.max_message_chars);
        self.ctx
            .decisions
            .customer_said(&self.id, self.turn, said.id.as_deref(), &text);
        debug!(turn = self.turn, message_id = said.id.as_deref().unwrap_or(""), text = %text,
            "customer says");
        // Write-ahead: if the daemon dies while answering, the transcript shows on restart
        // whether the answer went out. Saved with the response, before anything is sent
        // (`apply`); nothing needs saving before the responders have decided.
        self.record.answering = said.id.clone();
        crate::responder::remember(
            &mut self.memory.recent,
            Line {
                from: Speaker::Customer,
                text: text.clone(),
            },
        );
        let end = Box::pin(self.respond_to(Trigger::Message { text }, said.id.as_deref())).await;
        if end.is_none() {
            self.handled(said.id);
        }
        end
    }

    /// The customer message `id` is answered: move the saved cursor past it.
    pub(crate) fn handled(&mut self, id: Option<String>) {
        self.record.answering = None;
        if id.is_some() {
            self.memory.handled_through(id.clone());
            self.record.cursor = id;
        }
        self.save();
    }

    /// Rules that acted: remembered for `once`, in the record too (saved next).
    pub(crate) fn fire(&mut self, acted: Vec<String>) {
        for rule in acted {
            if !self.fired.contains(&rule) {
                self.record.fired.insert(rule.clone());
                self.fired.insert(rule);
            }
        }
    }

    /// Save the record with the current counters.
    pub(crate) fn save(&mut self) {
        self.record.turn = self.turn;
        self.record.unanswered = self.unanswered;
        self.saved = self.ctx.store.save(&self.id, &self.record);
    }

    /// Ask the responder chain about a trigger that is not a customer message and carry out
    /// its answer.
    pub(super) async fn respond(&mut self, trigger: Trigger) -> Option<End> {
        Box::pin(self.respond_to(trigger, None)).await
    }

    /// What responders see of this chat; `message_id` is the message the trigger carries.
    pub(crate) fn view<'a>(&'a self, message_id: Option<&'a str>) -> ChatView<'a> {
        ChatView {
            id: &self.id,
            message_id,
            recent: &self.memory.recent,
            customer: self.memory.customer(),
            bot: &self.ctx.nickname,
            user_data: &self.memory.user_data,
            turn: self.turn,
            unanswered: self.unanswered,
            fired: &self.fired,
            awaiting: self.record.awaiting.as_deref(),
            now: self.ctx.clock.now(),
        }
    }

    /// Ask the responder chain and carry out its answer; `message_id` is the transcript id of
    /// the customer message the trigger carries, for the decision log. A responder that fails
    /// with `on_error = "hand_over"` hands the chat on instead of leaving the customer waiting.
    async fn respond_to(&mut self, trigger: Trigger, message_id: Option<&str>) -> Option<End> {
        let ctx = self.ctx.clone();
        let verdict = ctx.chain.respond(&self.view(message_id), &trigger).await;
        if matches!(trigger, Trigger::Message { .. }) {
            // The awaited answer is this message, whatever the responders make of it.
            self.record.awaiting = None;
        }
        for (responder, error) in &verdict.skipped {
            self.note(Decision::ResponderFailed {
                responder: (*responder).to_owned(),
                error: error.clone(),
                passed: true,
            });
        }
        let (responder, response) = match verdict.decision {
            Verdict::Act { by, response } => (by, response),
            Verdict::Pass { last } => {
                if matches!(trigger, Trigger::Message { .. }) {
                    self.unanswered += 1;
                    self.ctx.stats.no_match();
                    debug!("no responder acted on the customer's message");
                }
                let live = Decision::NoAnswer {
                    trigger: trigger_name(&trigger).into(),
                    responder: last.to_owned(),
                    message_id: message_id.map(str::to_owned),
                };
                self.decided(&trigger, live);
                return None;
            }
            Verdict::Failed { by, error } => {
                error!(
                    responder = by,
                    error, "responder failed; handing the chat on"
                );
                self.note(Decision::ResponderFailed {
                    responder: by.to_owned(),
                    error,
                    passed: false,
                });
                self.ctx.stats.responder_failure();
                return Some(Box::pin(self.bail("the responder failed")).await);
            }
        };
        if matches!(trigger, Trigger::Message { .. }) {
            self.unanswered = if response.matched {
                0
            } else {
                self.ctx.stats.no_match();
                self.unanswered + 1
            };
        }
        self.decided(
            &trigger,
            responded(&trigger, responder, message_id, &response),
        );
        self.apply(response).await
    }

    async fn apply(&mut self, response: Response) -> Option<End> {
        for rule in &response.acted {
            debug!(rule = %rule, "rule acted");
            self.ctx.stats.rule_hit(rule);
        }
        self.fire(response.acted);
        if response.awaiting.is_some() {
            self.record.awaiting = response.awaiting;
        }
        // `once` and the decided end must hold across a crash in the middle of the actions.
        match &response.then {
            Then::Stay => {}
            Then::Close => self.record.finish = Some(Finish::Close),
            Then::Transfer(skill) => self.record.finish = Some(Finish::Transfer(skill.clone())),
            Then::Escalate(team) => {
                crate::chat::escalation::mark(
                    self,
                    team,
                    0,
                    crate::store::state::Stage::Decided,
                    &[],
                );
            }
        }
        self.save();
        for action in response.actions {
            let result = match action {
                Action::Typing(pause) => {
                    // Cosmetic: a failure is logged and the reply still goes out.
                    if let Err(e) = self.exec(Operation::Typing(true)).await {
                        warn!(error = %e, "typing indicator failed");
                    }
                    tokio::time::sleep(pause).await;
                    Ok(())
                }
                Action::Reply(text) => self.say(&text).await,
                Action::Attach(user_data) => {
                    self.memory
                        .user_data
                        .extend(user_data.iter().map(|(k, v)| (k.clone(), v.clone())));
                    self.exec(Operation::UpdateUserData { user_data }).await
                }
            };
            if let Err(e) = result {
                warn!(error = %e, "could not carry out the response");
                return Some(Box::pin(self.bail("an operation failed")).await);
            }
        }
        match response.then {
            Then::Stay => None,
            Then::Close => Some(Box::pin(self.close("a rule closed the chat")).await),
            Then::Escalate(team) => Box::pin(crate::chat::escalation::run(self, &team)).await,
            Then::Transfer(skill) => Some(Box::pin(self.transfer_to_skill(&skill)).await),
        }
    }
}
