//! Session lifecycle: login order, capacity, SIGTERM, exit codes of the binary.

use std::process::{Command, Stdio};

use gws_botd::sim::{ChatOutcome, Sim, Step};

use gws_botd::sim::SimDialect;

use crate::support::*;

fn position(ops: &[String], name: &str) -> usize {
    ops.iter()
        .position(|o| o == name)
        .unwrap_or_else(|| panic!("{name} missing from {ops:?}"))
}

/// Request names in order: the operation for POSTs, the Bayeux channel for CometD, `GET me`.
fn request_names(h: &Harness) -> Vec<String> {
    h.control
        .requests()
        .into_iter()
        .flat_map(|r| {
            if r.path.ends_with("/notifications") {
                let msgs = match &r.body {
                    serde_json::Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                msgs.iter()
                    .filter_map(|m| m["channel"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            } else if r.method == "GET" {
                vec![format!(
                    "GET {}",
                    r.path.rsplit("/api/v2").next().unwrap_or(&r.path)
                )]
            } else {
                r.operation.into_iter().collect()
            }
        })
        .collect()
}

async fn logs_in_in_the_documented_order(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let names = request_names(&h);
    let handshake = position(&names, "/meta/handshake");
    assert!(
        !names[..handshake].iter().any(|n| n == "GET /me/chats"),
        "a configured dialect is not probed: {names:?}"
    );
    let me = position(&names, "GET /me");
    let handshake = position(&names, "/meta/handshake");
    let subscribe = position(&names, "/meta/subscribe");
    let start = position(&names, "StartContactCenterSession");
    let ready = position(&names, "Ready");
    assert!(
        me < handshake && handshake < subscribe && subscribe < start && start < ready,
        "{names:?}"
    );
    let start_req = h.request("StartContactCenterSession");
    assert_eq!(start_req.body["channels"], serde_json::json!(["chat"]));
    assert_eq!(start_req.body["place"], "BotPlace01");
    assert!(
        h.control.violations().is_empty(),
        "{:?}",
        h.control.violations()
    );
}

async fn shutdown_goes_not_ready_disconnects_and_ends_the_session(d: SimDialect) {
    let mut h = Harness::start_in(d).await;
    let id = h.chat("Pat", vec![Step::AwaitReply, say(0, "bye")]);
    h.wait_outcome(&id).await;
    h.stop().await.expect("clean shutdown");
    let names = request_names(&h);
    let not_ready = position(&names, "NotReady");
    let disconnect = position(&names, "/meta/disconnect");
    let end = position(&names, "EndContactCenterSession");
    assert!(not_ready < disconnect && disconnect < end, "{names:?}");
    assert_eq!(
        names.last().map(String::as_str),
        Some("EndContactCenterSession")
    );
}

async fn at_max_chats_the_bot_goes_not_ready_and_ready_again_below_it(d: SimDialect) {
    let h = Harness::start_with(sim_config_in(d), RULES, |c| c.bot.max_chats = 1).await;
    let first = h.chat("One", vec![Step::AwaitReply, say(300, "bye")]);
    h.wait_for_request("NotReady", |r| r.operation.as_deref() == Some("NotReady"))
        .await;
    let chat = h.wait_outcome(&first).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    // Below the limit again: Ready is sent a second time.
    wait_until("Ready again", || {
        let readies = h
            .control
            .requests()
            .into_iter()
            .filter(|r| r.operation.as_deref() == Some("Ready"))
            .count();
        (readies >= 2).then_some(())
    })
    .await;
}

fn write_config(
    dir: &std::path::Path,
    api_url: &str,
    rules: &std::path::Path,
) -> std::path::PathBuf {
    // Beside the rules directory, not in it: every *.toml there is a rule file.
    let path = dir.with_extension("toml");
    std::fs::write(
        &path,
        format!(
            "[gws]\napi_url = \"{api_url}\"\nusername = \"bot01\"\npassword = \"bot-secret\"\n\
             [bot]\nnickname = \"Ava\"\nrules = \"{}\"\nshutdown_grace = \"2s\"\n\
             state_dir = \"{}\"\n",
            rules.display(),
            dir.with_extension("state").display()
        ),
    )
    .unwrap();
    path
}

/// Lines the child writes to stderr, collected by a thread.
fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Wait for a stderr line containing `needle`.
async fn expect_line(lines: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    wait_until(needle, || lines.try_iter().find(|l| l.contains(needle))).await
}

fn kill(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn the_binary_reloads_rules_on_sighup_and_exits_0_on_sigterm() {
    let sim = Sim::start(sim_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();
    let dir = rules_dir(RULES);
    let config = write_config(&dir, &sim.api_url(), &dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_gws-botd"))
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    wait_until("Ready", || {
        control
            .requests()
            .into_iter()
            .find(|r| r.operation.as_deref() == Some("Ready"))
    })
    .await;

    // A valid change is picked up on SIGHUP.
    let changed = RULES.replace("Hi {customer}, I'm {bot}.", "Welcome back, {customer}!");
    std::fs::write(dir.join("rules.toml"), &changed).unwrap();
    kill(&child, "-HUP");
    expect_line(&lines, "rules reloaded").await;
    // A broken change is refused and the previous rules stay.
    std::fs::write(
        dir.join("rules.toml"),
        changed.replace("reply =", "replly ="),
    )
    .unwrap();
    kill(&child, "-HUP");
    let refused = expect_line(&lines, "rules not reloaded").await;
    assert!(!refused.is_empty());
    let id = control.create_chat(gws_botd::sim::ChatSpec {
        customer: "Hugo".into(),
        ..Default::default()
    });
    let chat = wait_until("greeting", || {
        control
            .chat(&id)
            .filter(|c| !texts_from(c, "Agent").is_empty())
    })
    .await;
    assert_eq!(
        texts_from(&chat, "Agent")[0].1,
        "Welcome back, Hugo! How can I help?"
    );

    kill(&child, "-TERM");
    let code = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(code.code(), Some(0));
    let ops: Vec<String> = control
        .requests()
        .into_iter()
        .filter_map(|r| r.operation)
        .collect();
    assert_eq!(
        ops.last().map(String::as_str),
        Some("EndContactCenterSession"),
        "{ops:?}"
    );
    assert!(ops.iter().any(|o| o == "NotReady"));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_file(&config).ok();
}

#[test]
fn bad_config_and_bad_rules_exit_78_naming_the_problem() {
    let dir = rules_dir("[[rule]]\nname = \"x\"\non = \"message\"\nreply = \"hi\"\n");
    let config = write_config(&dir, "http://127.0.0.1:9/api/v2", &dir);
    let out = Command::new(env!("CARGO_BIN_EXE_gws-botd"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rules.toml:"), "{stderr}");

    std::fs::write(&config, "[gws]\napi_url = 5\n[bot]\nnick = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gws-botd"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gws.api_url"), "{stderr}");
    assert!(
        stderr.contains("bot.nick") && stderr.contains("did you mean `nickname`"),
        "{stderr}"
    );
    assert!(stderr.contains("gws.username: missing"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_gws-botd"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_file(&config).ok();
}

#[test]
fn check_accepts_the_shipped_rules() {
    let out = Command::new(env!("CARGO_BIN_EXE_gws-botd"))
        .args(["check", "--config", "/nonexistent/gws-botd.toml", "--rules"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/rules"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("rules:"));
}

/// `check --config` asks the configured server for its dialect; an unreachable server is
/// reported without failing the check, and `--offline` does not ask.
#[tokio::test]
async fn check_reports_the_servers_dialect_without_failing_when_it_is_unreachable() {
    async fn check(config: &std::path::Path, extra: &[&str]) -> String {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gws-botd"))
            .args(["check", "--config"])
            .arg(config)
            .args(extra)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
    let sim = Sim::start(
        sim_config_in(SimDialect::Chats),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = rules_dir(RULES);
    let config = write_config(&dir, &sim.api_url(), &dir);
    let out = check(&config, &[]).await;
    assert!(
        out.contains("speaks the chats dialect (gws.dialect = \"auto\" will use it)"),
        "{out}"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[bot]", "dialect = \"interactions\"\n[bot]"),
    )
    .unwrap();
    let out = check(&config, &[]).await;
    assert!(
        out.contains("WARNING") && out.contains("gws.dialect = \"interactions\""),
        "{out}"
    );
    let requests = sim.control().requests().len();
    let out = check(&config, &["--offline"]).await;
    assert!(!out.contains("dialect"), "{out}");
    assert_eq!(
        sim.control().requests().len(),
        requests,
        "offline asks nothing"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}/api/v2", listener.local_addr().unwrap());
    drop(listener);
    let config = write_config(&dir, &closed, &dir);
    let out = check(&config, &[]).await;
    assert!(out.contains("is not reachable from here"), "{out}");
    std::fs::remove_file(&config).ok();
    std::fs::remove_dir_all(&dir).ok();
}

/// `gws.dialect = "auto"` finds the dialect the server speaks after `GET me`, before the
/// handshake, and the bot then works in it.
async fn auto_picks_the_dialect_the_server_speaks(d: SimDialect) {
    let h = Harness::start_with(sim_config_in(d), RULES, |c| {
        c.gws.dialect = gws_botd::gws::Choice::Auto
    })
    .await;
    let id = h.chat("Pat", vec![Step::AwaitReply, say(0, "bye")]);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    let names = request_names(&h);
    let me = position(&names, "GET /me");
    let probe = position(&names, "GET /me/chats");
    let handshake = position(&names, "/meta/handshake");
    assert!(me < probe && probe < handshake, "{names:?}");
    let subscribed = format!("/v2/me/{d}");
    assert!(
        h.control
            .requests()
            .iter()
            .any(|r| r.body.to_string().contains(&subscribed)),
        "subscribed to {subscribed}"
    );
    let expected_path = format!("/me/{d}/{id}");
    assert!(
        h.control
            .requests()
            .iter()
            .any(|r| r.path.ends_with(&expected_path)),
        "operations went to {expected_path}"
    );
    // Later `GET /me/chats` are the `chats` listing (`?fields=*`); the probe comes once.
    assert_eq!(
        names[..handshake]
            .iter()
            .filter(|n| *n == "GET /me/chats")
            .count(),
        1,
        "probed once: {names:?}"
    );
    assert!(
        h.control.violations().is_empty(),
        "{:?}",
        h.control.violations()
    );
}

per_dialect!(
    auto_picks_the_dialect_the_server_speaks,
    logs_in_in_the_documented_order,
    shutdown_goes_not_ready_disconnects_and_ends_the_session,
    at_max_chats_the_bot_goes_not_ready_and_ready_again_below_it,
);
