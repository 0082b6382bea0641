//! The decision log: for every chat event, what the bot decided and why — which rules acted and
//! what they said, escalation steps, GWS results, how the chat ended — as JSON lines in
//! `{state_dir}/decisions.jsonl`, so that "why did the bot say that to this customer?" has an
//! answer (`gws-botd explain <chat-id>`, see [`mod@crate::cli::explain`]).
//!
//! The file is rotated by size (`decisions.jsonl.1` is the newest old file) and only
//! `max_files` files are kept. Customer data is recorded only when `include_customer_text` is
//! on: otherwise a customer message is its length, the customer's nickname is left out, and
//! the bot's replies (rendered from templates that may quote the customer, their name or
//! attached data) are their lengths, next to the names of the rules that sent them. The
//! directory is 0700 and the files 0600. Credentials never reach this file: nothing here sees
//! them.
//!
//! Chats never touch the file: they queue their records for a writer thread of the log's own
//! (`writer.rs`), which writes them in batches, at most 100 ms after they were made, and what
//! is left at shutdown; it rotates the files too. A failing disk is reported once at ERROR, a
//! queue overflowing (a disk far slower than the chats) once at WARN, and neither ever stops
//! a chat.

mod scan;
mod writer;

pub use scan::{Scanned, scan};

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tracing::{error, info};

use crate::event::ChatId;

/// The active file's name in the state directory.
pub const FILE_NAME: &str = "decisions.jsonl";

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// RFC 3339 UTC with milliseconds.
    pub ts: String,
    pub chat_id: String,
    #[serde(flatten)]
    pub decision: Decision,
}

/// What happened and what the bot decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Decision {
    /// A chat was offered and the bot took it on. The customer's nickname only with
    /// `include_customer_text`.
    Offered { customer: Option<String> },
    /// The offer was turned down without trying (full or stopping).
    Rejected { reason: String },
    /// Accept worked.
    Accepted,
    /// A customer message. `text` only with `include_customer_text`.
    CustomerSaid {
        turn: u32,
        /// The message's id in the transcript (`eventId` in `interactions`, `index` in
        /// `chats`): not customer data, and what ties an answer to the message it answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        chars: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// The responder chain acted.
    Responded {
        /// `accepted` or `message`.
        trigger: String,
        /// The responder that acted (its configured name); empty in older logs.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        responder: String,
        /// For a message: the transcript id of the customer message answered (see
        /// [`Decision::CustomerSaid`]), so that two answers to one message show in the log.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        /// Rules (or other named decisions) that acted, in order.
        rules: Vec<String>,
        /// For a message: whether a `message` rule matched (false: a `no_match` rule answered).
        matched: bool,
        /// What the bot says, in order; empty without `include_customer_text`.
        replies: Vec<String>,
        /// Without `include_customer_text`: the length in characters of each reply, in order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reply_chars: Vec<usize>,
        /// Attached-data keys the bot sets.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attached: Vec<String>,
        /// What happens next: `stay`, `close`, `escalate to team X`, `transfer to skill X`.
        then: String,
    },
    /// No responder acted.
    NoAnswer {
        trigger: String,
        /// The last responder asked (all passed); empty in older logs.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        responder: String,
        /// For a message: the transcript id of the message left unanswered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
    },
    /// What the shadow rules (`[shadow] rules`) would have done about the same trigger,
    /// evaluated after the live chain and never sent. Written after the live decision
    /// ([`Decision::Responded`] or [`Decision::NoAnswer`]) for the same trigger.
    Shadow {
        /// `accepted`, `message`, `idle` or `escalation_failed`, as for the live decision.
        trigger: String,
        /// For a message: the transcript id of the customer message (see
        /// [`Decision::CustomerSaid`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        /// Shadow rules that would have acted, in order; empty: no shadow rule would act.
        rules: Vec<String>,
        /// For a message: whether a shadow `message` rule matched.
        matched: bool,
        /// What the shadow rules would say; empty without `include_customer_text`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        replies: Vec<String>,
        /// Without `include_customer_text`: the length in characters of each reply.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reply_chars: Vec<usize>,
        /// What would happen next, as in [`Decision::Responded`]; `none` when nothing acts.
        then: String,
        /// Whether the shadow decision is the live one: the same replies (rendered texts),
        /// the same attached-data keys and the same `then` (both silent counts as agreeing).
        /// Rule names may differ: a renamed rule that behaves the same agrees.
        agrees: bool,
    },
    /// A responder failed (error, panic, timeout, bad answer): the chat is handed on, or with
    /// `passed` (`on_error = "pass"`) the next responder was asked. `responder`: as above.
    ResponderFailed {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        responder: String,
        error: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        passed: bool,
    },
    /// A step of a hand-over to a human.
    Escalation {
        team: String,
        /// `started`, `consulting`, `joined`, `no_answer`, `refused`, `transferred`,
        /// `transfer_failed`, `to_skill`, `nobody`.
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The result of an operation sent to GWS for this chat.
    Gws {
        operation: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The chat ended for the bot.
    Ended {
        outcome: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
}

/// The decision log file is rotated when it would grow past this many bytes.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;
/// Decision log files kept, the active one included.
pub const DEFAULT_MAX_FILES: u32 = 5;

/// `[decision_log]`: the record of what the bot decided in each chat and why, for `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub enabled: bool,
    /// Rotate the file before it grows past this many bytes.
    pub max_file_size: u64,
    /// Files kept, the active one included; the oldest is deleted at rotation.
    pub max_files: u32,
    /// Record what customers wrote; off by default (only the length is recorded).
    pub include_customer_text: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_files: DEFAULT_MAX_FILES,
            include_customer_text: false,
        }
    }
}

/// A handle to the decision log; cheap to clone. The default is a disabled log.
#[derive(Debug, Clone, Default)]
pub struct DecisionLog {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    include_customer_text: bool,
    writer: writer::Handle,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionLog")
            .field("include_customer_text", &self.include_customer_text)
            .finish_non_exhaustive()
    }
}

impl DecisionLog {
    /// Open (creating) the log in `state_dir`, or a disabled log when `config` says so.
    pub fn open(config: &Settings, state_dir: &Path) -> io::Result<DecisionLog> {
        if !config.enabled {
            return Ok(DecisionLog::default());
        }
        crate::store::state::create_private_dir(state_dir)?;
        let (file, size) = open_active(state_dir)?;
        info!(file = %state_dir.join(FILE_NAME).display(), "decision log open");
        let files = writer::Files {
            dir: state_dir.to_owned(),
            max_file_size: config.max_file_size,
            max_files: config.max_files.max(1),
        };
        Ok(DecisionLog {
            inner: Some(Arc::new(Inner {
                include_customer_text: config.include_customer_text,
                writer: writer::Handle::start(files, file, size)?,
            })),
        })
    }

    /// [`DecisionLog::open`], reporting a failure at ERROR and going on without a log: the bot
    /// keeps serving customers when its state directory is broken.
    pub fn open_or_disabled(config: &Settings, state_dir: &Path) -> DecisionLog {
        DecisionLog::open(config, state_dir).unwrap_or_else(|e| {
            error!(dir = %state_dir.display(), error = %e,
                "cannot open the decision log; running without it (check bot.state_dir)");
            DecisionLog::default()
        })
    }

    /// Whether records are written.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Record what a customer wrote in the transcript entry `message_id`, redacted unless
    /// `include_customer_text` is on (the id is kept either way).
    pub fn customer_said(&self, chat: &ChatId, turn: u32, message_id: Option<&str>, text: &str) {
        let Some(inner) = &self.inner else { return };
        let decision = Decision::CustomerSaid {
            turn,
            message_id: message_id.map(str::to_owned),
            chars: text.chars().count(),
            text: inner.include_customer_text.then(|| text.to_owned()),
        };
        self.record(chat, decision);
    }

    /// Append one record, without customer data unless `include_customer_text` is on.
    pub fn record(&self, chat: &ChatId, decision: Decision) {
        let Some(inner) = &self.inner else { return };
        let decision = if inner.include_customer_text {
            decision
        } else {
            without_customer_data(decision)
        };
        inner.writer.send(writer::Msg::Record(
            SystemTime::now(),
            chat.clone(),
            decision,
        ));
    }

    /// Wait until every record made so far is in the file. Blocks the calling thread (up to
    /// one write): for tests, tools and shutdown, not for chats.
    pub fn flush(&self) {
        if let Some(inner) = &self.inner {
            inner.writer.flush();
        }
    }

    /// Records dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.inner.as_ref().map_or(0, |i| {
            i.writer.dropped.load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// The count behind [`DecisionLog::dropped`], for the metrics to read when scraped; it
    /// does not keep the log (or its writer) open. A disabled log's count stays 0.
    pub fn drop_count(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.inner
            .as_ref()
            .map_or_else(Arc::default, |i| i.writer.dropped.clone())
    }
}

/// `decision` without what may identify or quote the customer: their nickname, and the
/// rendered replies (kept as lengths).
fn without_customer_data(decision: Decision) -> Decision {
    match decision {
        Decision::Offered { .. } => Decision::Offered { customer: None },
        Decision::Responded {
            trigger,
            responder,
            message_id,
            rules,
            matched,
            replies,
            attached,
            then,
            ..
        } => Decision::Responded {
            trigger,
            responder,
            message_id,
            rules,
            matched,
            reply_chars: replies.iter().map(|r| r.chars().count()).collect(),
            replies: Vec::new(),
            attached,
            then,
        },
        Decision::Shadow {
            trigger,
            message_id,
            rules,
            matched,
            replies,
            then,
            agrees,
            ..
        } => Decision::Shadow {
            trigger,
            message_id,
            rules,
            matched,
            reply_chars: replies.iter().map(|r| r.chars().count()).collect(),
            replies: Vec::new(),
            then,
            agrees,
        },
        Decision::CustomerSaid {
            turn,
            message_id,
            chars,
            ..
        } => Decision::CustomerSaid {
            turn,
            message_id,
            chars,
            text: None,
        },
        other => other,
    }
}

fn open_active(dir: &Path) -> io::Result<(File, u64)> {
    use std::os::unix::fs::PermissionsExt as _;
    let file = crate::store::state::private_file()
        .create(true)
        .append(true)
        .open(dir.join(FILE_NAME))?;
    let meta = file.metadata()?;
    // A file from before the log was private: make it so.
    if meta.permissions().mode() & 0o077 != 0 {
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    let size = meta.len();
    Ok((file, size))
}

fn rotated(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{FILE_NAME}.{n}"))
}

/// Shift `decisions.jsonl.N` to `.N+1` (dropping what falls past `max_files`) and the active
/// file to `.1`.
fn rotate(dir: &Path, max_files: u32) -> io::Result<()> {
    let keep = max_files.saturating_sub(1);
    let ignore_missing = |r: io::Result<()>| match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    };
    if keep == 0 {
        return ignore_missing(fs::remove_file(dir.join(FILE_NAME)));
    }
    ignore_missing(fs::remove_file(rotated(dir, keep)))?;
    for n in (1..keep).rev() {
        ignore_missing(fs::rename(rotated(dir, n), rotated(dir, n + 1)))?;
    }
    ignore_missing(fs::rename(dir.join(FILE_NAME), rotated(dir, 1)))
}

/// The log files in `dir`, oldest first.
pub fn files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut numbered = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == FILE_NAME {
            numbered.push((0, dir.join(name)));
        } else if let Some(n) = name
            .strip_prefix(FILE_NAME)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|n| n.parse::<u32>().ok())
        {
            numbered.push((n, dir.join(name)));
        }
    }
    numbered.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    Ok(numbered.into_iter().map(|(_, path)| path).collect())
}

/// What [`read_chat`] found.
#[derive(Debug, Default)]
pub struct Found {
    /// The chat's records, oldest first.
    pub records: Vec<Record>,
    /// The files read, oldest first.
    pub files: Vec<PathBuf>,
    /// Lines that were not records (a torn last line after a crash, foreign content).
    pub unreadable: usize,
}

/// Every record of `chat_id` in the log files in `dir`.
pub fn read_chat(dir: &Path, chat_id: &str) -> io::Result<Found> {
    let mut records = Vec::new();
    // Cheap pre-filter before parsing: the id appears JSON-encoded in its records.
    let needle = serde_json::to_string(chat_id).unwrap_or_default();
    let scanned = scan(dir, Some(&needle), |r| {
        if r.chat_id == chat_id {
            records.push(r);
        }
    })?;
    Ok(Found {
        records,
        files: scanned.files,
        unreadable: scanned.unreadable,
    })
}

#[cfg(test)]
mod tests;
