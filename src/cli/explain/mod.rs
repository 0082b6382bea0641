//! `gws-botd explain <chat-id>`: one chat's story from the decision log, told for a supervisor
//! — who the customer was, what they wrote (or how much, when text is not recorded), which
//! rules acted and what the bot said, each hand-over step, what GWS refused, how it ended.
//! Each customer message is named by its transcript id (`message 2 [e-17]`) and so is each
//! answer, so that two answers to one message stand out.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::store::decision_log::{self, Decision, Found, Record};

/// The story of `chat_id` from the log in `dir`, or why there is none.
pub fn story(dir: &Path, chat_id: &str) -> Result<String, String> {
    let found = decision_log::read_chat(dir, chat_id).map_err(|e| {
        format!(
            "cannot read the decision log in {}: {e} (give the state directory with --state-dir)",
            dir.display()
        )
    })?;
    if found.records.is_empty() {
        return Err(format!(
            "no decisions recorded for chat {chat_id} in {} ({} log file(s) searched; is \
             [decision_log] enabled, and is this the bot's bot.state_dir?)",
            dir.display(),
            found.files.len()
        ));
    }
    Ok(render(chat_id, &found))
}

/// Render the records of one chat, oldest first.
pub fn render(chat_id: &str, found: &Found) -> String {
    let mut out = String::new();
    let customer = found.records.iter().find_map(|r| match &r.decision {
        Decision::Offered { customer } => customer.clone(),
        _ => None,
    });
    let day = found
        .records
        .first()
        .map(|r| r.ts.get(..10).unwrap_or(&r.ts).to_owned())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Chat {chat_id}{} — {day} (times in UTC)",
        customer
            .map(|c| format!(" with customer {c}"))
            .unwrap_or_default()
    );
    let mut messages = Messages::default();
    let shadows = pair_shadows(&found.records);
    for (n, record) in found.records.iter().enumerate() {
        if shadows.paired.contains(&n) {
            continue;
        }
        let mut lines = describe(record, &mut messages);
        if let Some(&shadow) = shadows.under.get(&n) {
            lines.extend(shadow_lines(&found.records[shadow].decision));
        }
        for (i, line) in lines.into_iter().enumerate() {
            let time = if i == 0 { clock(&record.ts) } else { "" };
            let _ = writeln!(out, "  {time:<12}  {line}");
        }
    }
    if found.unreadable > 0 {
        let _ = writeln!(
            out,
            "({} unreadable line(s) in the log were skipped)",
            found.unreadable
        );
    }
    out
}

/// `HH:MM:SS.mmm` of an RFC 3339 timestamp.
fn clock(ts: &str) -> &str {
    ts.get(11..23).unwrap_or(ts)
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\n', " "))
}

/// The customer messages told so far, by transcript id: the turn each came as and when it was
/// first answered.
#[derive(Debug, Default)]
struct Messages {
    turns: HashMap<String, u32>,
    answered: HashMap<String, String>,
}

impl Messages {
    /// `message 2 [e-17]`, or `message [e-17]` for a message not told (in a rotated-away file).
    fn name(&self, id: &str) -> String {
        match self.turns.get(id) {
            Some(turn) => format!("message {turn} [{id}]"),
            None => format!("message [{id}]"),
        }
    }

    /// Note that `id` was answered at `ts`; when it already was, the line that says so.
    fn answer(&mut self, id: &str, ts: &str) -> Option<String> {
        match self.answered.get(id) {
            Some(first) => Some(format!(
                "  a second answer to {}: it was answered at {} already",
                self.name(id),
                clock(first)
            )),
            None => {
                self.answered.insert(id.to_owned(), ts.to_owned());
                None
            }
        }
    }
}

/// What one record says, as lines (empty: nothing worth telling).
fn describe(record: &Record, messages: &mut Messages) -> Vec<String> {
    match &record.decision {
        Decision::Offered { .. } => vec!["offered to the bot; the bot takes it".into()],
        Decision::Rejected { reason } => vec![format!("offer rejected: {reason}")],
        Decision::Accepted => vec!["accepted the chat".into()],
        Decision::CustomerSaid {
            turn,
            message_id,
            chars,
            text,
        } => customer_said(
            *turn,
            message_id.as_deref(),
            *chars,
            text.as_deref(),
            messages,
        ),
        Decision::Responded { .. } => responded(record, messages),
        Decision::NoAnswer { trigger, .. } if trigger == "accepted" => {
            vec!["no rule acted on accepting (no greeting)".into()]
        }
        Decision::NoAnswer { message_id, .. } => {
            let message = message_id
                .as_deref()
                .map_or_else(|| "the message".to_owned(), |id| messages.name(id));
            vec![format!("no rule acted on {message}; the bot stayed silent")]
        }
        // A shadow record whose live decision is not in the log (a rotated-away file).
        Decision::Shadow { trigger, .. } => std::iter::once(format!("shadow rules on {trigger}:"))
            .chain(shadow_lines(&record.decision))
            .collect(),
        Decision::ResponderFailed {
            responder,
            error,
            passed,
        } => vec![responder_failed(responder, error, *passed)],
        Decision::Escalation { team, step, detail } => {
            let detail = detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            vec![format!("team {team}: {}{detail}", escalation_step(step))]
        }
        Decision::Gws {
            operation,
            error: Some(error),
        } => vec![format!("GWS refused {operation}: {error}")],
        Decision::Gws { operation, .. } => gws_done(operation),
        Decision::Ended {
            outcome,
            detail: Some(to),
        } if outcome == "handed_over" => vec![format!("chat ended: handed over to {to}")],
        Decision::Ended { outcome, detail } => {
            let detail = detail
                .as_deref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default();
            vec![format!("chat ended: {}{detail}", end_outcome(outcome))]
        }
    }
}

/// Which shadow record goes under which live decision (by record index).
#[derive(Debug, Default)]
struct Shadows {
    /// Live decision → its shadow record.
    under: HashMap<usize, usize>,
    /// Shadow records told under their live decision (not on their own).
    paired: std::collections::HashSet<usize>,
}

/// Pair each shadow record with the earliest live decision before it about the same trigger
/// (and message) that has none yet: the shadow is recorded after the live decision, though
/// other records (GWS operations, a hand-over) may come in between.
fn pair_shadows(records: &[Record]) -> Shadows {
    let mut shadows = Shadows::default();
    let mut waiting: Vec<(usize, &str, Option<&str>)> = Vec::new();
    for (n, record) in records.iter().enumerate() {
        match &record.decision {
            Decision::Responded {
                trigger,
                message_id,
                ..
            }
            | Decision::NoAnswer {
                trigger,
                message_id,
                ..
            } => waiting.push((n, trigger, message_id.as_deref())),
            Decision::Shadow {
                trigger,
                message_id,
                ..
            } => {
                let key = (trigger.as_str(), message_id.as_deref());
                if let Some(at) = waiting.iter().position(|(_, t, m)| (*t, *m) == key) {
                    let (live, ..) = waiting.remove(at);
                    shadows.under.insert(live, n);
                    shadows.paired.insert(n);
                }
            }
            _ => {}
        }
    }
    shadows
}

/// What the shadow rules would have done, indented under the live decision; marked when it
/// differs from it.
fn shadow_lines(decision: &Decision) -> Vec<String> {
    let Decision::Shadow {
        rules,
        replies,
        reply_chars,
        then,
        agrees,
        ..
    } = decision
    else {
        return Vec::new();
    };
    let names = rules
        .iter()
        .map(|r| format!("\"{r}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let head = match (agrees, rules.is_empty()) {
        (true, true) => return vec!["  shadow: agrees (no shadow rule would act either)".into()],
        (true, false) => return vec![format!("  shadow: agrees (rule {names})")],
        (false, true) => "  shadow: DISAGREES: no shadow rule would act".to_owned(),
        (false, false) => format!("  shadow: DISAGREES: rule {names} would act"),
    };
    let mut lines = vec![head];
    lines.extend(
        replies
            .iter()
            .map(|r| format!("    would say: {}", quoted(r))),
    );
    lines.extend(
        reply_chars
            .iter()
            .map(|n| format!("    would say a reply of {n} characters (text not recorded)")),
    );
    if !rules.is_empty() {
        lines.push(format!(
            "    then: {}",
            match then.as_str() {
                "stay" => "would stay in the chat",
                "close" => "would close the chat",
                other => other,
            }
        ));
    }
    lines
}

/// A responder's failure, and whether the chain went on (`passed`) or handed the chat on.
fn responder_failed(responder: &str, error: &str, passed: bool) -> String {
    let which = match responder {
        "" => "the bot's responder".to_owned(),
        name => format!("responder \"{name}\""),
    };
    let next = if passed {
        "asking the next one"
    } else {
        "handing the chat on"
    };
    format!("{which} failed ({error}); {next}")
}

/// A customer message: its turn, transcript id and text (or length).
fn customer_said(
    turn: u32,
    message_id: Option<&str>,
    chars: usize,
    text: Option<&str>,
    messages: &mut Messages,
) -> Vec<String> {
    let (id, again) = match message_id {
        Some(id) => {
            let again = messages.turns.insert(id.to_owned(), turn).map(|before| {
                format!("  the same transcript entry as message {before}: seen again")
            });
            (format!(" [{id}]"), again)
        }
        None => (String::new(), None),
    };
    let head = match text {
        Some(text) => format!(
            "customer wrote message {turn}{id} ({chars} characters): {}",
            quoted(text)
        ),
        None => {
            format!("customer wrote message {turn}{id} ({chars} characters; text not recorded)")
        }
    };
    std::iter::once(head).chain(again).collect()
}

/// Which rules acted on what, what the bot said and what it did next.
fn responded(record: &Record, messages: &mut Messages) -> Vec<String> {
    let Decision::Responded {
        trigger,
        responder,
        message_id,
        rules,
        matched,
        replies,
        reply_chars,
        attached,
        then,
    } = &record.decision
    else {
        // `describe` hands over `Responded` records only.
        return Vec::new();
    };
    let names = rules
        .iter()
        .map(|r| format!("\"{r}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let message = message_id
        .as_deref()
        .map_or_else(|| "the message".to_owned(), |id| messages.name(id));
    let head = match (trigger.as_str(), matched) {
        ("message", _) if rules.is_empty() => {
            format!("responder \"{responder}\" answered {message}")
        }
        ("accepted", _) if rules.is_empty() => {
            format!("on accepting, responder \"{responder}\" acted")
        }
        (other, _) if rules.is_empty() => format!("on {other}, responder \"{responder}\" acted"),
        ("accepted", _) => format!("on accepting, rule {names} acted"),
        (_, true) => format!("rule {names} matched {message}"),
        (_, false) => match message_id {
            Some(_) => format!("no message rule matched {message}; {names} answered"),
            None => format!("no message rule matched; {names} answered"),
        },
    };
    let mut lines = vec![head];
    if !rules.is_empty() && !matches!(responder.as_str(), "" | "rules") {
        lines.push(format!("  by responder \"{responder}\""));
    }
    if let Some(id) = message_id {
        lines.extend(messages.answer(id, &record.ts));
    }
    lines.extend(replies.iter().map(|r| format!("  bot says: {}", quoted(r))));
    lines.extend(reply_chars.iter().map(|n| {
        format!(
            "  bot says a reply of {n} characters (from the rule's template; text not recorded)"
        )
    }));
    if !attached.is_empty() {
        lines.push(format!("  attaches data: {}", attached.join(", ")));
    }
    lines.push(format!(
        "  then: {}",
        match then.as_str() {
            "stay" => "stays in the chat",
            "close" => "closes the chat",
            other => other,
        }
    ));
    lines
}

/// A hand-over step in words.
fn escalation_step(step: &str) -> &str {
    match step {
        "started" => "hand-over started",
        "consulting" => "consulting",
        "joined" => "agent joined",
        "no_answer" => "no answer",
        "refused" => "consultation refused",
        "transferred" => "chat transferred to",
        "transfer_failed" => "completing the consultation failed",
        "not_joined_yet" => {
            "GWS says the consulted agent has not joined yet (a newcomer was someone \
             else); waiting on"
        }
        "conferenced" => "agent brought into the conversation (conference) with",
        "conference_finished" => "the conference was finished by others",
        "customer_left" => "the customer left the conference with",
        "resumed" => "the agent left the conference; the bot answers again after",
        "conference_ended" => "the agent left the conference; closing after",
        "to_skill" => "no agent took it; transferring to skill",
        "nobody" => "nobody could take it",
        "ended" => "the chat ended during the hand-over",
        other => other,
    }
}

/// A GWS operation that succeeded, in words (empty when other records tell it already).
fn gws_done(operation: &str) -> Vec<String> {
    match operation {
        "accept"
        | "send_message"
        | "typing_started"
        | "typing_stopped"
        | "update_user_data"
        | "start_consultation"
        | "complete_transfer"
        | "complete_conference" => Vec::new(),
        "note_to_agents" => {
            vec!["GWS: the hand-over summary went to the agent (agents only)".into()]
        }
        "stop_processing" => vec!["GWS: the bot's part in the chat is finished".into()],
        "transfer_skill" => vec!["GWS: transfer to the skill accepted".into()],
        "request_chat_history" => vec!["GWS: asked for the transcript (catch-up)".into()],
        other => vec![format!("GWS: {other} done")],
    }
}

/// How a chat ended, in words.
fn end_outcome(outcome: &str) -> &str {
    match outcome {
        "closed" => "closed by the bot",
        "handed_over" => "handed over",
        "not_accepted" => "not accepted",
        "gone" => "finished by GWS or the customer",
        "abandoned" => "left open when the bot stopped",
        "stuck" => "stuck (an operator must look at it)",
        other => other,
    }
}

#[cfg(test)]
mod tests;
