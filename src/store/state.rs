//! The daemon's small local state store: one JSON file per open chat under
//! `<bot.state_dir>/chats/`, holding the minimum needed to continue a chat after a crash or a
//! restart (transcript cursor, whether the accept rules ran, rule counters, escalation step).
//!
//! Every write goes to a temporary file that is then renamed over the old one, so a `kill -9`
//! or a crash of the daemon leaves either the old or the new record, never half of one. The
//! writes are not forced to disk (an fsync per customer message made the answer five times
//! slower under load): after a power cut or an OS crash the last records may be old or
//! unreadable. Unreadable records are logged and treated as absent: the transcript then decides
//! (see [`crate::chat`]), which errs on the side of not repeating anything to the customer.
//!
//! The state directory holds customer data: every directory the daemon creates in it is 0700
//! and every file it writes 0600, whatever the umask ([`create_private_dir`],
//! [`private_file`]).

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::event::ChatId;

/// Where the state lives unless configured otherwise (systemd's `StateDirectory=gws-botd`).
pub use crate::config::DEFAULT_STATE_DIR;

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
    pub mode: crate::responder::TeamMode,
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
    /// Told "you are in the queue"; the skill transfer comes next.
    Queued,
    /// In a conference with `agent`: the bot stays silent while a human is in the chat.
    Conferenced,
}

/// The store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    dir: Option<PathBuf>,
}

/// The store could not be opened.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot use the state directory {dir}: {source} (set bot.state_dir to a writable directory)"
)]
pub struct OpenError {
    dir: String,
    source: std::io::Error,
}

impl Store {
    /// Open (and create) the store under `dir`.
    pub fn open(dir: &Path) -> Result<Store, OpenError> {
        let chats = dir.join("chats");
        let fail = |source| OpenError {
            dir: dir.display().to_string(),
            source,
        };
        create_private_dir(&chats).map_err(fail)?;
        // Leftovers of writes interrupted by a crash.
        if let Ok(entries) = fs::read_dir(&chats) {
            for entry in entries.flatten() {
                if entry.path().extension().is_some_and(|e| e == "tmp") {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        let probe = chats.join(".probe.tmp");
        private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&probe)
            .map_err(fail)?;
        let _ = fs::remove_file(probe);
        Ok(Store { dir: Some(chats) })
    }

    /// A store that remembers nothing (for tests of other parts and tools).
    pub fn disabled() -> Store {
        Store { dir: None }
    }

    fn path(&self, id: &ChatId) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(file_name(&id.0)))
    }

    /// The record of chat `id`, if one was saved and is readable.
    pub fn load(&self, id: &ChatId) -> Option<Record> {
        let path = self.path(id)?;
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                warn!(chat_id = %id, error = %e, "cannot read the chat's saved state");
                return None;
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(record) => Some(record),
            Err(e) => {
                warn!(chat_id = %id, error = %e, "the chat's saved state is damaged; ignoring it");
                None
            }
        }
    }

    /// Save the record of chat `id` atomically. Failures are logged: the chat goes on, and a
    /// restart then relies on the transcript alone.
    pub fn save(&self, id: &ChatId, record: &Record) {
        let Some(path) = self.path(id) else {
            return;
        };
        if let Err(e) = write_atomic(&path, record) {
            warn!(chat_id = %id, error = %e, "cannot save the chat's state");
        }
    }

    /// Forget chat `id` (it ended).
    pub fn remove(&self, id: &ChatId) {
        let Some(path) = self.path(id) else {
            return;
        };
        match fs::remove_file(&path) {
            Ok(()) => debug!(chat_id = %id, "chat state removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => warn!(chat_id = %id, error = %e, "cannot remove the chat's state"),
        }
    }

    /// Ids of every chat with a saved record.
    pub fn ids(&self) -> Vec<ChatId> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let Ok(entries) = fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".json")?;
                Some(ChatId::from(unescape(stem)?.as_str()))
            })
            .collect()
    }
}

impl Store {
    /// Remove the records that were last written more than `age` ago and are not `kept`:
    /// chats that ended while the daemon was down, or that GWS gave to someone else. Returns
    /// how many were removed. The age is the file's modification time, i.e. wall-clock time
    /// (records survive restarts, which a monotonic clock does not).
    pub fn prune(&self, age: Duration, kept: impl Fn(&ChatId) -> bool) -> usize {
        let Some(dir) = &self.dir else {
            return 0;
        };
        let Ok(entries) = fs::read_dir(dir) else {
            return 0;
        };
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries.flatten() {
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(unescape)
                .map(|id| ChatId::from(id.as_str()))
            else {
                continue;
            };
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|since| since > age);
            if old && !kept(&id) && fs::remove_file(entry.path()).is_ok() {
                debug!(chat_id = %id, "removed the saved state of a chat that did not come back");
                removed += 1;
            }
        }
        removed
    }
}

fn write_atomic(path: &Path, record: &Record) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    let mut file = private_file()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    file.write_all(&bytes)?;
    drop(file);
    fs::rename(&tmp, path)
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

/// Kept in file names: letters, digits, `-` and `_` (no `.`, so never `..`).
const FILE_NAME_KEPT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// A file name for any chat id: safe characters kept, everything else `%XX`-escaped.
fn file_name(id: &str) -> String {
    format!(
        "{}.json",
        percent_encoding::utf8_percent_encode(id, FILE_NAME_KEPT)
    )
}

/// The chat id of a file name's stem; `None` if it is not one this store wrote.
fn unescape(stem: &str) -> Option<String> {
    let id = percent_encoding::percent_decode_str(stem)
        .decode_utf8()
        .ok()?;
    (file_name(&id) == format!("{stem}.json")).then(|| id.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> PathBuf {
        std::env::temp_dir().join(format!("gws-botd-state-{}", rand::random::<u64>()))
    }

    /// The store's directories are 0700 and every record 0600, as is the override file.
    #[test]
    fn state_files_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = temp();
        let store = Store::open(&dir).unwrap();
        let id = ChatId::from("c-1");
        store.save(&id, &Record::default());
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("chats")), 0o700);
        assert_eq!(mode(&dir.join("chats").join("c-1.json")), 0o600);
        let o = crate::schedule::overrides::Override {
            until: jiff::Timestamp::UNIX_EPOCH,
            schedule: None,
            message: None,
            set_at: jiff::Timestamp::UNIX_EPOCH,
        };
        crate::schedule::overrides::write(&dir.join("fresh"), &o).unwrap();
        assert_eq!(mode(&dir.join("fresh")), 0o700);
        assert_eq!(
            mode(&crate::schedule::overrides::path(&dir.join("fresh"))),
            0o600
        );
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn records_round_trip_and_are_removed() {
        let dir = temp();
        let store = Store::open(&dir).unwrap();
        let id = ChatId::from("0001AB/../x y");
        assert_eq!(store.load(&id), None);
        let record = Record {
            greeted: true,
            cursor: Some("e-7".into()),
            turn: 3,
            fired: ["greeting".to_string()].into(),
            escalation: Some(Escalation {
                team: "billing".into(),
                agents: vec!["a1".into(), "a2".into()],
                skill: Some("Billing".into()),
                wait_ms: 2000,
                agent: 1,
                stage: Stage::Connected,
                mode: crate::responder::TeamMode::Conference,
                resume: true,
                present: vec!["00AF52FCF0C0002F".into()],
            }),
            finish: Some(Finish::Transfer("Billing".into())),
            ..Record::default()
        };
        store.save(&id, &record);
        assert_eq!(store.load(&id), Some(record.clone()));
        assert_eq!(store.ids(), vec![id.clone()]);
        // Reopening (a restart) sees the same record.
        let again = Store::open(&dir).unwrap();
        assert_eq!(again.load(&id), Some(record));
        again.remove(&id);
        assert_eq!(again.load(&id), None);
        assert!(again.ids().is_empty());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn damaged_records_and_leftover_temp_files_are_ignored() {
        let dir = temp();
        let store = Store::open(&dir).unwrap();
        let id = ChatId::from("c1");
        fs::write(dir.join("chats").join("c1.json"), b"{\"greeted\":tr").unwrap();
        assert_eq!(store.load(&id), None);
        fs::write(dir.join("chats").join("c2.tmp"), b"half").unwrap();
        let _ = Store::open(&dir).unwrap();
        assert!(!dir.join("chats").join("c2.tmp").exists());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn old_records_of_chats_that_did_not_come_back_are_pruned() {
        let dir = temp();
        let store = Store::open(&dir).unwrap();
        let (gone, running, fresh) = (
            ChatId::from("gone"),
            ChatId::from("run"),
            ChatId::from("new"),
        );
        for id in [&gone, &running, &fresh] {
            store.save(id, &Record::default());
        }
        let two_days_ago = SystemTime::now() - Duration::from_secs(48 * 3600);
        for id in [&gone, &running] {
            let file = fs::File::options()
                .write(true)
                .open(store.path(id).unwrap())
                .unwrap();
            file.set_modified(two_days_ago).unwrap();
        }
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(store.prune(day, |id| id == &running), 1);
        assert_eq!(store.load(&gone), None);
        assert!(store.load(&running).is_some() && store.load(&fresh).is_some());
        assert_eq!(store.prune(day, |id| id == &running), 0);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn an_unwritable_directory_is_reported() {
        let err = Store::open(Path::new("/proc/gws-botd-no")).unwrap_err();
        assert!(err.to_string().contains("bot.state_dir"), "{err}");
    }

    #[test]
    fn file_names_escape_unsafe_characters() {
        assert_eq!(file_name("0001AB"), "0001AB.json");
        assert_eq!(file_name("a/b"), "a%2Fb.json");
        assert_eq!(unescape("a%2Fb").as_deref(), Some("a/b"));
    }
}
