//! Reading the log: every record of every file, oldest first, one at a time.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::{Record, files};

/// What [`scan`] read.
#[derive(Debug, Default)]
pub struct Scanned {
    /// The files read, oldest first.
    pub files: Vec<PathBuf>,
    /// Lines that were not records (a torn last line after a crash, foreign content).
    pub unreadable: usize,
}

/// Hand every record of the log files in `dir` to `each`, oldest first, without holding them
/// all in memory; with `needle`, only lines containing it are parsed (the others are skipped
/// unread). Blocking file I/O.
pub fn scan(dir: &Path, needle: Option<&str>, mut each: impl FnMut(Record)) -> io::Result<Scanned> {
    let mut scanned = Scanned {
        files: files(dir)?,
        ..Scanned::default()
    };
    for path in &scanned.files {
        let reader = BufReader::new(File::open(path)?);
        for line in reader.split(b'\n') {
            let line = line?;
            let Ok(text) = std::str::from_utf8(&line) else {
                scanned.unreadable += 1;
                continue;
            };
            if text.trim().is_empty() || needle.is_some_and(|n| !text.contains(n)) {
                continue;
            }
            match serde_json::from_str::<Record>(text) {
                Ok(r) => each(r),
                Err(_) => scanned.unreadable += 1,
            }
        }
    }
    Ok(scanned)
}
