//! Reloading the rules safely: on SIGHUP and when files in the rules directory change.
//!
//! File events (inotify via `notify`) are debounced with tokio's clock: a reload starts once
//! the directory has been quiet for the debounce time, so an editor's half-written save is
//! never loaded on its own. Loading runs on a blocking thread. A new set is validated and its
//! tests run ([`RuleSet::load_dir`]) before it is swapped in atomically; on failure the
//! old set stays active and the problems are logged once: the same problems again (a
//! half-written file saved twice, a second event for the same change) are not logged again.
//! A fingerprint of the files (names, sizes, modification times) skips reloads when nothing
//! changed, e.g. for events about other files next to the rules directory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::{Problems, RuleSet, Summary};

/// How long the directory must be quiet before a change is loaded.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(500);

/// What identifies the state of a rules directory: every `*.toml` entry with size and mtime.
type Fingerprint = Option<Vec<(String, u64, Option<SystemTime>)>>;

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".toml"))
        .map(|e| {
            let meta = std::fs::metadata(e.path()).ok();
            (
                e.file_name().to_string_lossy().into_owned(),
                meta.as_ref().map_or(0, |m| m.len()),
                meta.and_then(|m| m.modified().ok()),
            )
        })
        .collect();
    entries.sort();
    Some(entries)
}

/// Loads the rules directory into the active set, logging each distinct failure once.
pub struct Reloader {
    dir: PathBuf,
    active: Arc<ArcSwap<RuleSet>>,
    state: Mutex<State>,
    /// Counts reloads for the metrics, when given.
    stats: Option<Arc<crate::stats::Stats>>,
}

#[derive(Default)]
struct State {
    /// The directory as last loaded or tried.
    seen: Fingerprint,
    /// The problems of the last failed reload, as logged.
    last_failure: Option<String>,
    /// How many failed reloads were logged (for tests and metrics).
    failures_logged: u64,
    reloads: u64,
}

impl Reloader {
    /// A reloader for `dir`, whose current contents `active` holds.
    pub fn new(dir: impl Into<PathBuf>, active: Arc<ArcSwap<RuleSet>>) -> Self {
        let dir = dir.into();
        let seen = fingerprint(&dir);
        Reloader {
            dir,
            active,
            state: Mutex::new(State {
                seen,
                ..State::default()
            }),
            stats: None,
        }
    }

    /// Also count each reload (ok or failed) in `stats`.
    pub fn with_stats(mut self, stats: Arc<crate::stats::Stats>) -> Self {
        self.stats = Some(stats);
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many failed reloads were logged.
    pub fn failures_logged(&self) -> u64 {
        self.state().failures_logged
    }

    /// How many reloads succeeded.
    pub fn reloads(&self) -> u64 {
        self.state().reloads
    }

    /// Load the directory off the async threads and swap it in; on failure keep the active
    /// set. `why` says what asked for the reload, for the log.
    pub async fn reload(&self, why: &str) -> Result<Summary, Problems> {
        let dir = self.dir.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let print = fingerprint(&dir);
            (RuleSet::load_dir(&dir), print)
        })
        .await;
        let (result, print) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                error!(error = %e, "loading the rules failed unexpectedly; the previous rules stay active");
                return Err(Problems(Vec::new()));
            }
        };
        let mut state = self.state();
        state.seen = print;
        if let Some(stats) = &self.stats {
            stats.rules_reloaded(result.is_ok());
        }
        match result {
            Ok(set) => {
                let summary = set.summary();
                self.active.store(Arc::new(set));
                state.last_failure = None;
                state.reloads += 1;
                info!(rules = %summary, trigger = why, "rules reloaded");
                Ok(summary)
            }
            Err(problems) => {
                let text = problems.to_string();
                if state.last_failure.as_deref() == Some(text.as_str()) {
                    debug!(trigger = why, "rules still have the same problems");
                } else {
                    error!(
                        trigger = why,
                        "rules not reloaded; the previous rules stay active:\n{text}"
                    );
                    state.failures_logged += 1;
                    state.last_failure = Some(text);
                }
                Err(problems)
            }
        }
    }

    /// Reload if the directory changed since it was last loaded or tried.
    async fn reload_if_changed(&self) {
        let dir = self.dir.clone();
        let print = tokio::task::spawn_blocking(move || fingerprint(&dir))
            .await
            .unwrap_or(None);
        if print != self.state().seen {
            let _ = self.reload("files changed").await;
        }
    }
}

/// Watch the rules directory until `shutdown`, reloading through `reloader` once changes
/// have settled for `debounce`. The directory's parent is watched too, so a directory that
/// is removed and created again is noticed.
pub async fn run(reloader: Arc<Reloader>, debounce: Duration, shutdown: CancellationToken) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let _ = tx.send(event.is_ok());
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "cannot watch the rules directory; reload with SIGHUP");
            return;
        }
    };
    let dir = reloader.dir.clone();
    let watch = |watcher: &mut notify::RecommendedWatcher| {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = watcher.watch(parent, RecursiveMode::NonRecursive);
        }
        watcher.watch(&dir, RecursiveMode::NonRecursive)
    };
    if let Err(e) = watch(&mut watcher) {
        warn!(error = %e, dir = %reloader.dir.display(), "cannot watch the rules directory; reload with SIGHUP");
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            event = rx.recv() => if event.is_none() { return },
        }
        // Debounce: wait until no event arrived for `debounce`.
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(debounce) => break,
                event = rx.recv() => if event.is_none() { return },
            }
        }
        // The directory may have been created again: watching it twice is harmless.
        let _ = watch(&mut watcher);
        reloader.reload_if_changed().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gws-botd-watch-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn rule(reply: &str) -> String {
        format!("[[rule]]\nname = \"r\"\non = \"accept\"\nreply = \"{reply}\"\n")
    }

    #[tokio::test]
    async fn a_failed_reload_keeps_the_old_set_and_is_logged_once() {
        let d = dir("once");
        std::fs::write(d.join("r.toml"), rule("one")).unwrap();
        let active = Arc::new(ArcSwap::from_pointee(RuleSet::load_dir(&d).unwrap()));
        let reloader = Reloader::new(&d, active.clone());
        std::fs::write(d.join("r.toml"), "[[rule]]\nname = \"r\"\non = ").unwrap();
        assert!(reloader.reload("test").await.is_err());
        assert!(reloader.reload("test").await.is_err());
        assert_eq!(reloader.failures_logged(), 1, "same problems, logged once");
        assert_eq!(active.load().summary().rules, 1);
        // The directory disappears: a different problem, logged, old set kept.
        std::fs::remove_dir_all(&d).unwrap();
        let problems = reloader.reload("test").await.unwrap_err();
        assert!(
            problems
                .to_string()
                .contains("cannot read the rules directory"),
            "{problems}"
        );
        assert_eq!(reloader.failures_logged(), 2);
        assert_eq!(active.load().summary().rules, 1);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("r.toml"), rule("two")).unwrap();
        assert!(reloader.reload("test").await.is_ok());
        assert_eq!(reloader.reloads(), 1);
        let _ = std::fs::remove_dir_all(&d);
    }
}
