//! What the real binary leaves on disk, as an operator meets it: under a permissive umask
//! (`000`) the state directory is still 0700 and every file in it 0600, whatever the files
//! are called (chat records, a database and its journal, the decision log, the override);
//! and with `RUST_LOG=trace` and the log written next to the rules directory, one short chat
//! writes a short log (it once fed itself through the rules watcher: 1 GB in 40 s).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use gws_botd::sim::{ChatOutcome, ChatSpec, Control, Sim, Step};

use crate::support::{RULES, say, sim_config, wait_until};

/// The bound for one short chat at TRACE.
const LOG_LIMIT: u64 = 1 << 20;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gws-botd-files-{}-{name}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules").join("rules.toml"), RULES).unwrap();
    dir
}

/// `bot.toml` next to the rules directory, with its state in `state`.
fn write_config(dir: &Path, api_url: &str, state: &Path) -> PathBuf {
    let path = dir.join("bot.toml");
    std::fs::write(
        &path,
        format!(
            "[gws]\napi_url = \"{api_url}\"\nusername = \"bot01\"\npassword = \"bot-secret\"\n\
             [bot]\nnickname = \"Ava\"\nrules = \"{}\"\nshutdown_grace = \"2s\"\n\
             state_dir = \"{}\"\n",
            dir.join("rules").display(),
            state.display()
        ),
    )
    .unwrap();
    path
}

/// `gws-botd <args>` started by a shell after `umask 000`, stderr appended to `log`.
fn under_umask_000(args: &[&str], rust_log: &str, log: &Path) -> Command {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut command = Command::new("sh");
    command
        .args(["-c", "umask 000; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_gws-botd"))
        .args(args)
        .env("RUST_LOG", rust_log)
        .env_remove("GWS_BOTD_CONFIG")
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    command
}

/// Start the daemon under umask 000 and wait until it is Ready.
async fn start(config: &Path, rust_log: &str, log: &Path, control: &Control) -> Child {
    let child = under_umask_000(
        &["run", "--config", config.to_str().unwrap()],
        rust_log,
        log,
    )
    .spawn()
    .unwrap();
    wait_until("Ready", || {
        control
            .requests()
            .into_iter()
            .find(|r| r.operation.as_deref() == Some("Ready"))
    })
    .await;
    child
}

/// SIGTERM, and the exit code.
async fn stop(child: Child) -> Option<i32> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = child;
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap()
        .code()
}

/// Every directory and file under `root` (itself included), with its permission bits.
fn modes(root: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        found.push((
            path.clone(),
            meta.is_dir(),
            meta.permissions().mode() & 0o777,
        ));
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        }
    }
    found
}

/// Every directory under `root` is 0700 and every file 0600; returns how many files.
fn assert_private(root: &Path) -> usize {
    let found = modes(root);
    let wrong: Vec<String> = found
        .iter()
        .filter(|(_, dir, mode)| *mode != if *dir { 0o700 } else { 0o600 })
        .map(|(path, _, mode)| format!("{} {mode:o}", path.display()))
        .collect();
    assert!(wrong.is_empty(), "not private under umask 000: {wrong:?}");
    found.iter().filter(|(_, dir, _)| !dir).count()
}

/// The daemon creates its state directory (and the missing parents) 0700 and every file in it
/// 0600 under umask 000: checked while a chat is open (records and any database journal exist
/// then) and after the exit, with the override `gws-botd override` writes added.
#[tokio::test]
async fn state_files_are_private_under_a_permissive_umask() {
    let sim = Sim::start(sim_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();
    let dir = scratch("umask");
    // Two levels the daemon must create itself.
    let created = dir.join("var");
    let state = created.join("state");
    let config = write_config(&dir, &sim.api_url(), &state);
    let log = dir.join("bot.log");
    let child = start(&config, "info", &log, &control).await;

    let id = control.create_chat(ChatSpec {
        customer: "Pat".into(),
        script: vec![
            Step::AwaitReply,
            say(0, "when are you open"),
            Step::AwaitReply,
        ],
        ..ChatSpec::default()
    });
    wait_until("two answers", || {
        let chat = control.chat(&id)?;
        let bot = chat
            .transcript
            .iter()
            .filter(|e| e.kind == "Text" && e.from_type == "Agent")
            .count();
        (bot >= 2).then_some(())
    })
    .await;
    // The decision log and the chat's record (whatever their form) reach the disk.
    wait_until("files in the state directory", || {
        let files = modes(&state).iter().filter(|(_, dir, _)| !dir).count();
        (files >= 2).then_some(())
    })
    .await;
    assert_private(&created);

    control.customer_says(&id, "bye").unwrap();
    let ended = wait_until("the chat's end", || {
        control.chat(&id).filter(|c| c.outcome.is_some())
    })
    .await;
    assert_eq!(ended.outcome, Some(ChatOutcome::ClosedByBot));
    assert_eq!(stop(child).await, Some(0), "{}", read(&log));

    let status = under_umask_000(
        &[
            "--config",
            config.to_str().unwrap(),
            "override",
            "closed",
            "--until",
            "2h",
        ],
        "info",
        &log,
    )
    .status()
    .unwrap();
    assert!(status.success(), "{}", read(&log));
    let files = assert_private(&created);
    assert!(files >= 2, "{:?}", modes(&created));
    std::fs::remove_dir_all(&dir).ok();
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// `RUST_LOG=trace` with the log file next to the rules directory (`… > ./bot.log 2>&1`): a
/// short chat writes less than 1 MB, and the log does hold the daemon's fine-grained lines.
#[tokio::test]
async fn a_trace_log_next_to_the_rules_stays_small() {
    let sim = Sim::start(sim_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();
    let dir = scratch("trace");
    let config = write_config(&dir, &sim.api_url(), &dir.join("state"));
    let log = dir.join("bot.log");
    let child = start(&config, "trace", &log, &control).await;

    let id = control.create_chat(ChatSpec {
        customer: "Pat".into(),
        script: vec![
            Step::AwaitReply,
            say(0, "when are you open"),
            Step::AwaitReply,
            say(0, "bye"),
        ],
        ..ChatSpec::default()
    });
    wait_until("the chat's end", || {
        control.chat(&id).filter(|c| c.outcome.is_some())
    })
    .await;
    assert_eq!(stop(child).await, Some(0));

    let size = std::fs::metadata(&log).unwrap().len();
    let text = read(&log);
    assert!(
        text.contains("DEBUG") || text.contains("TRACE"),
        "the filter let nothing fine-grained through:\n{text}"
    );
    assert!(
        size < LOG_LIMIT,
        "{size} bytes of log for one short chat; the last lines:\n{}",
        text.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    std::fs::remove_dir_all(&dir).ok();
}
