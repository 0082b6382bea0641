//! The commands behind the CLI, each returning a sysexits-style exit code (defined here, in one
//! place). `main.rs` only parses arguments ([`args`]) and calls these.
//!
//! Owns: the command-line definition, `run`, `check`, `demo`, `sim`, `simulate`, `explain`,
//! `override`, `state` and `generate`. May call every other layer; nothing below calls it.

pub mod args;
pub mod demo;
pub mod explain;
pub mod override_cmd;
pub mod simulate;
pub mod state_cmd;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::Config;
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
fn block_on(body: impl std::future::Future<Output = u8>) -> u8 {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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

/// Load and check the configuration and the rules, printing every problem.
fn load(config_path: &Path) -> Result<(Config, RuleSet), u8> {
    let config = Config::load(config_path).map_err(|problems| {
        eprintln!("{}: {problems}", config_path.display());
        EXIT_CONFIG
    })?;
    let rules = daemon::load_rules(&config).map_err(|problems| {
        eprintln!("{problems}");
        EXIT_CONFIG
    })?;
    Ok((config, rules))
}

/// `gws-botd run`
pub fn run(config_path: &Path) -> u8 {
    let (config, rules) = match load(config_path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    info!(rules = %rules.summary(), config = %config_path.display(), "configuration loaded");
    for warning in &config.warnings {
        warn!("{warning}");
    }
    block_on(async move {
        let mut signals = match Signals::new() {
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
        let rules = Arc::new(ArcSwap::from_pointee(rules));
        let shutdown = CancellationToken::new();
        let reloader =
            Arc::new(Reloader::new(&config.bot.rules, rules.clone()).with_stats(stats.clone()));
        tokio::spawn(watch::run(
            reloader.clone(),
            watch::DEFAULT_DEBOUNCE,
            shutdown.clone(),
        ));
        let notifier = Notifier::from_env();
        let daemon = tokio::spawn(daemon::run(
            config.clone(),
            daemon::build_chain(&config, &rules),
            Tuning {
                notifier: notifier.clone(),
                ..Tuning::default()
            },
            stats.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(async move {
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
                    // The reloader logs the outcome itself (each distinct failure once) and
                    // counts it in the stats.
                    Signal::Reload => {
                        notifier.reloading();
                        let result = reloader.reload("SIGHUP").await;
                        notifier.reloaded(result.is_ok(), &stats.snapshot());
                    }
                }
            }
        });
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

/// `gws-botd check`: the configuration and the rules; unless `offline`, also the dialect of
/// the configured GWS server.
pub fn check(config_path: &Path, rules_dir: Option<&Path>, offline: bool) -> u8 {
    let mut loaded = None;
    let (config_line, rules) = match rules_dir {
        Some(dir) => {
            let config_line = if config_path.exists() {
                match Config::load(config_path) {
                    Ok(config) => {
                        loaded = Some(config);
                        format!("{}: ok", config_path.display())
                    }
                    Err(problems) => {
                        eprintln!("{}: {problems}", config_path.display());
                        return EXIT_CONFIG;
                    }
                }
            } else {
                "no configuration checked".to_owned()
            };
            (config_line, RuleSet::load_dir(dir))
        }
        None => match Config::load(config_path) {
            Ok(config) => {
                let rules = daemon::load_rules(&config);
                loaded = Some(config);
                (format!("{}: ok", config_path.display()), rules)
            }
            Err(problems) => {
                eprintln!("{}: {problems}", config_path.display());
                return EXIT_CONFIG;
            }
        },
    };
    if let Some(config) = &loaded {
        for line in check_warnings(config) {
            eprintln!("WARNING: {line}");
        }
    }
    match rules {
        Ok(rules) => {
            println!("{config_line}; rules: {}", rules.summary());
            if let Some(config) = loaded.filter(|_| !offline) {
                block_on(async move {
                    println!("{}", report_dialect(&config).await);
                    EXIT_OK
                });
            }
            EXIT_OK
        }
        Err(problems) => {
            eprintln!("{problems}");
            EXIT_CONFIG
        }
    }
}

/// What `check` warns about in a valid configuration: the configuration's own warnings, and
/// TLS certificate verification turned off.
fn check_warnings(config: &Config) -> Vec<String> {
    let mut lines = config.warnings.clone();
    if config.gws.danger_accept_invalid_certs {
        lines.push(
            "gws.danger_accept_invalid_certs = true: TLS certificate verification is OFF; any \
             server can pose as GWS and read the agent's password (metric \
             gws_botd_tls_verification_disabled = 1)"
                .into(),
        );
    }
    lines
}

/// How long `check` waits for GWS to tell its dialect.
const CHECK_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// One line on which dialect the configured GWS server speaks (and whether that fits the
/// configuration). Never fails the check: GWS may be unreachable from where it runs.
async fn report_dialect(config: &Config) -> String {
    use crate::gws::{Choice, Client};
    let mut client_config = daemon::client_config(config);
    client_config.retry_attempts = 1;
    client_config.request_timeout = client_config.request_timeout.min(CHECK_PROBE_TIMEOUT);
    let api = config.gws.api_url.clone();
    let configured = client_config.dialect;
    let probe = async {
        let client = Client::new(client_config)?;
        client.transport().get_me().await?;
        client.probe_dialect().await
    };
    match tokio::time::timeout(CHECK_PROBE_TIMEOUT, probe).await {
        Ok(Ok(found)) => match configured {
            Choice::Auto => format!(
                "GWS at {api} speaks the {} dialect (gws.dialect = \"auto\" will use it)",
                found.name()
            ),
            Choice::Fixed(d) if d == found => format!(
                "GWS at {api} speaks the {} dialect, as configured",
                found.name()
            ),
            Choice::Fixed(d) => format!(
                "WARNING: GWS at {api} speaks the {} dialect but gws.dialect = \"{}\": set it to \"{}\" or \"auto\"",
                found.name(),
                d.name(),
                found.name()
            ),
        },
        Ok(Err(crate::gws::Error::Unauthorized)) => format!(
            "GWS at {api} refused the login (HTTP 401): check gws.username and the password; dialect not checked"
        ),
        Ok(Err(e)) => format!("GWS at {api} is not reachable from here ({e}); dialect not checked"),
        Err(_) => format!(
            "GWS at {api} did not answer within {}; dialect not checked",
            humantime::format_duration(CHECK_PROBE_TIMEOUT)
        ),
    }
}

/// `gws-botd state list|show`: read the chat state in `state_dir`, or in the state
/// directory the configuration names.
pub fn state(config_path: &Path, state_dir: Option<&Path>, action: &args::StateAction) -> u8 {
    use state_cmd::Request;
    let dir = match state_dir {
        Some(dir) => dir.to_owned(),
        None => crate::config::state_dir_of(config_path),
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
/// state directory the configuration names.
pub fn explain(config_path: &Path, chat_id: &str, state_dir: Option<&Path>) -> u8 {
    let dir = match state_dir {
        Some(dir) => dir.to_owned(),
        None => crate::config::state_dir_of(config_path),
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

/// `gws-botd override …`: a schedule named with `--schedule` must exist in the configured
/// rules when they can be loaded.
pub fn override_command(
    config_path: &Path,
    state_dir: Option<&Path>,
    request: &crate::cli::override_cmd::Request,
) -> u8 {
    use crate::cli::override_cmd::{self, Request};
    if let Request::Closed {
        schedule: Some(name),
        ..
    } = request
        && let Ok(config) = Config::load(config_path)
        && let Ok(rules) = daemon::load_rules(&config)
        && rules.schedule(name).is_none()
    {
        let known: Vec<&str> = rules.schedules().map(|s| s.name.as_str()).collect();
        eprintln!(
            "--schedule: no schedule {name:?} in {} (schedules: {})",
            config.bot.rules.display(),
            known.join(", ")
        );
        return EXIT_USAGE;
    }
    let dir = override_cmd::state_dir(state_dir, config_path);
    override_cmd::run(request, &dir, jiff::Timestamp::now())
}

/// `gws-botd demo [--dialect interactions|chats]`
pub fn demo(rules_dir: &Path, forever: bool, dialect: crate::sim::SimDialect) -> u8 {
    let rules = match RuleSet::load_dir(rules_dir) {
        Ok(rules) => rules,
        Err(problems) => {
            eprintln!("{problems}");
            return EXIT_CONFIG;
        }
    };
    block_on(async move {
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
