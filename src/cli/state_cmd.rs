//! `gws-botd state list|show`: what the daemon saved of each open chat (see [`crate::store::state`]),
//! read from its database without changing it, also while the daemon runs.

use std::fmt::Write as _;
use std::path::Path;

use jiff::tz::TimeZone;
use serde::Serialize;

use crate::cli::{EXIT_FAILURE, EXIT_OK};
use crate::event::ChatId;
use crate::store::state::read::{Entry, Reader};
use crate::store::state::{Escalation, Finish, Record};

/// What `state` was asked to do.
#[derive(Debug, Clone)]
pub enum Request {
    /// Every saved chat, one line each.
    List { json: bool },
    /// One chat's record in full.
    Show { chat_id: String, json: bool },
}

/// The JSON form of an entry.
#[derive(Serialize)]
struct Json<'a> {
    chat_id: &'a str,
    /// RFC 3339, UTC.
    written_at: String,
    record: &'a Record,
}

impl<'a> From<&'a Entry> for Json<'a> {
    fn from(entry: &'a Entry) -> Self {
        Json {
            chat_id: &entry.id.0,
            written_at: entry.written_at.to_string(),
            record: &entry.record,
        }
    }
}

/// Run `state` against the state directory `dir`; prints to stdout, problems to stderr.
pub fn run(request: &Request, dir: &Path, tz: &TimeZone) -> u8 {
    let reader = match Reader::open(dir) {
        Ok(reader) => reader,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_FAILURE;
        }
    };
    match request {
        Request::List { json } => match reader.list() {
            Ok(entries) if *json => {
                let all: Vec<Json> = entries.iter().map(Json::from).collect();
                println!("{}", to_json(&all));
                EXIT_OK
            }
            Ok(entries) if entries.is_empty() => {
                eprintln!("no chat state saved in {}", dir.display());
                EXIT_OK
            }
            Ok(entries) => {
                print!("{}", list(&entries, tz));
                EXIT_OK
            }
            Err(e) => {
                eprintln!("{e}");
                EXIT_FAILURE
            }
        },
        Request::Show { chat_id, json } => match reader.get(&ChatId::from(chat_id.as_str())) {
            Ok(Some(entry)) if *json => {
                println!("{}", to_json(&Json::from(&entry)));
                EXIT_OK
            }
            Ok(Some(entry)) => {
                print!("{}", show(&entry, tz));
                EXIT_OK
            }
            Ok(None) => {
                eprintln!(
                    "no saved state for chat {chat_id} in {} (`gws-botd state list` shows the saved chats)",
                    dir.display()
                );
                EXIT_FAILURE
            }
            Err(e) => {
                eprintln!("{e}");
                EXIT_FAILURE
            }
        },
    }
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).expect("the state serializes")
}

fn local(at: jiff::Timestamp, tz: &TimeZone) -> String {
    at.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// How far a hand-over got, in the words of [`crate::store::state::Stage`]'s serde form.
fn stage(escalation: &Escalation) -> String {
    serde_json::to_value(escalation.stage)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The table `state list` prints: a header, then one line per chat.
pub fn list(entries: &[Entry], tz: &TimeZone) -> String {
    let header = ["CHAT", "LAST WRITTEN", "GREETED", "HAND-OVER", "CURSOR"];
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            [
                e.id.0.clone(),
                local(e.written_at, tz),
                yes_no(e.record.greeted).into(),
                e.record
                    .escalation
                    .as_ref()
                    .map_or("-".into(), |x| format!("{} (team {})", stage(x), x.team)),
                e.record.cursor.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

/// What `state show` prints: every field of one record.
pub fn show(entry: &Entry, tz: &TimeZone) -> String {
    let r = &entry.record;
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "{:<14}{value}", format!("{name}:"));
    };
    field("chat", entry.id.0.clone());
    field("last written", local(entry.written_at, tz));
    field("greeted", yes_no(r.greeted).into());
    field("cursor", or_dash(&r.cursor));
    field("answering", or_dash(&r.answering));
    field("turn", r.turn.to_string());
    field("unanswered", r.unanswered.to_string());
    let fired: Vec<&str> = r.fired.iter().map(String::as_str).collect();
    field(
        "rules fired",
        if fired.is_empty() {
            "-".into()
        } else {
            fired.join(", ")
        },
    );
    field(
        "finish",
        match &r.finish {
            None => "-".into(),
            Some(Finish::Close) => "close".into(),
            Some(Finish::Transfer(skill)) => format!("transfer to skill {skill}"),
        },
    );
    match &r.escalation {
        None => field("hand-over", "-".into()),
        Some(x) => {
            field("hand-over", format!("team {}, {}", x.team, stage(x)));
            field("  mode", x.mode.name().into());
            field("  agents", x.agents.join(", "));
            field(
                "  consulting",
                x.agents.get(x.agent).map_or_else(
                    || format!("#{} (past the last agent)", x.agent + 1),
                    |a| format!("{a} (#{} of {})", x.agent + 1, x.agents.len()),
                ),
            );
            field("  skill", or_dash(&x.skill));
            field(
                "  wait",
                humantime::format_duration(std::time::Duration::from_millis(x.wait_ms)).to_string(),
            );
            field("  resume", yes_no(x.resume).into());
            field(
                "  present",
                if x.present.is_empty() {
                    "-".into()
                } else {
                    x.present.join(", ")
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::state::Stage;

    fn entry() -> Entry {
        Entry {
            id: ChatId::from("0001AB"),
            written_at: jiff::Timestamp::from_second(1_795_000_000).unwrap(),
            record: Record {
                greeted: true,
                cursor: Some("e-7".into()),
                turn: 3,
                fired: ["greeting".to_string(), "hours".to_string()].into(),
                escalation: Some(Escalation {
                    team: "billing".into(),
                    agents: vec!["a1".into(), "a2".into()],
                    agent: 1,
                    wait_ms: 2000,
                    stage: Stage::Consulting,
                    ..Escalation::default()
                }),
                ..Record::default()
            },
        }
    }

    #[test]
    fn list_prints_one_aligned_line_per_chat() {
        let other = Entry {
            id: ChatId::from("c2"),
            record: Record::default(),
            ..entry()
        };
        let text = list(&[entry(), other], &TimeZone::UTC);
        assert_eq!(
            text,
            "CHAT    LAST WRITTEN         GREETED  HAND-OVER                  CURSOR\n\
             0001AB  2026-11-18 11:06:40  yes      consulting (team billing)  e-7\n\
             c2      2026-11-18 11:06:40  no       -                          -\n"
        );
    }

    #[test]
    fn show_prints_every_field() {
        let text = show(&entry(), &TimeZone::UTC);
        for line in [
            "chat:         0001AB",
            "last written: 2026-11-18 11:06:40",
            "cursor:       e-7",
            "rules fired:  greeting, hours",
            "hand-over:    team billing, consulting",
            "  consulting: a2 (#2 of 2)",
            "  wait:       2s",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
    }
}
