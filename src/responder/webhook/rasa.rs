//! `format = "rasa"`: Rasa's REST channel. Each customer message is posted as
//! `{"sender", "message", "metadata"}`; the answer is an array of `{"recipient_id", "text"}`
//! and `{"recipient_id", "custom": {…}}` items, carried out in order. Other triggers are not
//! sent (the channel has no notion of them): the webhook passes.

use anyhow::bail;
use serde_json::{Value, json};

use super::super::rules::RuleSet;
use super::super::{Action, ChatView, Outcome, Response, Then, Trigger};

/// The keys of a `custom` item that the daemon carries out.
const CUSTOM_KEYS: &[&str] = &["handover", "transfer", "close", "attach", "typing"];

/// The request for `trigger`, or `None` when the channel does not take it.
pub fn request(chat: &ChatView<'_>, trigger: &Trigger) -> Option<Value> {
    let Trigger::Message { text } = trigger else {
        return None;
    };
    Some(json!({
        "sender": chat.id.0,
        "message": text,
        "metadata": chat.user_data,
    }))
}

/// The response the answer asks for; an empty answer passes.
pub fn answer(answer: Value, rules: &RuleSet) -> anyhow::Result<Outcome> {
    let Value::Array(items) = answer else {
        bail!("the answer is not a JSON array");
    };
    let mut response = Response {
        matched: true,
        ..Response::default()
    };
    for (n, item) in items.into_iter().enumerate() {
        let Value::Object(mut item) = item else {
            bail!("answer item {}: not an object", n + 1);
        };
        if let Some(text) = item.remove("text") {
            match text {
                Value::String(text) => response.actions.push(Action::Reply(text)),
                _ => bail!("answer item {}: `text` is not a string", n + 1),
            }
        }
        if let Some(custom) = item.remove("custom") {
            custom_item(custom, rules, &mut response)
                .map_err(|e| e.context(format!("answer item {}", n + 1)))?;
        }
    }
    if response.actions.is_empty() && response.then == Then::Stay {
        return Ok(Outcome::Pass);
    }
    Ok(Outcome::Act(response))
}

/// One `custom` object: its known keys in a fixed order (typing, attach, then the end).
/// An object without any known key is for another channel and ignored; a known key next to
/// unknown ones is probably a typo and an error.
fn custom_item(custom: Value, rules: &RuleSet, response: &mut Response) -> anyhow::Result<()> {
    let Value::Object(custom) = custom else {
        bail!("`custom` is not an object");
    };
    if !custom.keys().any(|k| CUSTOM_KEYS.contains(&k.as_str())) {
        tracing::debug!(keys = ?custom.keys().collect::<Vec<_>>(), "custom item for another channel ignored");
        return Ok(());
    }
    if let Some(unknown) = custom.keys().find(|k| !CUSTOM_KEYS.contains(&k.as_str())) {
        bail!(
            "custom.{unknown}: unknown (known: {})",
            CUSTOM_KEYS.join(", ")
        );
    }
    if let Some(typing) = custom.get("typing") {
        let Some(text) = typing.as_str() else {
            bail!("custom.typing: not a duration text such as \"1s\"");
        };
        response.actions.push(Action::Typing(super::typing(text)?));
    }
    if let Some(attach) = custom.get("attach") {
        let Some(data) = attach.as_object() else {
            bail!("custom.attach: not an object");
        };
        let data = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        response.actions.push(Action::Attach(data));
    }
    let mut ends = Vec::new();
    match custom.get("close") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => ends.push(Then::Close),
        Some(_) => bail!("custom.close: not true or false"),
    }
    if let Some(skill) = custom.get("transfer") {
        match skill.as_str() {
            Some(skill) if !skill.trim().is_empty() => ends.push(Then::Transfer(skill.to_owned())),
            _ => bail!("custom.transfer: not a skill name"),
        }
    }
    if let Some(team) = custom.get("handover") {
        match team.as_str() {
            Some(name) => ends.push(super::team(rules, name)?),
            None => bail!("custom.handover: not a team name"),
        }
    }
    for end in ends {
        set_end(response, end)?;
    }
    Ok(())
}

/// The answer's one end (close, transfer, hand-over): two different ones are an error.
pub(crate) fn set_end(response: &mut Response, end: Then) -> anyhow::Result<()> {
    if response.then != Then::Stay && response.then != end {
        bail!("the answer asks for two different ends (close, transfer, handover)");
    }
    response.then = end;
    Ok(())
}
