//! The emergency override: "every schedule (or one) is closed until …", set by
//! `gws-botd override closed`, kept as a small JSON file in the daemon's state directory so it
//! survives restarts, and ending by itself at its `until` time.
//!
//! The daemon reads the file through a [`Watch`], which re-reads it only when its modification
//! time changes (one `stat` per evaluation) and logs when an override appears or goes away.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The override file's name inside the state directory.
pub const FILE_NAME: &str = "override.json";

/// An emergency closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Schedules are closed until this instant.
    pub until: Timestamp,
    /// Only this schedule; every schedule when `None`.
    pub schedule: Option<String>,
    /// Sent instead of the reply of a rule that acts because the schedule is closed.
    pub message: Option<String>,
    /// When it was set.
    pub set_at: Timestamp,
}

/// The file's shape.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideFile {
    until: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    set_at: String,
}

impl Override {
    /// Whether it closes schedule `name` at `now`.
    pub fn covers(&self, name: &str, now: Timestamp) -> bool {
        now < self.until && self.schedule.as_deref().is_none_or(|s| s == name)
    }

    /// Whether it is still in force at `now`.
    pub fn active(&self, now: Timestamp) -> bool {
        now < self.until
    }
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schedule {
            Some(name) => write!(f, "schedule {name:?} closed until {}", self.until)?,
            None => write!(f, "all schedules closed until {}", self.until)?,
        }
        if self.message.is_some() {
            f.write_str(", with a message")?;
        }
        Ok(())
    }
}

/// Where the override file of `state_dir` lives.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// Write the override atomically (temporary file, then rename), creating the directory.
pub fn write(state_dir: &Path, o: &Override) -> std::io::Result<()> {
    crate::store::state::create_private_dir(state_dir)?;
    let file = OverrideFile {
        until: o.until.to_string(),
        schedule: o.schedule.clone(),
        message: o.message.clone(),
        set_at: o.set_at.to_string(),
    };
    let text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
    let tmp = state_dir.join(format!(".{FILE_NAME}.tmp"));
    std::io::Write::write_all(
        &mut crate::store::state::private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?,
        (text + "\n").as_bytes(),
    )?;
    std::fs::rename(&tmp, path(state_dir))
}

/// Remove the override; `Ok(false)` when there was none.
pub fn clear(state_dir: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(path(state_dir)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Read the override of `state_dir`: `Ok(None)` when there is no file.
pub fn read(state_dir: &Path) -> Result<Option<Override>, String> {
    let path = path(state_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    parse(&text)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn parse(text: &str) -> Result<Override, String> {
    let file: OverrideFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let time = |s: &str| s.parse::<Timestamp>().map_err(|e| format!("{s:?}: {e}"));
    Ok(Override {
        until: time(&file.until)?,
        schedule: file.schedule,
        message: file.message,
        set_at: time(&file.set_at)?,
    })
}

/// The override file of a state directory, re-read when it changes.
#[derive(Debug)]
pub struct Watch {
    dir: PathBuf,
    cached: Mutex<Cached>,
}

#[derive(Debug, Default)]
struct Cached {
    /// Modification time of the file when read; `None` when there was no file.
    mtime: Option<SystemTime>,
    value: Option<Arc<Override>>,
    /// Whether the end of `value` was logged.
    ended_logged: bool,
}

impl Watch {
    /// Watch the override file of `state_dir` (which need not exist yet).
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        let watch = Watch {
            dir: state_dir.into(),
            cached: Mutex::new(Cached::default()),
        };
        watch.refresh();
        watch
    }

    /// Re-read the file if its modification time changed; log what changed.
    fn refresh(&self) -> Option<Arc<Override>> {
        let mtime = std::fs::metadata(path(&self.dir))
            .and_then(|m| m.modified())
            .ok();
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if cached.mtime == mtime {
            return cached.value.clone();
        }
        cached.mtime = mtime;
        let value = match read(&self.dir) {
            Ok(value) => value.map(Arc::new),
            Err(e) => {
                tracing::error!(error = %e, "the emergency override file is unreadable; ignoring it");
                None
            }
        };
        match (&cached.value, &value) {
            (_, Some(o)) => tracing::warn!(r#override = %o, "emergency override in force"),
            (Some(_), None) => tracing::info!("emergency override cleared"),
            (None, None) => {}
        }
        cached.value = value.clone();
        cached.ended_logged = false;
        value
    }

    /// The override in force at `now`, if any. Its end is logged once.
    pub fn current(&self, now: Timestamp) -> Option<Arc<Override>> {
        let value = self.refresh()?;
        if value.active(now) {
            return Some(value);
        }
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if !cached.ended_logged {
            tracing::info!(until = %value.until, "emergency override ended");
            cached.ended_logged = true;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Override {
        Override {
            until: "2026-11-25T14:00:00Z".parse().unwrap(),
            schedule: Some("support".into()),
            message: Some("Closed for an emergency.".into()),
            set_at: "2026-11-25T10:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn override_survives_a_round_trip_and_clears() {
        let dir = std::env::temp_dir().join(format!("gws-botd-ovr-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(read(&dir), Ok(None));
        write(&dir, &sample()).unwrap();
        assert_eq!(read(&dir), Ok(Some(sample())));
        let watch = Watch::new(&dir);
        let before: Timestamp = "2026-11-25T13:59:59Z".parse().unwrap();
        let after: Timestamp = "2026-11-25T14:00:00Z".parse().unwrap();
        assert_eq!(watch.current(before).as_deref(), Some(&sample()));
        assert_eq!(watch.current(after), None, "ends by itself");
        assert!(clear(&dir).unwrap());
        assert!(!clear(&dir).unwrap());
        assert_eq!(watch.current(before), None, "a cleared file is noticed");
        std::fs::write(path(&dir), "{ not json").unwrap();
        assert!(read(&dir).is_err());
        assert_eq!(watch.current(before), None, "a broken file closes nothing");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn covers_one_schedule_or_all() {
        let mut o = sample();
        let now: Timestamp = "2026-11-25T12:00:00Z".parse().unwrap();
        assert!(o.covers("support", now));
        assert!(!o.covers("sales", now));
        o.schedule = None;
        assert!(o.covers("sales", now));
        assert!(!o.covers("sales", o.until));
    }
}
