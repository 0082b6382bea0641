//! The operator's commands as the units run them: `check` exits 78 for everything `run` would
//! stop on (so systemd does not restart into the same failure), `gws-botd reload` waits for the
//! running daemon's verdict, and an override set from the command line reaches the running
//! daemon without any chat asking: logged and exported.

use std::path::{Path, PathBuf};
use std::process::Output;

use gws_botd::sim::{Sim, SimConfig};

use crate::support::{bin_isolated, free_port, metric, spawn_daemon};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gws-botd-op-{name}-{}", rand::random::<u64>()));
    std::fs::create_dir_all(dir.join("state")).unwrap();
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for entry in std::fs::read_dir(shipped).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join("rules").join(entry.file_name())).unwrap();
    }
    dir
}

/// A configuration in `dir` for the simulator at `api_url` (or none), with `extra` appended.
fn config(dir: &Path, api_url: &str, password: &str, extra: &str) -> PathBuf {
    let file = dir.join("gws-botd.toml");
    std::fs::write(
        &file,
        format!(
            "[gws]\napi_url = \"{api_url}\"\nusername = \"bot01\"\npassword = \"{password}\"\n\
             [bot]\nnickname = \"Ava\"\nrules = \"{}\"\nstate_dir = \"{}\"\n\
             shutdown_grace = \"1s\"\n{extra}",
            dir.join("rules").display(),
            dir.join("state").display(),
        ),
    )
    .unwrap();
    file
}

fn run_with(args: &[&str], config: &Path) -> Output {
    bin_isolated()
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

/// Each mistake that used to pass `check` and then make `run` exit 1 (a restart every 5 s
/// under systemd): now both exit 78 and say what to fix.
#[test]
fn check_and_run_exit_78_for_what_run_cannot_live_with() {
    let dir = scratch("config");
    let url = "http://127.0.0.1:9/api/v2";
    let cases: [(&str, String, &str); 5] = [
        (
            "a CA file that cannot be read",
            String::new(),
            "gws.tls_ca_file: cannot read",
        ),
        (
            "a state directory that cannot be created",
            String::new(),
            "bot.state_dir: /proc/gws-botd-state does not exist and cannot be created in /proc",
        ),
        (
            "an unknown key under [[responder]]",
            "[[responder]]\ntype = \"rules\"\ndirectory = \"/etc\"\n".into(),
            "responder[1].directory",
        ),
        (
            "an api_url without /api/v2",
            String::new(),
            "must be the API root ending in /api/v2",
        ),
        (
            "an unknown key under [bot]",
            String::new(),
            "bot.watch_rule",
        ),
    ];
    for (n, (what, extra, expected)) in cases.into_iter().enumerate() {
        let file = config(&dir, url, "pw", &extra);
        let mut toml = std::fs::read_to_string(&file).unwrap();
        match n {
            0 => {
                toml = toml.replace(
                    "username",
                    &format!(
                        "tls_ca_file = \"{}\"\nusername",
                        dir.join("ca.pem").display()
                    ),
                )
            }
            1 => {
                toml = toml.replace(
                    &dir.join("state").display().to_string(),
                    "/proc/gws-botd-state",
                )
            }
            3 => toml = toml.replace("/api/v2", ""),
            4 => toml = toml.replace("nickname", "watch_rule = false\nnickname"),
            _ => {}
        }
        std::fs::write(&file, toml).unwrap();
        for command in [&["check", "--offline"][..], &["run"][..]] {
            let out = run_with(command, &file);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(78), "{what}, {command:?}: {stderr}");
            assert!(stderr.contains(expected), "{what}, {command:?}: {stderr}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Online, `check` logs in: a refused login exits 78 (the daemon would retry it forever), a
/// GWS that cannot be reached from here is reported without failing.
#[tokio::test]
async fn online_check_exits_78_when_gws_refuses_the_login() {
    let sim = Sim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let user = SimConfig::default().users[0].clone();
    let dir = scratch("login");
    let check = |password: &str| {
        let file = config(&dir, &sim.api_url(), password, "");
        let file = file.clone();
        async move { tokio::task::spawn_blocking(move || run_with(&["check"], &file)).await }
    };
    let out = check("wrong-password").await.unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("refused the login (HTTP 401)"));
    let out = check(&user.password).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("speaks the"),
        "{}",
        text(&out.stdout)
    );
    sim.shutdown().await;
    let file = config(&dir, "http://127.0.0.1:9/api/v2", "pw", "");
    let out = tokio::task::spawn_blocking(move || run_with(&["check"], &file))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("not reachable from here"));
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn command(args: &[&str], config: &Path) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || {
        bin_isolated()
            .args(&args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// `gws-botd reload` returns the running daemon's verdict; `override closed|clear` reach it
/// within moments, with nobody chatting, and show in the metrics.
#[tokio::test]
async fn reload_and_override_reach_the_running_daemon() {
    let sim_config = SimConfig::default();
    let sim = Sim::start(sim_config.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = scratch("daemon");
    let addr = format!("127.0.0.1:{}", free_port());
    let file = config(
        &dir,
        &sim.api_url(),
        &sim_config.users[0].password,
        &format!("watch_rules = false\n[http]\nlisten = \"{addr}\"\n"),
    );
    let mut daemon = spawn_daemon(&file, &addr).await;

    let out = command(&["reload"], &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("rules reloaded and live"));
    let broken = dir.join("rules/99-broken.toml");
    std::fs::write(&broken, "[[rule]]\nname = \"x\"\non = \"sometimes\"\n").unwrap();
    let out = command(&["reload"], &file).await;
    assert_eq!(out.status.code(), Some(78), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("99-broken.toml:3"),
        "{}",
        text(&out.stderr)
    );
    metric(&addr, "the failed-reload gauge", |l| {
        l == "gws_botd_rules_last_reload_failed 1"
    })
    .await;
    std::fs::remove_file(&broken).unwrap();
    let out = command(&["reload"], &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    metric(&addr, "the gauge to clear", |l| {
        l == "gws_botd_rules_last_reload_failed 0"
    })
    .await;

    let out = command(
        &[
            "override",
            "closed",
            "--until",
            "2h",
            "--schedule",
            "support",
        ],
        &file,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    metric(&addr, "the override to be noticed", |l| {
        l == "gws_botd_override_changes_total 1"
    })
    .await;
    metric(&addr, "its end to be exported", |l| {
        l.strip_prefix("gws_botd_override_until_seconds ")
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|n| n > 0)
    })
    .await;
    let out = command(&["override", "clear"], &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    metric(&addr, "the cleared override", |l| {
        l == "gws_botd_override_until_seconds 0"
    })
    .await;
    assert!(metric_once(&addr, "gws_botd_override_changes_total 2").await);

    daemon.start_kill().unwrap();
    let _ = daemon.wait().await;
    sim.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn metric_once(addr: &str, line: &str) -> bool {
    let body = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines().any(|l| l == line)
}
