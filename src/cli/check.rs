//! `gws-botd check`: everything `run` would refuse, found before it runs. The configuration
//! (every key), the files it names (CA file, state directory), the rules, and unless
//! `--offline` the login at GWS and its dialect. Any problem `run` would stop on exits 78, so
//! `ExecStartPre=` keeps a broken unit from entering a restart loop; a GWS that cannot be
//! reached from here is reported but does not fail the check.

use std::path::Path;

use crate::cli::{EXIT_CONFIG, EXIT_OK, block_on};
use crate::config::{Config, Target};
use crate::responder::rules::RuleSet;
use crate::runtime::daemon;

/// How long `check` waits for GWS to tell its dialect.
const CHECK_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the online part of `check` found out.
pub enum Probe {
    /// GWS answered; the line says which dialect and whether it fits the configuration.
    Answered(String),
    /// GWS refused the login: `run` would never get in.
    Refused(String),
    /// GWS could not be asked from here (network, timeout): not a configuration problem.
    Unreachable(String),
}

/// `gws-botd check`; `rules_dir` checks that directory instead of the configured one (the
/// configuration is then optional).
pub fn check(target: &Target, rules_dir: Option<&Path>, offline: bool) -> u8 {
    // With --rules (a supervisor checking a directory) the configuration is checked too when
    // there is one, but not the files it names: they belong to the service's user.
    let loaded = match rules_dir {
        Some(_) if !target.path.exists() => Ok(None),
        Some(_) => target.load().map(Some).map_err(|problems| {
            eprintln!("{}: {problems}", target.describe());
            EXIT_CONFIG
        }),
        None => load_checked(target).map(Some),
    };
    let config = match loaded {
        Ok(config) => config,
        Err(code) => return code,
    };
    let rules = match (rules_dir, &config) {
        (Some(dir), _) => RuleSet::load_dir(dir),
        (None, Some(config)) => daemon::load_rules(config),
        (None, None) => unreachable!("a configuration is loaded unless --rules is given"),
    };
    let config_line = match &config {
        Some(_) => format!("{}: ok", target.describe()),
        None => "no configuration checked".to_owned(),
    };
    if let Some(config) = &config {
        for line in check_warnings(config) {
            eprintln!("WARNING: {line}");
        }
    }
    let rules = rules.map_err(|problems| eprintln!("{problems}"));
    // The shadow rules of the configuration, unless --rules names the directory to check.
    let shadow = match (rules_dir, &config) {
        (None, Some(config)) => load_shadow(config),
        _ => Ok(None),
    };
    let (Ok(rules), Ok(shadow)) = (rules, shadow) else {
        return EXIT_CONFIG;
    };
    let shadow_line = shadow
        .map(|set| format!("; shadow rules: {}", set.summary()))
        .unwrap_or_default();
    println!("{config_line}; rules: {}{shadow_line}", rules.summary());
    match config.filter(|_| !offline) {
        None => EXIT_OK,
        Some(config) => block_on(async move { report(probe(&config).await) }),
    }
}

/// Load the configuration and check the files it names, printing every problem.
pub fn load_checked(target: &Target) -> Result<Config, u8> {
    let config = target.load().map_err(|problems| {
        eprintln!("{}: {problems}", target.describe());
        EXIT_CONFIG
    })?;
    config.check_files().map_err(|problems| {
        eprintln!("{}: {problems}", target.describe());
        EXIT_CONFIG
    })?;
    Ok(config)
}

/// Load the shadow rules of `[shadow]` like the live ones, printing every problem under a line
/// that names them; `Ok(None)` without the section.
pub fn load_shadow(config: &Config) -> Result<Option<RuleSet>, u8> {
    match daemon::load_shadow(config) {
        None => Ok(None),
        Some(Ok(set)) => Ok(Some(set)),
        Some(Err(problems)) => {
            let dir = config
                .shadow
                .as_ref()
                .map(|s| s.rules.display().to_string());
            eprintln!(
                "the shadow rules ({}, [shadow] rules) do not load; fix them or remove [shadow]:\n{problems}",
                dir.unwrap_or_default()
            );
            Err(EXIT_CONFIG)
        }
    }
}

/// Print what the probe found; exit 78 when GWS refused the login.
fn report(probe: Probe) -> u8 {
    match probe {
        Probe::Answered(line) | Probe::Unreachable(line) => {
            println!("{line}");
            EXIT_OK
        }
        Probe::Refused(line) => {
            eprintln!("{line}");
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

/// Log in to GWS once and ask which dialect it speaks (and whether that fits the
/// configuration).
pub async fn probe(config: &Config) -> Probe {
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
        Ok(Ok(found)) => Probe::Answered(match configured {
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
        }),
        Ok(Err(crate::gws::Error::Unauthorized)) => Probe::Refused(format!(
            "GWS at {api} refused the login (HTTP 401): check gws.username and the password \
             (the bot would retry it forever)"
        )),
        Ok(Err(e)) => Probe::Unreachable(format!(
            "GWS at {api} is not reachable from here ({e}); login and dialect not checked"
        )),
        Err(_) => Probe::Unreachable(format!(
            "GWS at {api} did not answer within {}; login and dialect not checked",
            humantime::format_duration(CHECK_PROBE_TIMEOUT)
        )),
    }
}
