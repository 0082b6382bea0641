//! The database itself: its file, its one table and the statements the writer and the import
//! run on it. Called from the writer thread and at start only, never from a tokio thread.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension as _, params};
use tracing::{debug, info, warn};

use super::Record;
use crate::event::ChatId;

/// How long a statement waits for a lock held by another connection (an operator's reader
/// during a checkpoint) before it fails.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The one table: a chat's record as JSON (the serde form of [`Record`]) and when it was
/// last written (milliseconds since the Unix epoch, wall clock). Keyed by the chat id itself
/// (`WITHOUT ROWID`) and without a second index, so that saving a chat changes one B-tree
/// page: each page a transaction changes is two writes to the WAL file. The prune, which runs
/// rarely and on the writer thread, scans the table instead.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS chats (
    id TEXT PRIMARY KEY NOT NULL,
    record TEXT NOT NULL,
    written_at INTEGER NOT NULL
) WITHOUT ROWID;";

/// The table of earlier versions (a rowid table with an index on `written_at`, three or four
/// pages per save), moved into the current one in one transaction.
const MIGRATE_ROWID_TABLE: &str = "BEGIN IMMEDIATE;
CREATE TABLE chats_keyed (
    id TEXT PRIMARY KEY NOT NULL,
    record TEXT NOT NULL,
    written_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO chats_keyed (id, record, written_at) SELECT id, record, written_at FROM chats;
DROP TABLE chats;
ALTER TABLE chats_keyed RENAME TO chats;
COMMIT;";

/// Error type of opening and importing: anything, with its message.
pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Open the database at `path` (created 0600 first, so that SQLite's `-wal` and `-shm`
/// files, which take the database file's mode, are private too), in WAL mode with
/// `synchronous = NORMAL`, with the table in place.
pub(super) fn open(path: &Path) -> Result<Connection, BoxError> {
    super::private_file().write(true).create(true).open(path)?;
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("SQLite cannot use WAL mode for {} ({mode})", path.display()).into());
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let table: Option<String> = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'chats'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if table.is_some_and(|sql| !sql.to_ascii_uppercase().contains("WITHOUT ROWID")) {
        conn.execute_batch(MIGRATE_ROWID_TABLE)?;
        info!(db = %path.display(), "chat state table moved to the keyed layout");
    }
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Milliseconds since the Unix epoch of `at`.
pub(super) fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Insert or replace the record of `id`, last written at `written_at` (ms).
pub(super) fn put(
    conn: &Connection,
    id: &str,
    record: &Record,
    written_at: i64,
) -> rusqlite::Result<()> {
    let json = serde_json::to_string(record)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO chats (id, record, written_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![id, json, written_at])?;
    Ok(())
}

/// Delete the record of `id`; true if there was one.
pub(super) fn delete(conn: &Connection, id: &ChatId) -> rusqlite::Result<bool> {
    let removed = conn
        .prepare_cached("DELETE FROM chats WHERE id = ?1")?
        .execute([&id.0])?;
    Ok(removed > 0)
}

/// The record of `id`; a damaged one is logged and treated as absent.
pub(super) fn get(conn: &Connection, id: &ChatId) -> rusqlite::Result<Option<Record>> {
    let json: Option<String> = conn
        .prepare_cached("SELECT record FROM chats WHERE id = ?1")?
        .query_row([&id.0], |row| row.get(0))
        .optional()?;
    Ok(json.and_then(|json| match serde_json::from_str(&json) {
        Ok(record) => Some(record),
        Err(e) => {
            warn!(chat_id = %id, error = %e, "the chat's saved state is damaged; ignoring it");
            None
        }
    }))
}

/// Every saved chat id.
pub(super) fn ids(conn: &Connection) -> rusqlite::Result<Vec<ChatId>> {
    let mut stmt = conn.prepare_cached("SELECT id FROM chats ORDER BY id")?;
    let ids = stmt.query_map([], |row| row.get::<_, String>(0))?;
    ids.map(|id| id.map(ChatId)).collect()
}

/// Remove the records older than `age` whose chats are not `kept`; logs what it removed.
pub(super) fn prune(
    conn: &Connection,
    age: Duration,
    kept: &HashSet<ChatId>,
    now: i64,
) -> rusqlite::Result<usize> {
    let before = now.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
    let stale: Vec<ChatId> = conn
        .prepare_cached("SELECT id FROM chats WHERE written_at < ?1")?
        .query_map([before], |row| row.get::<_, String>(0))?
        .map(|id| id.map(ChatId))
        .collect::<rusqlite::Result<_>>()?;
    let mut removed = 0;
    for id in stale.into_iter().filter(|id| !kept.contains(id)) {
        if delete(conn, &id)? {
            removed += 1;
            debug!(chat_id = %id, "removed the saved state of a chat that did not come back");
        }
    }
    if removed > 0 {
        info!(
            pruned = removed,
            older_than = %humantime::format_duration(age),
            "removed the saved state of chats that did not come back"
        );
    }
    Ok(removed)
}
