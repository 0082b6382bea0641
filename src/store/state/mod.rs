//! The daemon's chat state: what it needs to continue each open chat after a crash or a
//! restart (transcript cursor, whether the accept rules ran, rule counters, escalation step),
//! kept in one SQLite database, `<bot.state_dir>/state.sqlite3`, one row per chat.
//!
//! One writer thread owns the database (`writer.rs`); chats hand it their record over a
//! channel and go on at once. A chat waits for the commit only where a restart depends on it:
//! before it sends anything to GWS ([`Store::committed`], awaited by `Chat::exec`), so that
//! what it decided to do (the message being answered, the hand-over step, the end) is on disk
//! before the customer sees it. Everything queued meanwhile, by any chat, goes into the same
//! transaction (group commit); saves nobody waits for (a cursor moved past an answered
//! message) ride along with the next such commit, so a busy daemon writes one transaction
//! for many messages, not one file per message. The database runs in WAL mode with
//! `synchronous = NORMAL`: a killed daemon loses no committed record; a power cut may lose
//! the last moments, never the database. A save nobody waited for may be lost with the
//! process: the transcript then tells what was done (see `crate::chat::resume`). A record
//! that cannot be read is logged and treated as absent: the transcript then decides, which
//! errs on the side of not repeating anything.
//!
//! Records of older versions (one JSON file per chat under `chats/`) are imported once at
//! start (`import`); [`read`] opens the database read-only for `gws-botd state`, also
//! while the daemon runs.
//!
//! The state directory holds customer data: every directory the daemon creates in it is 0700
//! and every file it writes 0600, whatever the umask ([`create_private_dir`],
//! [`private_file`]); SQLite gives its `-wal` and `-shm` files the database file's mode.

pub(crate) mod import;
pub mod read;
mod sql;
mod writer;

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::ChatId;

/// The database's file name in the state directory.
pub const DB_FILE: &str = "state.sqlite3";

/// Where the daemon keeps its files (chat state, decision log, override) unless `bot.state_dir`
/// says otherwise (systemd's `StateDirectory=gws-botd`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/gws-botd";

/// What the daemon remembers of one chat across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// The `accept` rules have run: never greet again. (A greeting cut short is told apart
    /// by the transcript: a bot text in it means the customer was greeted.)
    pub greeted: bool,
    /// Every transcript entry up to this event id has been handled.
    pub cursor: Option<String>,
    /// A customer message whose answer was being sent when the record was written; on
    /// recovery the transcript shows whether the answer went out.
    pub answering: Option<String>,
    /// Customer messages so far.
    pub turn: u32,
    /// Consecutive customer messages without a matching `message` rule.
    pub unanswered: u32,
    /// Rules that have acted in this chat (for `once`).
    pub fired: BTreeSet<String>,
    /// What the bot's last answer asked the customer for (a rule's `await`), until the next
    /// customer message.
    pub awaiting: Option<String>,
    /// A hand-over in progress.
    pub escalation: Option<Escalation>,
    /// How the chat is to end, saved before the answer that ends it is sent.
    pub finish: Option<Finish>,
}

/// An end the bot has decided on but may not have carried out yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// Close the chat.
    Close,
    /// Single-step transfer to this skill.
    Transfer(String),
}

/// How far a hand-over got. The team is kept whole, so a restart finishes the hand-over the
/// rules asked for even if the rules changed meanwhile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Escalation {
    /// The team's name.
    pub team: String,
    pub agents: Vec<String>,
    pub skill: Option<String>,
    /// How long each consultation waits, in milliseconds.
    pub wait_ms: u64,
    /// Index of the agent being consulted (or next to consult).
    pub agent: usize,
    /// What the customer has been told so far.
    pub stage: Stage,
    /// The team's `mode` (older records: transfer).
    pub mode: crate::event::TeamMode,
    /// The team's `resume` (conference only).
    pub resume: bool,
    /// Participants (by key) who cannot be the agent being consulted: the human agents who
    /// were in the chat when the consultation began, and any newcomer GWS showed not to be
    /// them. Kept so that a restart recognises the same join.
    pub present: Vec<String>,
}

/// How far a hand-over got, by what the customer was told (each saved before it is told).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A rule asked for it; nothing told yet.
    #[default]
    Decided,
    /// Told "please hold on"; consulting `agent`.
    Consulting,
    /// Told "a colleague is with you" about `agent`; the transfer comes next.
    Connected,
    /// A conference team's agent has joined and the bot is about to turn the consultation into
    /// a conference (saved before the request goes out): after a restart, a refusal of the
    /// same request means the conference was made before the daemon stopped.
    Completing,
    /// Told "you are in the queue"; the skill transfer comes next.
    Queued,
    /// In a conference with `agent`: the bot stays silent while a human is in the chat.
    Conferenced,
}

/// The store: a handle on the writer thread. Cheap to clone; the writer commits what is
/// queued and stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Store {
    writer: Option<Arc<writer::Handle>>,
}

/// A save's place in the writer's queue: [`Store::committed`] waits for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Saved(u64);

/// The store could not be opened.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot use the state directory {dir}: {source} (set bot.state_dir to a writable directory)"
)]
pub struct OpenError {
    dir: String,
    source: sql::BoxError,
}

impl Store {
    /// Open (and create) the database in `dir`, import the records of older versions, and
    /// start the writer thread. Runs once at start; blocking is fine there.
    pub fn open(dir: &Path) -> Result<Store, OpenError> {
        let fail = |source: sql::BoxError| OpenError {
            dir: dir.display().to_string(),
            source,
        };
        create_private_dir(dir).map_err(|e| fail(e.into()))?;
        let mut conn = sql::open(&dir.join(DB_FILE)).map_err(fail)?;
        import::json_records(dir, &mut conn).map_err(fail)?;
        let handle = writer::Handle::start(conn).map_err(|e| fail(e.into()))?;
        Ok(Store {
            writer: Some(Arc::new(handle)),
        })
    }

    /// A store that remembers nothing (for tests of other parts and tools).
    pub fn disabled() -> Store {
        Store { writer: None }
    }

    /// The record of chat `id`, if one was saved and is readable. Asked of the writer, so it
    /// sees every save queued before it (a chat's start, not a per-message path).
    pub async fn load(&self, id: &ChatId) -> Option<Record> {
        let writer = self.writer.as_ref()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        writer.send(writer::Op::Load {
            id: id.clone(),
            reply,
        });
        answer.await.ok().flatten()
    }

    /// Queue the record of chat `id` for the next transaction and return at once. Failures
    /// are logged by the writer: the chat goes on, and a restart then relies on the
    /// transcript alone.
    pub fn save(&self, id: &ChatId, record: &Record) -> Saved {
        let Some(writer) = &self.writer else {
            return Saved::default();
        };
        Saved(writer.send(writer::Op::Save {
            id: id.clone(),
            record: Box::new(record.clone()),
        }))
    }

    /// Wait until the transaction holding `saved` (and everything queued before it) has
    /// been committed, or has failed and been logged.
    pub async fn committed(&self, saved: Saved) {
        if let Some(writer) = &self.writer {
            writer.settled(saved.0).await;
        }
    }

    /// Wait until everything queued so far has been committed (shutdown, tests).
    pub async fn flush(&self) {
        if let Some(writer) = &self.writer {
            writer.settled(writer.queued()).await;
        }
    }

    /// Forget chat `id` (it ended).
    pub fn remove(&self, id: &ChatId) {
        if let Some(writer) = &self.writer {
            writer.send(writer::Op::Remove { id: id.clone() });
        }
    }

    /// Ids of every chat with a saved record.
    pub async fn ids(&self) -> Vec<ChatId> {
        let Some(writer) = &self.writer else {
            return Vec::new();
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        writer.send(writer::Op::Ids { reply });
        answer.await.unwrap_or_default()
    }

    /// Have the writer remove the records last written more than `age` ago whose chats are
    /// not `kept`: chats that ended while the daemon was down, or that GWS gave to someone
    /// else. Returns at once; the writer logs what it removed. The age is wall-clock time
    /// (records survive restarts, which a monotonic clock does not).
    pub fn prune(&self, age: Duration, kept: HashSet<ChatId>) {
        if let Some(writer) = &self.writer {
            writer.send(writer::Op::Prune { age, kept });
        }
    }

    /// Transactions committed since the store was opened (group commit: far fewer than saves).
    pub fn transactions(&self) -> u64 {
        self.writer.as_ref().map_or(0, |w| w.transactions())
    }
}

/// Create `dir` and any missing parents, each readable by the daemon's user alone (0700).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Options that create files readable and writable by the daemon's user alone (0600); add
/// the access mode.
pub fn private_file() -> fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = fs::OpenOptions::new();
    options.mode(0o600);
    options
}

#[cfg(test)]
mod tests;
