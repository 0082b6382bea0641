//! Speaking to the customer and ending the chat: send a message (checking the transcript
//! after an ambiguous failure), close, transfer to a skill, give up after a failed hand-over,
//! bail out when the bot cannot go on, and hand over at the shutdown deadline.

use std::time::Duration;

use tracing::{error, info, warn};

use super::{Chat, End};
use crate::gws::{self, Operation};
use crate::responder::{Action, Trigger, Verdict};
use crate::store::state::Finish;

/// After an ambiguous send that the transcript does not show: wait this long and look again.
const SECOND_LOOK: Duration = Duration::from_secs(1);

impl Chat {
    /// Send a message to the customer.
    /// When sending fails ambiguously (a timeout: GWS may have sent it), the transcript
    /// decides: the message is sent again only if it is not there.
    pub(crate) async fn say(&mut self, text: &str) -> Result<(), gws::Error> {
        let send = Operation::SendMessage {
            text: text.to_owned(),
        };
        match self.exec(send.clone()).await {
            Ok(()) => {}
            Err(e) if e.is_ambiguous() => {
                warn!(error = %e, "sending failed ambiguously; checking the transcript");
                // A request still in flight may land after the first look: look twice.
                let mut sent = self.sent_since_cursor(text).await;
                if sent == Some(false) {
                    tokio::time::sleep(SECOND_LOOK).await;
                    sent = self.sent_since_cursor(text).await;
                }
                match sent {
                    Some(true) => info!("the message had gone out; not sending it again"),
                    Some(false) => self.exec(send).await?,
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        self.activity();
        self.ctx.stats.message_out();
        let line = crate::responder::Line {
            from: crate::responder::Speaker::Bot,
            text: text.to_owned(),
        };
        crate::responder::remember(&mut self.memory.recent, line);
        Ok(())
    }

    /// A hand-over found nobody: let `escalation_failed` rules speak (their replies replace
    /// the configured `failed` text), then close the chat.
    pub(crate) async fn give_up(&mut self) -> End {
        // Saved first: a restart finishes the close instead of asking again.
        self.record.finish = Some(Finish::Close);
        self.save();
        let ctx = self.ctx.clone();
        let mut view = self.view(None);
        view.awaiting = None;
        let verdict = ctx.chain.respond(&view, &Trigger::EscalationFailed).await;
        let actions = match verdict.decision {
            Verdict::Act { response, .. } => {
                for rule in &response.acted {
                    info!(rule = %rule, "rule acted on the failed hand-over");
                    self.ctx.stats.rule_hit(rule);
                }
                self.fire(response.acted);
                response.actions
            }
            Verdict::Pass { .. } => vec![Action::Reply(self.ctx.texts.failed.clone())],
            Verdict::Failed { .. } => {
                warn!("responder failed on the failed hand-over; using the configured text");
                vec![Action::Reply(self.ctx.texts.failed.clone())]
            }
        };
        for action in actions {
            let result = match action {
                Action::Typing(pause) => {
                    tokio::time::sleep(pause).await;
                    Ok(())
                }
                Action::Reply(text) => self.say(&text).await,
                Action::Attach(user_data) => {
                    self.exec(Operation::UpdateUserData { user_data }).await
                }
            };
            if let Err(e) = result {
                warn!(error = %e, "could not tell the customer");
                break;
            }
        }
        self.close("nobody could take the chat").await
    }

    /// Finish the chat on purpose.
    pub(crate) async fn close(&mut self, reason: &str) -> End {
        match self.exec(Operation::StopProcessing).await {
            Ok(()) => {
                info!(reason, "chat closed");
                End::Closed {
                    reason: reason.to_owned(),
                }
            }
            Err(e) => {
                error!(error = %e, reason, "could not close the chat");
                End::Stuck {
                    reason: format!("StopProcessing failed: {e}"),
                }
            }
        }
    }

    /// Single-step transfer to a skill; if refused, tell the customer and close.
    pub(crate) async fn transfer_to_skill(&mut self, skill: &str) -> End {
        let op = Operation::TransferToSkill {
            skill: skill.to_owned(),
        };
        match self.exec(op).await {
            Ok(()) => {
                info!(skill, "chat transferred to a skill");
                End::HandedOver {
                    to: format!("skill {skill}"),
                }
            }
            Err(e) => {
                warn!(error = %e, skill, "transfer to the skill failed");
                self.give_up().await
            }
        }
    }

    /// Tell the customer nobody can take the chat, then close it. The close is saved first,
    /// so a restart closes without telling them again.
    pub(crate) async fn fail_and_close(&mut self, reason: &str) -> End {
        self.record.finish = Some(Finish::Close);
        self.save();
        let failed = self.ctx.texts.failed.clone();
        if let Err(e) = self.say(&failed).await {
            warn!(error = %e, "could not tell the customer");
        }
        self.close(reason).await
    }

    /// The bot cannot go on: apologise, then hand the chat to the fallback skill or close it.
    pub(super) async fn bail(&mut self, reason: &str) -> End {
        let text = self.ctx.texts.error.clone();
        if let Err(e) = self.say(&text).await {
            warn!(error = %e, "could not tell the customer");
        }
        match self.ctx.fallback_skill.clone() {
            Some(skill) => self.transfer_to_skill(&skill).await,
            None => self.close(reason).await,
        }
    }

    /// The shutdown grace period is over: hand the chat to the fallback skill, or tell the
    /// customer and close it.
    pub(crate) async fn hand_over_at_deadline(&mut self) -> End {
        info!("shutdown deadline: handing the chat over");
        match self.ctx.fallback_skill.clone() {
            Some(skill) => {
                let queued = self.ctx.texts.queued.clone();
                if let Err(e) = self.say(&queued).await {
                    warn!(error = %e, "could not tell the customer");
                }
                self.transfer_to_skill(&skill).await
            }
            None => self.fail_and_close("the bot is shutting down").await,
        }
    }
}
