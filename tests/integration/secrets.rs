//! Secrets never reach the logs: every event of a whole run, at TRACE level and including the
//! `log` records of reqwest and hyper, is captured while the daemon logs in, meets a wrong
//! password, failed requests (HTTP 503 and 500, a rejected CSRF token), a lost CometD
//! session and two rule reloads. Neither the password nor the `Authorization: Basic …` value may appear;
//! the user name must (proving the capture sees the daemon's events).

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gws_botd::config::{Config, Sources};
use gws_botd::runtime::daemon;
use gws_botd::sim::{Fault, Sim, SimConfig};
use gws_botd::telemetry::stats::Stats;
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::capture::Capture;
use crate::support::{RULES, rules_dir, say, sim_config, tuning, wait_until};

/// Distinctive, so that any occurrence in the logs is a leak and not a coincidence.
const PASSWORD: &str = "Pw-7d1c4e9a-secret";
const WRONG_PASSWORD: &str = "Pw-0b5f3a22-wrong";
const USERNAME: &str = "bot01";

/// Everything a log line must never contain for a password.
fn forbidden(password: &str) -> Vec<String> {
    let basic = STANDARD.encode(format!("{USERNAME}:{password}"));
    vec![password.to_owned(), format!("Basic {basic}"), basic]
}

fn config_text(api_url: &str, rules: &std::path::Path, password_line: &str) -> String {
    format!(
        "[gws]\napi_url = \"{api_url}\"\nusername = \"{USERNAME}\"\n{password_line}\n\
         [bot]\nnickname = \"Ava\"\nshutdown_grace = \"1s\"\nrules = \"{}\"\nstate_dir = \"{}\"\n",
        rules.display(),
        rules.join("state").display()
    )
}

/// The three ways to give the password all load it, and the configuration's `Debug` hides it.
fn load_configs(api_url: &str, rules: &std::path::Path) -> Config {
    let dir = rules.join("conf");
    std::fs::create_dir_all(&dir).unwrap();
    let password_file = dir.join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let credentials = dir.join("credentials");
    std::fs::create_dir_all(&credentials).unwrap();
    std::fs::write(credentials.join("gws-password"), PASSWORD).unwrap();

    let load = |name: &str, password_line: &str, env: BTreeMap<String, String>| {
        let file = dir.join(name);
        std::fs::write(&file, config_text(api_url, rules, password_line)).unwrap();
        let config = Config::load_from(&Sources {
            file: Some(file),
            env: Some(env),
            credentials_dir: Some(credentials.clone()),
            ..Default::default()
        })
        .unwrap_or_else(|p| panic!("{name}: {p}"));
        assert_eq!(config.gws.password.expose_secret(), PASSWORD, "{name}");
        let debug = format!("{config:?} {:?}", daemon::client_config(&config));
        for secret in forbidden(PASSWORD) {
            assert!(!debug.contains(&secret), "{name}: Debug shows {secret}");
        }
        assert!(debug.contains(USERNAME), "{name}: {debug}");
        config
    };
    let from_file = load(
        "file.toml",
        &format!("password_file = \"{}\"", password_file.display()),
        BTreeMap::new(),
    );
    let env = BTreeMap::from([("GWS_BOTD__GWS__PASSWORD".to_owned(), PASSWORD.to_owned())]);
    load("env.toml", "", env);
    load("systemd.toml", "", BTreeMap::new());
    from_file
}

fn spawn_daemon(
    config: &Config,
    rules: &Arc<ArcSwap<gws_botd::responder::rules::RuleSet>>,
    stats: &Arc<Stats>,
    stop: &CancellationToken,
) -> JoinHandle<anyhow::Result<()>> {
    tokio::spawn(daemon::run(
        config.clone(),
        daemon::build_chain(config, rules).expect("the chain builds"),
        tuning(),
        stats.clone(),
        stop.clone(),
    ))
}

// A current-thread runtime (the default): the daemon's tasks run on the test's thread, where
// the capture is the default subscriber.
#[tokio::test]
async fn no_password_or_basic_header_in_any_log_line() {
    let (capture, guard) = Capture::start();
    let sim_config = SimConfig {
        users: vec![gws_botd::sim::SimUser {
            username: USERNAME.into(),
            password: PASSWORD.into(),
            id: USERNAME.into(),
        }],
        ..sim_config()
    };
    let sim = Sim::start(sim_config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();
    let dir = rules_dir(RULES);
    let config = load_configs(&sim.api_url(), &dir);
    let rules = Arc::new(ArcSwap::from_pointee(daemon::load_rules(&config).unwrap()));
    let stats = Arc::new(Stats::default());

    // A wrong password: refused, retried, never logged.
    let mut wrong = config.clone();
    wrong.gws.password = SecretString::from(WRONG_PASSWORD.to_owned());
    let stop_wrong = CancellationToken::new();
    let wrong_task = spawn_daemon(&wrong, &rules, &Arc::new(Stats::default()), &stop_wrong);
    wait_until("two refused logins", || {
        (control
            .requests()
            .iter()
            .filter(|r| r.http_status == 401)
            .count()
            >= 2)
            .then_some(())
    })
    .await;
    stop_wrong.cancel();
    wrong_task.await.unwrap().unwrap();

    // Log in, take a chat, answer it.
    let stop = CancellationToken::new();
    let task = spawn_daemon(&config, &rules, &stats, &stop);
    wait_until("Ready", || {
        control
            .requests()
            .into_iter()
            .find(|r| r.operation.as_deref() == Some("Ready"))
    })
    .await;
    let chat = control.create_chat(gws_botd::sim::ChatSpec {
        customer: "Pat".into(),
        script: vec![say(50, "when are you open?")],
        ..Default::default()
    });
    let answered = |n: usize| {
        let control = control.clone();
        let chat = chat.clone();
        move || {
            let snapshot = control.chat(&chat)?;
            let bot = snapshot
                .transcript
                .iter()
                .filter(|e| e.kind == "Text" && e.from_type == "Agent")
                .count();
            (bot >= n).then_some(())
        }
    };
    wait_until("greeting and answer", answered(2)).await;

    // Failed requests, retried: HTTP 503 and 500, then a rejected CSRF token.
    control.fail_next(1, Fault::Http(503));
    control.fail_next(1, Fault::Http(500));
    control.customer_says(&chat, "opening hours?").unwrap();
    wait_until("an answer after failed requests", answered(3)).await;
    control.rotate_csrf();
    control.customer_says(&chat, "when are you open").unwrap();
    wait_until("an answer after a rejected CSRF token", answered(4)).await;

    // A lost CometD session: the client handshakes again.
    let handshakes = || {
        control
            .requests()
            .iter()
            .filter(|r| r.operation.as_deref() == Some("/meta/handshake"))
            .count()
    };
    let before = handshakes();
    control.drop_cometd_sessions();
    wait_until("a new CometD handshake", || {
        (handshakes() > before).then_some(())
    })
    .await;
    control.customer_says(&chat, "opening hours").unwrap();
    wait_until("an answer after the CometD reconnect", answered(5)).await;

    // Rule reloads: one good, one broken (the problems are logged, the old rules stay).
    let reloader =
        gws_botd::responder::rules::watch::Reloader::new(&config.bot.rules, rules.clone())
            .with_stats(stats.clone());
    assert!(reloader.reload("test").await.is_ok());
    std::fs::write(dir.join("zz-broken.toml"), "[[rule]]\nname = 1\n").unwrap();
    assert!(reloader.reload("test").await.is_err());

    stop.cancel();
    task.await.unwrap().unwrap();
    drop(guard);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);

    let text = capture.text();
    // The capture saw the daemon, its dependencies, and every level down to TRACE.
    for expected in [
        "logged in to GWS",
        "CometD connect unsuccessful",
        "rules reloaded",
        "rules not reloaded",
    ] {
        assert!(text.contains(expected), "no {expected:?} in the capture");
    }
    assert!(text.contains(USERNAME), "the user name is logged");
    assert!(text.contains(" TRACE "), "TRACE events are captured");
    assert!(
        text.lines()
            .any(|l| l.contains("reqwest") || l.contains("hyper")),
        "the HTTP stack's own logs are captured"
    );
    for password in [PASSWORD, WRONG_PASSWORD] {
        for secret in forbidden(password) {
            let leaks: Vec<&str> = text.lines().filter(|l| l.contains(&secret)).collect();
            assert!(leaks.is_empty(), "{secret:?} logged: {leaks:#?}");
        }
    }
    assert!(
        !text.contains("Basic "),
        "no Authorization header value in the logs"
    );
}

/// Distinctive webhook secrets: the bearer token and a token in the URL's query.
const BEARER: &str = "Tok-3e8a61f0-bearer";
const QUERY_TOKEN: &str = "Q-91c2d7b4-query";

// As above, a current-thread runtime so that the capture sees the daemon's tasks.
#[tokio::test]
async fn no_webhook_token_in_any_log_line() {
    use crate::webhook::{Hook, serve_hook};
    use gws_botd::responder::webhook::Format;

    let (capture, guard) = Capture::start();
    let hook = Hook {
        token: Some(BEARER.into()),
        ..Hook::default()
    };
    let url = serve_hook(hook.clone(), Format::Rasa).await;
    let sim_config = SimConfig {
        users: vec![gws_botd::sim::SimUser {
            username: USERNAME.into(),
            password: PASSWORD.into(),
            id: USERNAME.into(),
        }],
        ..sim_config()
    };
    let sim = Sim::start(sim_config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();
    let dir = rules_dir(RULES);
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let token_file = conf.join("nlu-token");
    std::fs::write(&token_file, format!("{BEARER}\n")).unwrap();
    let file = conf.join("webhook.toml");
    std::fs::write(
        &file,
        webhook_config(&sim.api_url(), &dir, &url, &token_file),
    )
    .unwrap();
    let config = Config::load_from(&Sources {
        file: Some(file),
        ..Default::default()
    })
    .unwrap_or_else(|p| panic!("{p}"));
    let rules = Arc::new(ArcSwap::from_pointee(daemon::load_rules(&config).unwrap()));
    let chain = daemon::build_chain(&config, &rules).expect("the chain builds");
    let debug = format!("{config:?} {:?}", chain.names());
    assert!(!debug.contains(BEARER), "{debug}");
    let stop = CancellationToken::new();
    let task = spawn_daemon(&config, &rules, &Arc::new(Stats::default()), &stop);
    let chat = control.create_chat(gws_botd::sim::ChatSpec {
        customer: "Pat".into(),
        script: vec![
            say(50, "hello bot"),
            gws_botd::sim::Step::AwaitReply,
            say(0, "status 500, opening hours?"),
            gws_botd::sim::Step::AwaitReply,
            say(0, "garbage opening hours"),
        ],
        ..Default::default()
    });
    wait_until("the webhook's answer and two from the rules", || {
        let snapshot = control.chat(&chat)?;
        let bot: Vec<&str> = snapshot
            .transcript
            .iter()
            .filter(|e| e.kind == "Text" && e.from_type == "Agent")
            .filter_map(|e| e.text.as_deref())
            .collect();
        (bot.len() >= 4).then(|| assert_eq!(bot[1], "Hi from Rasa {customer}", "{bot:?}"))
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
    drop(guard);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(hook.requests().len(), 3, "every request carried the token");

    let text = capture.text();
    for expected in [
        "responder failed; asking the next one",
        "HTTP 500",
        "not JSON",
    ] {
        assert!(text.contains(expected), "no {expected:?} in the capture");
    }
    assert!(
        text.lines()
            .any(|l| l.contains("reqwest") || l.contains("hyper")),
        "the HTTP stack's own logs are captured"
    );
    for secret in [BEARER, QUERY_TOKEN, "Bearer "] {
        let leaks: Vec<&str> = text.lines().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret:?} logged: {leaks:#?}");
    }
}

/// A configuration whose chain is the webhook at `url` (with a token in its query and the
/// bearer token in `token_file`), then the rules.
fn webhook_config(
    api_url: &str,
    dir: &std::path::Path,
    url: &str,
    token_file: &std::path::Path,
) -> String {
    format!(
        "{}[[responder]]\ntype = \"webhook\"\nname = \"nlu\"\nurl = \"{url}?token={QUERY_TOKEN}\"\n\
         format = \"rasa\"\nbearer_token_file = \"{}\"\n[[responder]]\ntype = \"rules\"\n",
        config_text(api_url, dir, &format!("password = \"{PASSWORD}\"")),
        token_file.display()
    )
}
