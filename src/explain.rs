//! `gws-botd explain <chat-id>`: one chat's story from the decision log, told for a supervisor
//! — who the customer was, what they wrote (or how much, when text is not recorded), which
//! rules acted and what the bot said, each hand-over step, what GWS refused, how it ended.

use std::fmt::Write as _;
use std::path::Path;

use crate::decision_log::{self, Decision, Found, Record};

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
    for record in &found.records {
        for (i, line) in describe(record).into_iter().enumerate() {
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

/// What one record says, as lines (empty: nothing worth telling).
fn describe(record: &Record) -> Vec<String> {
    match &record.decision {
        Decision::Offered { .. } => vec!["offered to the bot; the bot takes it".into()],
        Decision::Rejected { reason } => vec![format!("offer rejected: {reason}")],
        Decision::Accepted => vec!["accepted the chat".into()],
        Decision::CustomerSaid {
            turn,
            chars,
            text: Some(text),
        } => vec![format!(
            "customer wrote (message {turn}, {chars} characters): {}",
            quoted(text)
        )],
        Decision::CustomerSaid {
            turn, chars, text, ..
        } => {
            debug_assert!(text.is_none());
            vec![format!(
                "customer wrote message {turn} ({chars} characters; text not recorded)"
            )]
        }
        Decision::Responded {
            trigger,
            rules,
            matched,
            replies,
            reply_chars,
            attached,
            then,
        } => {
            let names = rules
                .iter()
                .map(|r| format!("\"{r}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let head = match (trigger.as_str(), matched) {
                ("accepted", _) => format!("on accepting, rule {names} acted"),
                (_, true) => format!("rule {names} matched the message"),
                (_, false) => format!("no message rule matched; {names} answered"),
            };
            let mut lines = vec![head];
            lines.extend(replies.iter().map(|r| format!("  bot says: {}", quoted(r))));
            lines.extend(reply_chars.iter().map(|n| {
                format!("  bot says a reply of {n} characters (from the rule's template; text not recorded)")
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
        Decision::NoAnswer { trigger } if trigger == "accepted" => {
            vec!["no rule acted on accepting (no greeting)".into()]
        }
        Decision::NoAnswer { .. } => {
            vec!["no rule acted on the message; the bot stayed silent".into()]
        }
        Decision::ResponderFailed { error } => vec![format!(
            "the bot's responder failed ({error}); handing the chat on"
        )],
        Decision::Escalation { team, step, detail } => {
            let what = match step.as_str() {
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
            };
            let detail = detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            vec![format!("team {team}: {what}{detail}")]
        }
        Decision::Gws {
            operation,
            error: Some(error),
        } => vec![format!("GWS refused {operation}: {error}")],
        Decision::Gws { operation, .. } => match operation.as_str() {
            // Told by other records already.
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
        },
        Decision::Ended {
            outcome,
            detail: Some(to),
        } if outcome == "handed_over" => vec![format!("chat ended: handed over to {to}")],
        Decision::Ended { outcome, detail } => {
            let what = match outcome.as_str() {
                "closed" => "closed by the bot",
                "handed_over" => "handed over",
                "not_accepted" => "not accepted",
                "gone" => "finished by GWS or the customer",
                "abandoned" => "left open when the bot stopped",
                "stuck" => "stuck (an operator must look at it)",
                other => other,
            };
            let detail = detail
                .as_deref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default();
            vec![format!("chat ended: {what}{detail}")]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ts: &str, decision: Decision) -> Record {
        Record {
            ts: ts.into(),
            chat_id: "c-1".into(),
            decision,
        }
    }

    #[test]
    fn a_story_reads_like_one() {
        let found = Found {
            records: vec![
                record(
                    "2025-03-01T10:00:00.000Z",
                    Decision::Offered {
                        customer: Some("Alex".into()),
                    },
                ),
                record("2025-03-01T10:00:00.100Z", Decision::Accepted),
                record(
                    "2025-03-01T10:00:02.000Z",
                    Decision::CustomerSaid {
                        turn: 1,
                        chars: 18,
                        text: None,
                    },
                ),
                record(
                    "2025-03-01T10:00:02.010Z",
                    Decision::Responded {
                        trigger: "message".into(),
                        rules: vec!["refund".into()],
                        matched: true,
                        replies: vec!["Let me get billing.".into()],
                        reply_chars: vec![],
                        attached: vec![],
                        then: "escalate to team billing".into(),
                    },
                ),
                record(
                    "2025-03-01T10:00:02.300Z",
                    Decision::Escalation {
                        team: "billing".into(),
                        step: "joined".into(),
                        detail: Some("agent-101".into()),
                    },
                ),
                record(
                    "2025-03-01T10:00:02.400Z",
                    Decision::Gws {
                        operation: "send_message".into(),
                        error: None,
                    },
                ),
                record(
                    "2025-03-01T10:00:02.500Z",
                    Decision::Ended {
                        outcome: "handed_over".into(),
                        detail: Some("agent agent-101".into()),
                    },
                ),
            ],
            files: vec![],
            unreadable: 0,
        };
        let story = render("c-1", &found);
        let expected = "\
Chat c-1 with customer Alex — 2025-03-01 (times in UTC)
  10:00:00.000  offered to the bot; the bot takes it
  10:00:00.100  accepted the chat
  10:00:02.000  customer wrote message 1 (18 characters; text not recorded)
  10:00:02.010  rule \"refund\" matched the message
                  bot says: \"Let me get billing.\"
                  then: escalate to team billing
  10:00:02.300  team billing: agent joined: agent-101
  10:00:02.500  chat ended: handed over to agent agent-101
";
        assert_eq!(story, expected);
    }

    /// Without customer text the story names the rules and the lengths of their replies.
    #[test]
    fn a_story_without_customer_data_names_rules_and_lengths() {
        let found = Found {
            records: vec![
                record(
                    "2025-03-01T10:00:00.000Z",
                    Decision::Offered { customer: None },
                ),
                record(
                    "2025-03-01T10:00:00.010Z",
                    Decision::Responded {
                        trigger: "accepted".into(),
                        rules: vec!["greeting".into()],
                        matched: false,
                        replies: vec![],
                        reply_chars: vec![27],
                        attached: vec![],
                        then: "stay".into(),
                    },
                ),
            ],
            files: vec![],
            unreadable: 0,
        };
        let story = render("c-1", &found);
        let expected = "\
Chat c-1 — 2025-03-01 (times in UTC)
  10:00:00.000  offered to the bot; the bot takes it
  10:00:00.010  on accepting, rule \"greeting\" acted
                  bot says a reply of 27 characters (from the rule's template; text not recorded)
                  then: stays in the chat
";
        assert_eq!(story, expected);
    }

    #[test]
    fn an_unknown_chat_says_where_it_looked() {
        let dir = std::env::temp_dir().join(format!("gws-botd-ex-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = story(&dir, "nope").unwrap_err();
        assert!(err.contains("no decisions recorded for chat nope"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
        let err = story(&dir, "nope").unwrap_err();
        assert!(err.contains("cannot read the decision log"), "{err}");
    }
}
