//! Records of older versions: one JSON file per chat under `<state_dir>/chats/`, named by the
//! percent-escaped chat id. They are imported into the database once, at start, in one
//! transaction, and the files removed afterwards; a file that cannot be read is logged and
//! moved aside (`<name>.json.damaged`), never deleted. Leftover `.tmp` files of interrupted
//! writes are removed.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rusqlite::Connection;
use tracing::{info, warn};

use super::Record;
use super::sql::{BoxError, millis, put};

/// The directory the JSON records lived in, under the state directory.
pub const LEGACY_DIR: &str = "chats";

/// Kept in file names: letters, digits, `-` and `_` (no `.`, so never `..`).
const FILE_NAME_KEPT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// The file name older versions gave the record of chat `id`.
pub fn file_name(id: &str) -> String {
    format!(
        "{}.json",
        percent_encoding::utf8_percent_encode(id, FILE_NAME_KEPT)
    )
}

/// The chat id of a file name's stem; `None` if it is not one the old store wrote.
fn unescape(stem: &str) -> Option<String> {
    let id = percent_encoding::percent_decode_str(stem)
        .decode_utf8()
        .ok()?;
    (file_name(&id) == format!("{stem}.json")).then(|| id.into_owned())
}

/// Import the JSON records in `<state_dir>/chats/` into `conn`; returns how many.
pub fn json_records(state_dir: &Path, conn: &mut Connection) -> Result<usize, BoxError> {
    let dir = state_dir.join(LEGACY_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display()).into()),
    };
    let mut records: Vec<(String, Record, i64)> = Vec::new();
    let mut imported: Vec<PathBuf> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".tmp") {
            let _ = fs::remove_file(&path);
            continue;
        }
        let Some(id) = name.strip_suffix(".json").and_then(unescape) else {
            continue;
        };
        // The file's age carries over, so that pruning sees how old the record is.
        let written_at = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now());
        let parsed = fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).map_err(|e| e.to_string()));
        match parsed {
            Ok(record) => {
                records.push((id, record, millis(written_at)));
                imported.push(path);
            }
            Err(error) => set_aside(&path, &error),
        }
    }
    if !records.is_empty() {
        let tx = conn.transaction()?;
        for (id, record, written_at) in &records {
            put(&tx, id, record, *written_at)?;
        }
        tx.commit()?;
        info!(
            records = records.len(),
            from = %dir.display(),
            "imported the chat state files of an older version into the database"
        );
    }
    for path in imported {
        if let Err(e) = fs::remove_file(&path) {
            warn!(file = %path.display(), error = %e, "cannot remove an imported chat state file");
        }
    }
    // Gone once empty; damaged files keep it.
    let _ = fs::remove_dir(&dir);
    Ok(records.len())
}

/// Log a damaged record file and rename it so that it is neither imported nor lost.
fn set_aside(path: &Path, error: &str) {
    let aside = path.with_extension("json.damaged");
    match fs::rename(path, &aside) {
        Ok(()) => warn!(
            file = %path.display(),
            moved_to = %aside.display(),
            error,
            "a chat state file of an older version is damaged; not imported, moved aside"
        ),
        Err(e) => warn!(
            file = %path.display(),
            error,
            rename_error = %e,
            "a chat state file of an older version is damaged; not imported"
        ),
    }
}
