//! The commands behind the CLI, each returning a sysexits-style exit code (defined here, in one
//! place). `main.rs` only parses arguments ([`args`]) and calls these.
//!
//! Owns: the command-line definition, `run`, `check`, `reload`, `demo`, `sim`, `simulate`,
//! `explain`, `override`, `state`, `coverage`, `schedule` and `generate`. May call every
//! other layer; nothing below calls it.

pub mod args;
pub(crate) mod check;
pub mod coverage;
pub mod demo;
pub mod explain;
pub mod override_cmd;
pub(crate) mod reload;
pub mod schedule_cmd;
pub mod simulate;
pub(crate) mod state_cmd;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{Config, Target};
use crate::responder::rules::RuleSet;
use crate::responder::rules::watch::{self, Reloader};
use crate::runtime::daemon::{self, Tuning};
use crate::runtime::signal::{Signal, Signals};
use crate::telemetry::notify::Notifier;
use crate::telemetry::stats::Stats;

/// Success.
pub const EXIT_OK: u8 = 0;
/// Anything else went wrong.
pub const EXIT_FAILURE: u8 = 1;
/// The command line was wrong.
pub const EXIT_USAGE: u8 = 64;
/// The configuration or the rule files are invalid.
pub const EXIT_CONFIG: u8 = 78;

/// How long leftover tasks may take once a command has finished.
const RUNTIME_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Run `body` on a multi-threaded runtime and return its exit code.
pub(crate) fn block_on(body: impl std::future::Future<Output = u8>) -> u8 {
    block_on_with(None, body)
}

/// [`block_on`] with `workers` worker threads (`None`: tokio's default, one per core, or
/// `TOKIO_WORKER_THREADS`, which also overrides `workers`).
fn block_on_with(workers: Option<usize>, body: impl std::future::Future<Output = u8>) -> u8 {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers.filter(|_| std::env::var_os("TOKIO_WORKER_THREADS").is_none()) {
        builder.worker_threads(n);
    }
    match builder.enable_all().build() {
        Ok(rt) => {
            let code = rt.block_on(body);
            // Whatever is still running (a blocking file operation, a task that missed the
            // shutdown) gets a moment, then the process exits anyway.
            rt.shutdown_timeout(RUNTIME_SHUTDOWN_TIMEOUT);
            code
        }
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            EXIT_FAILURE
        }
    }
}

/// What `run` loads before it starts: the configuration, the rules and the shadow rules.
type Loaded = (Config, RuleSet, Option<RuleSet>);

/// Load and check the configuration, the files it names, the rules and the shadow rules,
/// printing every problem.
fn load(target: &Target) -> Result<Loaded, u8> {
    let config = check::load_checked(target)?;
    let rules = daemon::load_rules(&config).map_err(|problems| {
        eprintln!("{problems}");
        EXIT_CONFIG
    });
    let shadow = check::load_shadow(&config);
    Ok((config, rules?, shadow?))
}

/// `gws-botd run`
pub fn run(target: &Target) -> u8 {
    let (config, rules, shadow) = match load(target) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    info!(rules = %rules.summary(), config = %target.describe(), "configuration loaded");
    for warning in &config.warnings {
        warn!("{warning}");
    }
    let workers = Some(crate::runtime::tuning::DAEMON_WORKER_THREADS);
    block_on_with(workers, async move {
        let signals = match Signals::new() {
            Ok(s) => s,
            Err(e) => {
                error!(error = %e, "cannot install signal handlers");
                return EXIT_FAILURE;
            }
        };
        let stats = Arc::new(Stats::default());
        stats.rules_loaded();
        stats.set_tls_verification_disabled(config.gws.danger_accept_invalid_certs);
        let http_stop = CancellationToken::new();
        if let Some(addr) = config.http.listen {
            match crate::telemetry::http_server::Server::bind(addr, stats.clone()).await {
                Ok(server) => {
                    tokio::spawn(server.run(http_stop.clone()));
                }
                Err(e) => {
                    error!(error = %e, "cannot listen on {addr} (http.listen)");
                    return EXIT_FAILURE;
                }
            }
        }
        let summary = rules.summary().to_string();
        let rules = Arc::new(ArcSwap::from_pointee(rules));
        let shutdown = CancellationToken::new();
        let reloader =
            Arc::new(Reloader::new(&config.bot.rules, rules.clone()).with_stats(stats.clone()));
        watch_rules(&config, &reloader, &shutdown);
        let overrides = follow_override(&config, &stats);
        let (shadow, reloaders) = start_shadow(&config, shadow, reloader, &overrides, &shutdown);
        let reports = ReloadReports::start(&config.bot.state_dir, summary).await;
        let notifier = Notifier::from_env();
        let chain = match daemon::build_chain_with(&config, &rules, overrides.clone()) {
            Ok(chain) => chain,
            Err(e) => {
                error!(error = %e, "cannot build the responder chain");
                eprintln!("{e}");
                return EXIT_CONFIG;
            }
        };
        let daemon = tokio::spawn(daemon::run(
            config.clone(),
            chain,
            Tuning {
                notifier: notifier.clone(),
                shadow,
                ..Tuning::default()
            },
            stats.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(handle_signals(
            signals, shutdown, notifier, reloaders, stats, reports,
        ));
        let result = daemon.await;
        http_stop.cancel();
        match result {
            Ok(Ok(())) => EXIT_OK,
            Ok(Err(e)) => {
                error!(error = format!("{e:#}"), "the bot agent stopped");
                EXIT_FAILURE
            }
            Err(e) => {
                error!(error = %e, "the bot agent crashed");
                EXIT_FAILURE
            }
        }
    })
}

/// Reload the rules when a rule file is saved, unless `bot.watch_rules = false`.
fn watch_rules(config: &Config, reloader: &Arc<Reloader>, shutdown: &CancellationToken) {
    if config.bot.watch_rules {
        tokio::spawn(watch::run(
            reloader.clone(),
            watch::Debounce::default(),
            shutdown.clone(),
        ));
    } else {
        info!(
            rules = %config.bot.rules.display(),
            "bot.watch_rules = false: the rules are reloaded on SIGHUP (systemctl reload) only"
        );
    }
}

/// The shadow rules of `[shadow]` as the chats evaluate them, and the reloaders SIGHUP uses:
/// `live`, and the shadow rules' (watching their directory unless `shadow.watch = false`).
/// No shadow rules without the section.
fn start_shadow(
    config: &Config,
    loaded: Option<RuleSet>,
    live: Arc<Reloader>,
    overrides: &Arc<crate::schedule::overrides::Watch>,
    shutdown: &CancellationToken,
) -> (Option<Arc<crate::chat::shadow::Shadow>>, Reloaders) {
    let (Some(settings), Some(loaded)) = (&config.shadow, loaded) else {
        return (None, Reloaders { live, shadow: None });
    };
    info!(rules = %loaded.summary(), dir = %settings.rules.display(),
        "shadow rules loaded: evaluated on every chat, never sent");
    let set = Arc::new(ArcSwap::from_pointee(loaded));
    let shadow = crate::chat::shadow::Shadow::new(set.clone(), Some(overrides.clone()));
    let reloader = Arc::new(Reloader::new(&settings.rules, set).named("shadow rules"));
    if settings.watch {
        tokio::spawn(watch::run(
            reloader.clone(),
            watch::Debounce::default(),
            shutdown.clone(),
        ));
    } else {
        info!(rules = %settings.rules.display(),
            "shadow.watch = false: the shadow rules are reloaded on SIGHUP (systemctl reload) only");
    }
    let reloaders = Reloaders {
        live,
        shadow: Some(reloader),
    };
    (Some(Arc::new(shadow)), reloaders)
}

/// The rule sets a SIGHUP reloads.
struct Reloaders {
    live: Arc<Reloader>,
    /// The shadow rules, when `[shadow]` is configured.
    shadow: Option<Arc<Reloader>>,
}

impl Reloaders {
    /// Reload the live rules, then the shadow rules; each keeps its previous set when its
    /// files do not load, and logs why. `Err` when either failed (for `gws-botd reload`); the
    /// first value says whether the live rules reloaded.
    async fn reload(&self) -> (bool, Result<String, String>) {
        let live = self.live.reload("SIGHUP").await;
        let live_ok = live.is_ok();
        let mut result = live
            .map(|summary| summary.to_string())
            .map_err(|problems| problems.to_string());
        if let Some(shadow) = &self.shadow {
            let line = match shadow.reload("SIGHUP").await {
                Ok(summary) => Ok(format!("shadow rules: {summary}")),
                Err(problems) => Err(format!(
                    "shadow rules not reloaded; the previous shadow rules stay active:\n{problems}"
                )),
            };
            result = match (result, line) {
                (Ok(live), Ok(shadow)) => Ok(format!("{live}; {shadow}")),
                (Ok(live), Err(shadow)) => {
                    Err(format!("{}{live}\n{shadow}", reload::LIVE_RELOADED))
                }
                (Err(live), Ok(_)) => Err(live),
                (Err(live), Err(shadow)) => Err(format!("{live}\n{shadow}")),
            };
        }
        (live_ok, result)
    }
}

/// Follow the emergency override file, reporting each change in the metrics.
fn follow_override(config: &Config, stats: &Arc<Stats>) -> Arc<crate::schedule::overrides::Watch> {
    let stats = stats.clone();
    let hook: crate::schedule::overrides::OnChange =
        Box::new(move |o| stats.override_changed(o.map(|o| o.until.as_second())));
    let dir = config.bot.state_dir.clone();
    Arc::new(crate::schedule::overrides::Watch::with_hook(
        dir,
        Some(hook),
    ))
}

/// The daemon's side of `gws-botd reload`: the status file it waits on.
struct ReloadReports {
    dir: std::path::PathBuf,
    status: reload::Status,
}

impl ReloadReports {
    /// Write the first status (no SIGHUP handled yet).
    async fn start(dir: &Path, summary: String) -> Self {
        let reports = ReloadReports {
            dir: dir.to_owned(),
            status: reload::Status {
                pid: std::process::id(),
                sighups: 0,
                ok: true,
                detail: summary,
            },
        };
        reports.write().await;
        reports
    }

    /// Record the outcome of one more SIGHUP.
    async fn record(&mut self, result: Result<String, String>) {
        self.status.sighups += 1;
        (self.status.ok, self.status.detail) = match result {
            Ok(summary) => (true, summary),
            Err(problems) => (false, problems),
        };
        self.write().await;
    }

    async fn write(&self) {
        let (dir, status) = (self.dir.clone(), self.status.clone());
        let written = tokio::task::spawn_blocking(move || reload::write(&dir, &status)).await;
        if let Ok(Err(e)) = written {
            warn!(error = %e, dir = %self.dir.display(), "cannot write the reload status; `gws-botd reload` will not see the outcome");
        }
    }
}

/// Shutdown and reload signals, until the process ends.
async fn handle_signals(
    mut signals: Signals,
    shutdown: CancellationToken,
    notifier: Notifier,
    reloaders: Reloaders,
    stats: Arc<Stats>,
    mut reports: ReloadReports,
) {
    loop {
        match signals.next().await {
            Signal::Shutdown if shutdown.is_cancelled() => {
                warn!("second shutdown signal: exiting now");
                std::process::exit(EXIT_FAILURE.into());
            }
            Signal::Shutdown => {
                info!("shutdown requested");
                notifier.stopping();
                shutdown.cancel();
            }
            // The reloader logs the outcome itself (each distinct failure once) and counts it
            // in the stats; `gws-botd reload` reads it from the status file.
            Signal::Reload => {
                notifier.reloading();
                let (live_ok, result) = reloaders.reload().await;
                notifier.reloaded(live_ok, &stats.snapshot());
                reports.record(result).await;
            }
        }
    }
}

/// `gws-botd check`: see `check::check`.
pub fn check(target: &Target, rules_dir: Option<&Path>, offline: bool) -> u8 {
    check::check(target, rules_dir, offline)
}

/// `gws-botd state list|show`: read the chat state in `state_dir`, or in the state
/// directory the configuration names.
pub fn state(target: &Target, state_dir: Option<&Path>, action: &args::StateAction) -> u8 {
    use state_cmd::Request;
    let dir = match state_dir {
        Some(dir) => dir.to_owned(),
        None => target.state_dir(),
    };
    let request = match action {
        args::StateAction::List { json } => Request::List { json: *json },
        args::StateAction::Show { chat_id, json } => Request::Show {
            chat_id: chat_id.clone(),
            json: *json,
        },
    };
    state_cmd::run(&request, &dir, &jiff::tz::TimeZone::system())
}

/// `gws-botd explain`: print one chat's story from the decision log in `state_dir`, or in the
/// state directory of the configuration (or instance).
pub fn explain(target: &Target, chat_id: &str, state_dir: Option<&Path>) -> u8 {
    let dir = match state_dir {
        Some(dir) => dir.to_owned(),
        None => target.state_dir(),
    };
    match crate::cli::explain::story(&dir, chat_id) {
        Ok(story) => {
            print!("{story}");
            EXIT_OK
        }
        Err(why) => {
            eprintln!("{why}");
            EXIT_FAILURE
        }
    }
}

/// `gws-botd override …`: see [`override_cmd`].
pub fn override_command(
    target: &Target,
    state_dir: Option<&Path>,
    request: &override_cmd::Request,
) -> u8 {
    override_cmd::command(target, state_dir, request, jiff::Timestamp::now())
}

/// `gws-botd reload`: see `reload::command`.
pub fn reload(target: &Target, pid: Option<u32>, timeout: std::time::Duration) -> u8 {
    reload::command(&target.state_dir(), pid, timeout)
}

/// The rules `simulate` talks to: `--rules`, else `bot.rules` of `--instance`, else `rules`.
pub fn simulate_rules(target: &Target, rules: Option<std::path::PathBuf>) -> std::path::PathBuf {
    rules
        .or_else(|| target.instance.as_ref().and(target.rules_dir()))
        .unwrap_or_else(|| "rules".into())
}

/// The override `simulate` honours: `--state-dir`, else the state directory of `--instance`.
pub fn simulate_state_dir(
    target: &Target,
    state_dir: Option<std::path::PathBuf>,
) -> Option<std::path::PathBuf> {
    state_dir.or_else(|| target.instance.as_ref().map(|_| target.state_dir()))
}

/// `gws-botd demo [--shadow DIR] [--dialect interactions|chats]`
pub fn demo(
    rules_dir: &Path,
    shadow_dir: Option<&Path>,
    forever: bool,
    dialect: crate::sim::SimDialect,
) -> u8 {
    let rules = match RuleSet::load_dir(rules_dir) {
        Ok(rules) => rules,
        Err(problems) => {
            eprintln!("{problems}");
            return EXIT_CONFIG;
        }
    };
    let shadow = match demo::shadow_dir(rules_dir, shadow_dir) {
        None => None,
        Some(dir) => match RuleSet::load_dir(&dir) {
            Ok(set) => Some((dir, set)),
            Err(problems) => {
                eprintln!(
                    "the shadow rules in {} do not load:\n{problems}",
                    dir.display()
                );
                return EXIT_CONFIG;
            }
        },
    };
    block_on(async move {
        let rules = demo::Sets { rules, shadow };
        match crate::cli::demo::run(rules_dir, rules, forever, dialect).await {
            Ok(true) => EXIT_OK,
            Ok(false) => EXIT_FAILURE,
            Err(e) => {
                eprintln!("demo failed: {e:#}");
                EXIT_FAILURE
            }
        }
    })
}

/// `gws-botd sim [--dialect interactions|chats] [--participants minimal|named]
/// [--join-notices participants-first|entry-first|participants-only|entry-only]`
pub fn sim(
    listen: SocketAddr,
    dialect: crate::sim::SimDialect,
    participants: crate::sim::ParticipantForm,
    join_notices: crate::sim::JoinNotices,
) -> u8 {
    block_on(async move {
        let config = crate::sim::SimConfig {
            dialect,
            participants,
            join_notices,
            ..crate::sim::SimConfig::default()
        };
        let users: Vec<String> = config.users.iter().map(|u| u.username.clone()).collect();
        let sim = match crate::sim::Sim::start(config, listen).await {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!("cannot listen on {listen}: {e}");
                return EXIT_FAILURE;
            }
        };
        println!(
            "GWS simulator at {} ({} dialect; users: {}; control API under http://{}/sim)",
            sim.api_url(),
            dialect,
            users.join(", "),
            sim.addr()
        );
        let _ = tokio::signal::ctrl_c().await;
        sim.shutdown().await;
        EXIT_OK
    })
}

/// `gws-botd generate man|completions --out DIR` (for packaging)
pub fn generate(what: crate::cli::args::Generated, out: &Path) -> u8 {
    match crate::cli::args::generate(what, out) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("cannot write into {}: {e}", out.display());
            EXIT_FAILURE
        }
    }
}
