//! The sd_notify side: READY after login and Ready, STATUS lines, watchdog pings only while the
//! CometD connection is healthy, RELOADING/READY around SIGHUP and STOPPING at SIGTERM — once
//! in-process, once through the real binary and a real `$NOTIFY_SOCKET` datagram socket.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use gws_botd::cli::demo;
use gws_botd::responder::rules::RuleSet;
use gws_botd::runtime::daemon;
use gws_botd::sim::{ChatSpec, Sim, SimConfig};
use gws_botd::telemetry::notify::Notifier;
use gws_botd::telemetry::stats::Stats;
use tokio::net::UnixDatagram;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::{self, RULES, WAIT, say, sim_config};

/// The next notification containing `needle` (others are skipped), or a panic after `WAIT`.
async fn next_with(rx: &mut mpsc::UnboundedReceiver<String>, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(msg)) if msg.contains(needle) => return msg,
            Ok(Some(_)) => {}
            Ok(None) => panic!("notifier closed while waiting for {needle:?}"),
            Err(_) => panic!("no notification with {needle:?} within {WAIT:?}"),
        }
    }
}

#[tokio::test]
async fn ready_status_and_watchdog_follow_the_connection() {
    let sim_config = sim_config();
    let sim = Sim::start(sim_config.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();
    let dir = support::rules_dir(RULES);
    let mut config = demo::daemon_config(&sim, &sim_config, &dir);
    config.bot.shutdown_grace = Duration::from_millis(300);
    config.gws.retry_attempts = 1;
    let rules = Arc::new(ArcSwap::from_pointee(RuleSet::load_dir(&dir).unwrap()));
    let (notifier, mut rx) = Notifier::channel(Some(Duration::from_millis(200)));
    let mut beats = notifier.beats();
    let stats = Arc::new(Stats::default());
    stats.rules_loaded();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(daemon::run(
        config.clone(),
        daemon::build_chain(&config, &rules).expect("the chain builds"),
        daemon::Tuning {
            notifier,
            ..support::tuning()
        },
        stats,
        shutdown.clone(),
    ));

    let ready = next_with(&mut rx, "READY=1").await;
    assert_eq!(ready, "READY=1\nSTATUS=0 chats, rules v1");
    assert!(
        control
            .requests()
            .iter()
            .any(|r| r.operation.as_deref() == Some("Ready")),
        "READY=1 only after the agent went Ready"
    );
    next_with(&mut rx, "WATCHDOG=1").await;

    // A customer who stays: the status counts the open chat.
    control.create_chat(ChatSpec {
        customer: "Ann".into(),
        script: vec![say(0, "hello there")],
        ..ChatSpec::default()
    });
    next_with(&mut rx, "STATUS=1 chats, rules v1").await;

    // The server goes away: the status says so and the watchdog pings stop.
    sim.shutdown().await;
    next_with(&mut rx, "notifications reconnecting").await;
    // Eight more beats of the main loop (four watchdog periods), each of which would have
    // pinged with the link up; what they sent is in the channel before the count moves.
    let from = *beats.borrow_and_update();
    tokio::time::timeout(WAIT, beats.wait_for(|n| *n >= from + 8))
        .await
        .expect("the main loop keeps beating")
        .expect("the notifier is alive");
    let after: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert!(
        after.iter().all(|m| !m.contains("WATCHDOG")),
        "no watchdog pings while CometD is down: {after:?}"
    );

    shutdown.cancel();
    let _ = tokio::time::timeout(WAIT, daemon)
        .await
        .expect("daemon stops in time");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The binary under systemd's protocol: `$NOTIFY_SOCKET`, `$WATCHDOG_USEC`, SIGHUP, SIGTERM.
#[tokio::test]
async fn the_binary_speaks_sd_notify() {
    let sim_config = SimConfig::default();
    let sim = Sim::start(sim_config.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = support::rules_dir(RULES);
    let user = &sim_config.users[0];
    let config_file = dir.with_extension("toml");
    std::fs::write(
        &config_file,
        format!(
            "[gws]\napi_url = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\n\
             [bot]\nnickname = \"Ava\"\nrules = \"{}\"\nshutdown_grace = \"2s\"\n",
            sim.api_url(),
            user.username,
            user.password,
            dir.display()
        ),
    )
    .unwrap();
    let socket_path = dir.with_extension("sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gws-botd"))
        .args(["run", "--config"])
        .arg(&config_file)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap().to_string();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = socket.recv(&mut buf).await {
            let msg = String::from_utf8_lossy(&buf[..n]).trim_end().to_owned();
            if tx.send(msg).is_err() {
                return;
            }
        }
    });
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    };

    assert_eq!(
        next_with(&mut rx, "READY=1").await,
        "READY=1\nSTATUS=0 chats, rules v1"
    );
    next_with(&mut rx, "WATCHDOG=1").await;

    signal("HUP");
    let reloading = next_with(&mut rx, "RELOADING=1").await;
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    assert_eq!(
        next_with(&mut rx, "READY=1").await,
        "READY=1\nSTATUS=0 chats, rules v2"
    );

    std::fs::write(dir.join("zz-broken.toml"), "[[rule]]\nname = 3\n").unwrap();
    signal("HUP");
    next_with(&mut rx, "RELOADING=1").await;
    assert_eq!(
        next_with(&mut rx, "READY=1").await,
        "READY=1\nSTATUS=0 chats, rules v2, last reload failed"
    );

    signal("TERM");
    next_with(&mut rx, "STOPPING=1").await;
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits in time")
        .unwrap();
    assert!(status.success(), "{status}");
    reader.abort();
    sim.shutdown().await;
    for path in [&config_file, &socket_path] {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
