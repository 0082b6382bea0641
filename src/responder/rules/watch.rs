//! Reloading the rules safely: on SIGHUP and when files in the rules directory change.
//!
//! File events (inotify via `notify`) are debounced with tokio's clock ([`Debounce`]): a reload
//! starts once the directory has been quiet for `quiet`, so an editor's write-then-rename is
//! loaded once. A set that does not load after a save is not a failure yet: an edit spread over
//! several saves or files (a rule in one file, its team in another) is often invalid half-way.
//! Only when the files then stay unchanged for `settle` is the failure reported (ERROR, the
//! failed-reload counter and the `last reload failed` gauge that the alert keys on); a save
//! that fixes it within that time reloads without any alarm. SIGHUP reloads report at once.
//!
//! Loading runs on a blocking thread. A new set is validated and its tests run
//! ([`RuleSet::load_dir`]) before it is swapped in atomically; on failure the old set stays
//! active and the problems are logged once: the same problems again (a half-written file saved
//! twice, a second event for the same change) are not logged again.
//! Only events about rule files (and the directory itself) count; events about other files in
//! the directory (a log file, an editor's swap file) are dropped as they arrive. A fingerprint
//! of the files (names, sizes, modification times) skips reloads when nothing changed.

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
/// How long saved files that do not load must stay unchanged before that is reported.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(10);

/// The timing of the file watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounce {
    /// Load once no file event arrived for this long.
    pub quiet: Duration,
    /// Report a set that does not load once the files stayed unchanged for this long.
    pub settle: Duration,
}

impl Default for Debounce {
    fn default() -> Self {
        Debounce {
            quiet: DEFAULT_DEBOUNCE,
            settle: DEFAULT_SETTLE,
        }
    }
}

/// `quiet` as given, and as long again to settle.
impl From<Duration> for Debounce {
    fn from(quiet: Duration) -> Self {
        Debounce {
            quiet,
            settle: quiet,
        }
    }
}

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
    stats: Option<Arc<crate::telemetry::stats::Stats>>,
    /// What the file watcher saw ([`run`]).
    watch: Arc<tokio::sync::watch::Sender<WatchState>>,
    /// What the set is called in log lines: `rules`, or `shadow rules`.
    name: &'static str,
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
            watch: Arc::new(tokio::sync::watch::Sender::new(WatchState::default())),
            name: "rules",
        }
    }

    /// Call the set `name` in log lines (`shadow rules`).
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Also count each reload (ok or failed) in `stats`.
    pub fn with_stats(mut self, stats: Arc<crate::telemetry::stats::Stats>) -> Self {
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
    /// set and report the problems. `why` says what asked for the reload, for the log.
    pub async fn reload(&self, why: &str) -> Result<Summary, Problems> {
        let result = self.try_reload(why).await;
        if let Err(problems) = &result {
            self.report_failure(why, problems);
        }
        result
    }

    /// Load the directory and swap it in if it is valid; a failure is only logged at DEBUG
    /// (the caller reports it with [`Reloader::report_failure`] once it counts).
    async fn try_reload(&self, why: &str) -> Result<Summary, Problems> {
        let dir = self.dir.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let print = fingerprint(&dir);
            (RuleSet::load_dir(&dir), print)
        })
        .await;
        let (result, print) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                error!(error = %e, "loading the {} failed unexpectedly; the previous {0} stay active", self.name);
                return Err(Problems(Vec::new()));
            }
        };
        let mut state = self.state();
        state.seen = print;
        let set = match result {
            Ok(set) => set,
            Err(problems) => {
                debug!(trigger = why, "the {} files do not load", self.name);
                return Err(problems);
            }
        };
        if let Some(stats) = &self.stats {
            stats.rules_reloaded(true);
        }
        let summary = set.summary();
        self.active.store(Arc::new(set));
        state.last_failure = None;
        state.reloads += 1;
        let reloads = state.reloads;
        self.watch.send_modify(|w| w.reloads = reloads);
        info!(rules = %summary, trigger = why, dir = %self.dir.display(), "{} reloaded", self.name);
        Ok(summary)
    }

    /// Count and log a failed reload; the same problems as last time are not logged again.
    fn report_failure(&self, why: &str, problems: &Problems) {
        let mut state = self.state();
        if let Some(stats) = &self.stats {
            stats.rules_reloaded(false);
        }
        self.watch.send_modify(|w| w.failed += 1);
        let text = problems.to_string();
        if state.last_failure.as_deref() == Some(text.as_str()) {
            debug!(
                trigger = why,
                "the {} still have the same problems", self.name
            );
        } else {
            error!(
                trigger = why,
                dir = %self.dir.display(),
                "{} not reloaded; the previous {0} stay active:\n{text}",
                self.name
            );
            state.failures_logged += 1;
            state.last_failure = Some(text);
        }
    }

    /// Try to reload if the directory changed since it was last loaded or tried.
    async fn reload_if_changed(&self) -> Checked {
        let dir = self.dir.clone();
        let print = tokio::task::spawn_blocking(move || fingerprint(&dir))
            .await
            .unwrap_or(None);
        if print == self.state().seen {
            return Checked::Unchanged;
        }
        match self.try_reload("files changed").await {
            Ok(_) => Checked::Loaded,
            Err(problems) => Checked::Invalid(problems),
        }
    }
}

/// What a look at the rules directory found.
enum Checked {
    /// Nothing changed since the last load or try.
    Unchanged,
    /// The changed files loaded and are active.
    Loaded,
    /// The changed files do not load (not reported yet).
    Invalid(Problems),
}

/// What the watcher has seen, for tests and diagnostics ([`Reloader::watch_state`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchState {
    /// What is watched now.
    pub watching: Watching,
    /// File events about the rules (rule files, ConfigMap links, the directory itself).
    pub relevant: u64,
    /// File events about anything else in a watched directory, dropped before anything is
    /// logged or reloaded (a log file written next to the rules, an editor's swap file).
    pub ignored: u64,
    /// The path of the last relevant event.
    pub last_relevant: Option<PathBuf>,
    /// How many of the `relevant` events had arrived when the directory was last checked
    /// (and reloaded if it had changed): equal to `relevant` once every change seen so far
    /// has been acted on.
    pub checked: u64,
    /// Successful reloads, whatever asked for them.
    pub reloads: u64,
    /// Failed reloads, whatever asked for them: each one, also when its problems were the
    /// same as the last one's and so were not logged again.
    pub failed: u64,
}

/// What the watcher watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Watching {
    /// Not yet started, or no watch could be set up.
    #[default]
    Nothing,
    /// The rules directory itself.
    Directory,
    /// The directory is missing: its parent, for the directory to appear again.
    Parent,
}

/// Whether a file event about `path` concerns the rules in `dir`: a rule file (`*.toml`) or a
/// Kubernetes ConfigMap link (`..data`, `..2024_…`) in `dir`, or `dir` itself. Everything else
/// in `dir` or its parent (a log file, an editor's swap file) is dropped.
pub fn relevant(dir: &Path, path: &Path) -> bool {
    if path == dir {
        return true;
    }
    if path.parent() != Some(dir) {
        return false;
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.ends_with(".toml") || name.starts_with("..")
}

/// The path that makes `event` relevant ([`relevant`]), if any. Reads (opening a file or the
/// directory, as every reload's own listing does) change nothing and never count; closing a
/// file written to does.
fn relevant_event(dir: &Path, event: &notify::Event) -> Option<PathBuf> {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode};
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
        EventKind::Access(_) => return None,
        _ => {}
    }
    event.paths.iter().find(|p| relevant(dir, p)).cloned()
}

impl Reloader {
    /// What the watcher has seen so far; changes as events arrive.
    pub fn watch_state(&self) -> tokio::sync::watch::Receiver<WatchState> {
        self.watch.subscribe()
    }
}

/// Watch the rules directory until `shutdown`, reloading through `reloader` once changes
/// have settled for `debounce`. Only the directory itself is watched; while it is missing its
/// parent is, until it appears again. Events about other files are dropped in the watcher's
/// callback, before anything is logged.
pub async fn run(
    reloader: Arc<Reloader>,
    debounce: impl Into<Debounce>,
    shutdown: CancellationToken,
) {
    let debounce = debounce.into();
    let (tx, rx) = mpsc::unbounded_channel();
    let dir = reloader.dir.clone();
    let counts = reloader.watch.clone();
    let filter_dir = dir.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let path = match &event {
            // An error of the watcher: check the directory, which is cheap when nothing changed.
            Err(_) => Some(filter_dir.clone()),
            Ok(event) => relevant_event(&filter_dir, event),
        };
        match path {
            Some(path) => {
                counts.send_modify(|c| {
                    c.relevant += 1;
                    c.last_relevant = Some(path);
                });
                let _ = tx.send(());
            }
            None => counts.send_modify(|c| c.ignored += 1),
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "cannot watch the rules directory; reload with SIGHUP");
            return;
        }
    };
    let mut watching = Watching::Nothing;
    let rewatch = |watcher: &mut notify::RecommendedWatcher, watching: &mut Watching| {
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
        if *watching != Watching::Directory
            && watcher.watch(&dir, RecursiveMode::NonRecursive).is_ok()
        {
            if *watching == Watching::Parent
                && let Some(parent) = parent
            {
                let _ = watcher.unwatch(parent);
            }
            *watching = Watching::Directory;
        } else if *watching == Watching::Directory && !dir.is_dir() {
            // The directory was removed (its watch with it): wait for it in the parent.
            let _ = watcher.unwatch(&dir);
            *watching = match parent.map(|p| watcher.watch(p, RecursiveMode::NonRecursive)) {
                Some(Ok(())) => Watching::Parent,
                _ => Watching::Nothing,
            };
        } else if *watching == Watching::Nothing
            && let Some(Ok(())) = parent.map(|p| watcher.watch(p, RecursiveMode::NonRecursive))
        {
            *watching = Watching::Parent;
        }
        reloader.watch.send_modify(|c| c.watching = *watching);
    };
    rewatch(&mut watcher, &mut watching);
    if watching != Watching::Directory {
        warn!(dir = %reloader.dir.display(), "cannot watch the rules directory; reload with SIGHUP");
    }
    settle(&reloader, debounce, rx, &shutdown, || {
        rewatch(&mut watcher, &mut watching)
    })
    .await;
}

/// Act on file events from `rx` until `shutdown`: reload once they paused for `quiet`, and
/// report a set that does not load once nothing changed for `settle` after it.
/// `before_check` runs before each look at the directory (which may have gone or come back).
async fn settle(
    reloader: &Reloader,
    debounce: Debounce,
    mut rx: mpsc::UnboundedReceiver<()>,
    shutdown: &CancellationToken,
    mut before_check: impl FnMut(),
) {
    let mut pending: Option<Problems> = None;
    loop {
        let settled = async {
            match &pending {
                Some(_) => tokio::time::sleep(debounce.settle).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            event = rx.recv() => if event.is_none() { return },
            _ = settled => {
                if let Some(problems) = pending.take() {
                    reloader.report_failure("files changed", &problems);
                }
                continue;
            }
        }
        // Debounce: wait until no event arrived for `quiet`.
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(debounce.quiet) => break,
                event = rx.recv() => if event.is_none() { return },
            }
        }
        before_check();
        let upto = reloader.watch.borrow().relevant;
        match reloader.reload_if_changed().await {
            Checked::Invalid(problems) => pending = Some(problems),
            Checked::Loaded => pending = None,
            // Unchanged files keep a pending failure pending, and its settle time running.
            Checked::Unchanged => {}
        }
        reloader.watch.send_modify(|c| c.checked = upto);
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

    #[test]
    fn only_rule_files_and_configmap_links_are_relevant() {
        let d = Path::new("/etc/gws-botd/rules");
        assert!(relevant(d, d));
        assert!(relevant(d, &d.join("10-greeting.toml")));
        assert!(relevant(d, &d.join("..data")));
        assert!(relevant(d, &d.join("..2024_06_01_10_00_00.123")));
        assert!(!relevant(d, &d.join("bot.log")));
        assert!(!relevant(d, &d.join(".10-greeting.toml.swp")));
        assert!(!relevant(d, Path::new("/etc/gws-botd/bot.log")));
        assert!(!relevant(d, Path::new("/etc/gws-botd/other.toml")));
        assert!(!relevant(d, &d.join("sub").join("x.toml")));
        // The reloader's own listing opens the directory: that must not count, or every
        // reload would ask for the next one.
        use notify::event::{AccessKind, AccessMode, CreateKind};
        let open = notify::Event::new(notify::EventKind::Access(AccessKind::Open(AccessMode::Any)))
            .add_path(d.to_owned());
        assert_eq!(relevant_event(d, &open), None);
        let written = notify::Event::new(notify::EventKind::Access(AccessKind::Close(
            AccessMode::Write,
        )))
        .add_path(d.join("r.toml"));
        assert_eq!(relevant_event(d, &written), Some(d.join("r.toml")));
        let created = notify::Event::new(notify::EventKind::Create(CreateKind::File))
            .add_path(d.join("x.log"));
        assert_eq!(relevant_event(d, &created), None);
    }

    /// A log file written next to the rules directory and inside it, line after line (what
    /// `gws-botd run > ./bot.log` does at RUST_LOG=trace), makes no relevant event: only the
    /// rule file written afterwards does, and the reload follows it alone.
    #[tokio::test]
    async fn writes_to_other_files_are_dropped_before_anything_happens() {
        use std::io::Write as _;
        const WAIT: Duration = Duration::from_secs(20);
        let base = dir("noise");
        let rules = base.join("rules");
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::write(rules.join("r.toml"), rule("one")).unwrap();
        let active = Arc::new(ArcSwap::from_pointee(RuleSet::load_dir(&rules).unwrap()));
        let reloader = Arc::new(Reloader::new(&rules, active.clone()));
        let mut state = reloader.watch_state();
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(
            reloader.clone(),
            Duration::from_millis(20),
            stop.clone(),
        ));
        tokio::time::timeout(WAIT, state.wait_for(|s| s.watching == Watching::Directory))
            .await
            .expect("the watcher starts")
            .unwrap();

        let mut beside = std::fs::File::create(base.join("bot.log")).unwrap();
        let mut inside = std::fs::File::create(rules.join("bot.log")).unwrap();
        for n in 0..500 {
            writeln!(beside, "TRACE notify::inotify: event {n}").unwrap();
            writeln!(inside, "TRACE notify::inotify: event {n}").unwrap();
        }
        drop((beside, inside));
        // Saved as editors do (write aside, rename over): one event, one reload.
        std::fs::write(rules.join("r.toml.new"), rule("two")).unwrap();
        std::fs::rename(rules.join("r.toml.new"), rules.join("r.toml")).unwrap();

        // inotify delivers events in order: when the rule file's event arrives, every event of
        // the log writes before it has been seen.
        let seen = tokio::time::timeout(WAIT, state.wait_for(|s| s.relevant > 0))
            .await
            .expect("the rule file's event arrives")
            .unwrap()
            .clone();
        assert_eq!(seen.last_relevant, Some(rules.join("r.toml")), "{seen:?}");
        assert!(
            seen.ignored > 0,
            "the log inside the directory was seen and dropped"
        );
        tokio::time::timeout(WAIT, state.wait_for(|s| s.reloads > 0))
            .await
            .expect("the change is reloaded")
            .unwrap();
        assert_eq!(reloader.reloads(), 1);
        assert_eq!(
            reloader.watch_state().borrow().last_relevant,
            Some(rules.join("r.toml"))
        );
        stop.cancel();
        task.await.unwrap();
        let _ = std::fs::remove_dir_all(&base);
    }

    /// A save that does not load is reported only once the files stayed unchanged for the
    /// settle time: a half-saved edit fixed before then raises nothing (no ERROR, no failed
    /// reload, no gauge for the alert). Paused time: the events are fed in directly.
    #[tokio::test(start_paused = true)]
    async fn a_half_saved_edit_fixed_in_time_raises_nothing() {
        let d = dir("settle");
        let file = d.join("r.toml");
        std::fs::write(&file, rule("one")).unwrap();
        let active = Arc::new(ArcSwap::from_pointee(RuleSet::load_dir(&d).unwrap()));
        let stats = Arc::new(crate::telemetry::stats::Stats::default());
        let reloader = Arc::new(Reloader::new(&d, active.clone()).with_stats(stats.clone()));
        let (tx, rx) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let debounce = Debounce {
            quiet: Duration::from_millis(500),
            settle: Duration::from_secs(10),
        };
        let task = tokio::spawn({
            let (reloader, stop) = (reloader.clone(), stop.clone());
            async move { settle(&reloader, debounce, rx, &stop, || {}).await }
        });
        let alarm = || {
            let s = stats.snapshot();
            (
                s.rule_reloads_failed,
                s.rules_last_reload_failed,
                reloader.failures_logged(),
            )
        };
        let half = &rule("two")[..30];
        let save = |text: &str| {
            std::fs::write(&file, text).unwrap();
            tx.send(()).unwrap();
        };
        let wait = |secs| tokio::time::sleep(Duration::from_secs(secs));

        save(half);
        wait(1).await;
        assert_eq!(alarm(), (0, false, 0), "tried, not reported yet");
        wait(5).await;
        save(&rule("two"));
        wait(1).await;
        assert_eq!(reloader.reloads(), 1);
        wait(30).await;
        assert_eq!(alarm(), (0, false, 0), "fixed in time: nothing to report");

        // Left broken: reported once the settle time has passed, and cleared by a fix.
        save(half);
        wait(1).await;
        assert_eq!(alarm(), (0, false, 0));
        wait(10).await;
        assert_eq!(alarm(), (1, true, 1), "reported after settling");
        assert_eq!(active.load().summary().rules, 1, "the old set stays");
        save(&rule("three"));
        wait(1).await;
        assert_eq!(reloader.reloads(), 2);
        assert_eq!(
            alarm(),
            (1, false, 1),
            "the gauge clears with a good reload"
        );
        stop.cancel();
        task.await.unwrap();
        let _ = std::fs::remove_dir_all(&d);
    }
}
