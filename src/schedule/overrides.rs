//! The emergency override: "every schedule (or one) is closed until …", set by
//! `gws-botd override closed`, kept as a small JSON file in the daemon's state directory so it
//! survives restarts, and ending by itself at its `until` time.
//!
//! The daemon follows the file through a [`Watch`]: a file watcher (inotify through `notify`,
//! or polling every second where inotify is not available) re-reads it on its own thread as
//! soon as it changes, logs what changed and reports it to a hook (the metrics), so a change is
//! noticed within a second and a chat only reads the cached value: no file I/O per message.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// A time as operators read it: whole seconds, no fractions.
pub fn whole_seconds(t: Timestamp) -> Timestamp {
    t.round(jiff::Unit::Second).unwrap_or(t)
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let until = whole_seconds(self.until);
        match &self.schedule {
            Some(name) => write!(f, "schedule {name:?} closed until {until}")?,
            None => write!(f, "all schedules closed until {until}")?,
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

/// How often the file is polled where it cannot be watched.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Told about every change of the override: the new one, or `None` when it went away.
pub type OnChange = Box<dyn Fn(Option<&Override>) + Send + Sync>;

/// The override file of a state directory, followed by a file watcher.
pub struct Watch {
    shared: Arc<Shared>,
    /// Kept alive for as long as the watch; dropping it stops watching.
    _watcher: Mutex<Option<Box<dyn notify::Watcher + Send>>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

struct Shared {
    dir: PathBuf,
    cached: Mutex<Cached>,
    on_change: Option<OnChange>,
    /// Changes noticed so far (for tests and diagnostics).
    changes: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Cached {
    value: Option<Arc<Override>>,
    /// Whether the end of `value` was logged.
    ended_logged: bool,
}

impl Watch {
    /// Follow the override file of `state_dir` (created if missing, as the daemon's store
    /// does), without a hook.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Watch::with_hook(state_dir, None)
    }

    /// Follow the override file of `state_dir`, calling `on_change` with every change.
    pub fn with_hook(state_dir: impl Into<PathBuf>, on_change: Option<OnChange>) -> Self {
        let shared = Arc::new(Shared {
            dir: state_dir.into(),
            cached: Mutex::new(Cached::default()),
            on_change,
            changes: tokio::sync::watch::Sender::new(0),
        });
        // Watch first, then read: a change in between is seen by one or the other.
        let watcher = start_watcher(&shared);
        shared.refresh();
        Watch {
            shared,
            _watcher: Mutex::new(watcher),
        }
    }

    /// The number of changes noticed so far; changes as they are noticed.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// The override in force at `now`, if any (no file I/O). Its end is logged once.
    pub fn current(&self, now: Timestamp) -> Option<Arc<Override>> {
        let mut cached = self.shared.lock();
        let value = cached.value.clone()?;
        if value.active(now) {
            return Some(value);
        }
        if !cached.ended_logged {
            tracing::info!(until = %whole_seconds(value.until), "emergency override ended");
            cached.ended_logged = true;
        }
        None
    }
}

/// Watch the state directory for changes of the override file: inotify where it works, else
/// polling. `None` (logged) when neither can be set up.
fn start_watcher(shared: &Arc<Shared>) -> Option<Box<dyn notify::Watcher + Send>> {
    use notify::Watcher as _;
    let dir = shared.dir.clone();
    if let Err(e) = crate::store::state::create_private_dir(&dir) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot create the state directory to watch the emergency override");
    }
    let handler = {
        let shared = Arc::downgrade(shared);
        move |event: notify::Result<notify::Event>| {
            let relevant = match &event {
                Err(_) => true,
                Ok(event) => {
                    !matches!(event.kind, notify::EventKind::Access(_))
                        && event
                            .paths
                            .iter()
                            .any(|p| p.file_name().is_some_and(|n| n == FILE_NAME))
                }
            };
            if let Some(shared) = shared.upgrade().filter(|_| relevant) {
                shared.refresh();
            }
        }
    };
    let recursive = notify::RecursiveMode::NonRecursive;
    let inotify = notify::recommended_watcher(handler.clone()).and_then(|mut w| {
        w.watch(&dir, recursive)?;
        Ok(Box::new(w) as Box<dyn notify::Watcher + Send>)
    });
    let error = match inotify {
        Ok(w) => return Some(w),
        Err(e) => e,
    };
    let config = notify::Config::default().with_poll_interval(POLL_INTERVAL);
    match notify::PollWatcher::new(handler, config).and_then(|mut w| {
        w.watch(&dir, recursive)?;
        Ok(w)
    }) {
        Ok(w) => {
            tracing::info!(dir = %dir.display(), error = %error, "cannot watch the state directory; polling the emergency override file every second");
            Some(Box::new(w))
        }
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "cannot follow the emergency override file; a change is noticed at the next restart");
            None
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-read the file (on the watcher's thread, or once at start); log and report a change.
    fn refresh(&self) {
        let value = match read(&self.dir) {
            Ok(value) => value.map(Arc::new),
            Err(e) => {
                tracing::error!(error = %e, "the emergency override file is unreadable; ignoring it");
                None
            }
        };
        let mut cached = self.lock();
        if cached.value == value {
            return;
        }
        match &value {
            Some(o) => tracing::warn!(r#override = %o, "emergency override in force"),
            None => tracing::info!("emergency override cleared"),
        }
        cached.value = value.clone();
        cached.ended_logged = false;
        drop(cached);
        if let Some(hook) = &self.on_change {
            hook(value.as_deref());
        }
        self.changes.send_modify(|n| *n += 1);
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
        std::fs::write(path(&dir), "{ not json").unwrap();
        assert!(read(&dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every change of the file is noticed by the watcher and reported to the hook, without
    /// anybody asking; `current` then reads the cached value.
    #[tokio::test]
    async fn changes_are_noticed_without_a_chat_asking() {
        const WAIT: Duration = Duration::from_secs(20);
        let dir = std::env::temp_dir().join(format!("gws-botd-ovr-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hook: OnChange = {
            let seen = seen.clone();
            Box::new(move |o| seen.lock().unwrap().push(o.map(|o| o.until)))
        };
        let watch = Watch::with_hook(&dir, Some(hook));
        assert!(dir.is_dir(), "the state directory is created");
        let mut changes = watch.changes();
        let before: Timestamp = "2026-11-25T13:59:59Z".parse().unwrap();
        assert_eq!(watch.current(before), None);
        // The decision log and other files in the directory are not the override.
        std::fs::write(dir.join("decisions.jsonl"), "{}\n").unwrap();
        write(&dir, &sample()).unwrap();
        tokio::time::timeout(WAIT, changes.wait_for(|n| *n >= 1))
            .await
            .expect("the new override is noticed")
            .unwrap();
        assert_eq!(watch.current(before).as_deref(), Some(&sample()));
        clear(&dir).unwrap();
        tokio::time::timeout(WAIT, changes.wait_for(|n| *n >= 2))
            .await
            .expect("the cleared override is noticed")
            .unwrap();
        assert_eq!(watch.current(before), None);
        std::fs::write(path(&dir), "{ not json").unwrap();
        // A broken file closes nothing: no change from "none".
        write(&dir, &sample()).unwrap();
        tokio::time::timeout(WAIT, changes.wait_for(|n| *n >= 3))
            .await
            .expect("the override set again is noticed")
            .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![Some(sample().until), None, Some(sample().until)]
        );
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
