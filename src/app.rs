//! The commands behind the CLI, each returning a sysexits-style exit code. `main.rs` only
//! parses arguments and calls these.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::daemon::{self, Tuning};
use crate::responder::rules::RuleSet;
use crate::signal::{Signal, Signals};
use crate::stats::Stats;

/// Success.
pub const EXIT_OK: u8 = 0;
/// Anything else went wrong.
pub const EXIT_FAILURE: u8 = 1;
/// The command line was wrong.
pub const EXIT_USAGE: u8 = 64;
/// The configuration or the rule files are invalid.
pub const EXIT_CONFIG: u8 = 78;

/// Run `body` on a multi-threaded runtime and return its exit code.
fn block_on(body: impl std::future::Future<Output = u8>) -> u8 {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(body),
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
        let http_stop = CancellationToken::new();
        if let Some(addr) = config.http.listen {
            match crate::http_server::Server::bind(addr, stats.clone()).await {
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
        let daemon = tokio::spawn(daemon::run(
            config.clone(),
            daemon::build_chain(&config, &rules),
            Tuning::default(),
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
                        shutdown.cancel();
                    }
                    Signal::Reload => {
                        reload_rules(&config, &rules, &stats);
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

/// What SIGHUP does: validate the whole rules directory again and swap it in, or keep the
/// active rules and log every problem. Counted in `stats`; returns whether the new set is active.
pub fn reload_rules(config: &Config, rules: &ArcSwap<RuleSet>, stats: &Stats) -> bool {
    match daemon::reload_rules(config, rules) {
        Ok(summary) => {
            stats.rules_reloaded(true);
            info!(rules = %summary, "rules reloaded");
            true
        }
        Err(problems) => {
            stats.rules_reloaded(false);
            error!("rules not reloaded; the previous rules stay active:\n{problems}");
            false
        }
    }
}

/// `gws-botd check`
pub fn check(config_path: &Path, rules_dir: Option<&Path>) -> u8 {
    let (config_line, rules) = match rules_dir {
        Some(dir) => {
            let config_line = if config_path.exists() {
                match Config::load(config_path) {
                    Ok(_) => format!("{}: ok", config_path.display()),
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
            Ok(config) => (
                format!("{}: ok", config_path.display()),
                daemon::load_rules(&config),
            ),
            Err(problems) => {
                eprintln!("{}: {problems}", config_path.display());
                return EXIT_CONFIG;
            }
        },
    };
    match rules {
        Ok(rules) => {
            println!("{config_line}; rules: {}", rules.summary());
            EXIT_OK
        }
        Err(problems) => {
            eprintln!("{problems}");
            EXIT_CONFIG
        }
    }
}

/// `gws-botd explain`: print one chat's story from the decision log in `state_dir`, or in the
/// state directory the configuration names.
pub fn explain(config_path: &Path, chat_id: &str, state_dir: Option<&Path>) -> u8 {
    let dir = match state_dir {
        Some(dir) => dir.to_owned(),
        None => crate::config::state_dir_of(config_path),
    };
    match crate::explain::story(&dir, chat_id) {
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

/// `gws-botd demo`
pub fn demo(rules_dir: &Path, forever: bool) -> u8 {
    let rules = match RuleSet::load_dir(rules_dir) {
        Ok(rules) => rules,
        Err(problems) => {
            eprintln!("{problems}");
            return EXIT_CONFIG;
        }
    };
    block_on(async move {
        match crate::demo::run(rules_dir, rules, forever).await {
            Ok(true) => EXIT_OK,
            Ok(false) => EXIT_FAILURE,
            Err(e) => {
                eprintln!("demo failed: {e:#}");
                EXIT_FAILURE
            }
        }
    })
}

/// `gws-botd sim`
pub fn sim(listen: SocketAddr) -> u8 {
    block_on(async move {
        let config = crate::sim::SimConfig::default();
        let users: Vec<String> = config.users.iter().map(|u| u.username.clone()).collect();
        let sim = match crate::sim::Sim::start(config, listen).await {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!("cannot listen on {listen}: {e}");
                return EXIT_FAILURE;
            }
        };
        println!(
            "GWS simulator at {} (users: {}; control API under http://{}/sim)",
            sim.api_url(),
            users.join(", "),
            sim.addr()
        );
        let _ = tokio::signal::ctrl_c().await;
        sim.shutdown().await;
        EXIT_OK
    })
}
