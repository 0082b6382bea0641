//! `format = "native"`: our own JSON, version 1, described by `docs/webhook-native.schema.json`.
//! Every trigger is posted with the chat view; the answer is actions and `then`, or
//! `{"version": 1, "pass": true}`.

use anyhow::bail;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::rules::RuleSet;
use super::super::{Action, ChatView, Outcome, Response, Then, Trigger};

/// The version of the format this daemon speaks, in requests and answers.
pub const VERSION: u32 = 1;

/// The request for `trigger` in `chat`.
pub fn request(chat: &ChatView<'_>, trigger: &Trigger) -> Value {
    let trigger = match trigger {
        Trigger::Accepted => json!({"type": "accepted"}),
        Trigger::Message { text } => json!({"type": "message", "text": text}),
        Trigger::Idle { silent } => {
            json!({"type": "idle", "silent_seconds": silent.as_secs_f64()})
        }
        Trigger::EscalationFailed => json!({"type": "escalation_failed"}),
    };
    json!({
        "version": VERSION,
        "trigger": trigger,
        "chat": {
            "id": chat.id.0,
            "message_id": chat.message_id,
            "customer": chat.customer,
            "bot": chat.bot,
            "turn": chat.turn,
            "unanswered": chat.unanswered,
            "awaiting": chat.awaiting,
            "now": chat.now.to_string(),
            "user_data": chat.user_data,
            "recent": chat.recent,
        },
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    version: u32,
    #[serde(default)]
    pass: bool,
    #[serde(default)]
    actions: Vec<NativeAction>,
    #[serde(default)]
    then: NativeThen,
    #[serde(default)]
    awaiting: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum NativeAction {
    Reply(String),
    Typing(String),
    Attach(serde_json::Map<String, Value>),
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum NativeThen {
    #[default]
    Stay,
    Close,
    Escalate(String),
    Transfer(String),
}

/// The response the answer asks for.
pub fn answer(answer: Value, rules: &RuleSet) -> anyhow::Result<Outcome> {
    let answer: Answer = serde_json::from_value(answer)
        .map_err(|e| anyhow::anyhow!("the answer does not follow the native format: {e}"))?;
    if answer.version != VERSION {
        bail!(
            "the answer is version {}; this daemon speaks version {VERSION}",
            answer.version
        );
    }
    if answer.pass {
        if !answer.actions.is_empty() || !matches!(answer.then, NativeThen::Stay) {
            bail!("the answer both passes and acts");
        }
        return Ok(Outcome::Pass);
    }
    let mut actions = Vec::with_capacity(answer.actions.len());
    for action in answer.actions {
        actions.push(match action {
            NativeAction::Reply(text) => Action::Reply(text),
            NativeAction::Typing(pause) => Action::Typing(super::typing(&pause)?),
            NativeAction::Attach(data) => Action::Attach(data.into_iter().collect()),
        });
    }
    let then = match answer.then {
        NativeThen::Stay => Then::Stay,
        NativeThen::Close => Then::Close,
        NativeThen::Escalate(team) => super::team(rules, &team)?,
        NativeThen::Transfer(skill) if skill.trim().is_empty() => {
            bail!("then.transfer: an empty skill name")
        }
        NativeThen::Transfer(skill) => Then::Transfer(skill),
    };
    Ok(Outcome::Act(Response {
        actions,
        then,
        acted: Vec::new(),
        matched: true,
        awaiting: answer.awaiting,
    }))
}
