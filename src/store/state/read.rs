//! Reading the saved chat state from outside the daemon (`gws-botd state`, tests): the
//! database opened read-only, which works while the daemon runs (in WAL mode a reader sees
//! the last commit and never blocks the writer).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension as _};

use super::{DB_FILE, Record};
use crate::event::ChatId;

/// One saved chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: ChatId,
    /// When the daemon last wrote the record.
    pub written_at: jiff::Timestamp,
    pub record: Record,
}

/// Why the state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(
        "no saved chat state in {0} (no {DB_FILE}: is this the daemon's state directory? set it with --state-dir)"
    )]
    Missing(String),
    #[error("cannot read {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("the saved state of chat {id} in {path} is damaged: {error}")]
    Damaged {
        path: String,
        id: String,
        error: String,
    },
}

/// A read-only view of the database.
pub struct Reader {
    conn: Connection,
    path: PathBuf,
}

impl Reader {
    /// Open the database in `state_dir` read-only.
    pub fn open(state_dir: &Path) -> Result<Reader, ReadError> {
        let path = state_dir.join(DB_FILE);
        if !path.is_file() {
            return Err(ReadError::Missing(state_dir.display().to_string()));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(&path, flags).map_err(|source| ReadError::Sqlite {
                path: path.display().to_string(),
                source,
            })?;
        let reader = Reader { conn, path };
        reader
            .conn
            .busy_timeout(super::sql::BUSY_TIMEOUT)
            .map_err(|e| reader.sqlite(e))?;
        Ok(reader)
    }

    fn sqlite(&self, source: rusqlite::Error) -> ReadError {
        ReadError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn entry(&self, id: String, json: &str, written_at: i64) -> Result<Entry, ReadError> {
        let record = serde_json::from_str(json).map_err(|e| ReadError::Damaged {
            path: self.path.display().to_string(),
            id: id.clone(),
            error: e.to_string(),
        })?;
        Ok(Entry {
            id: ChatId(id),
            written_at: jiff::Timestamp::from_millisecond(written_at)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            record,
        })
    }

    /// Every saved chat, by id.
    pub fn list(&self) -> Result<Vec<Entry>, ReadError> {
        let rows: Vec<(String, String, i64)> = self
            .conn
            .prepare("SELECT id, record, written_at FROM chats ORDER BY id")
            .and_then(|mut stmt| {
                stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect()
            })
            .map_err(|e| self.sqlite(e))?;
        rows.into_iter()
            .map(|(id, json, at)| self.entry(id, &json, at))
            .collect()
    }

    /// The saved chat `id`, if any.
    pub fn get(&self, id: &ChatId) -> Result<Option<Entry>, ReadError> {
        let row: Option<(String, i64)> = self
            .conn
            .query_row(
                "SELECT record, written_at FROM chats WHERE id = ?1",
                [&id.0],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|e| self.sqlite(e))?;
        row.map(|(json, at)| self.entry(id.0.clone(), &json, at))
            .transpose()
    }
}
