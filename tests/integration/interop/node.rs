//! Node.js peers for the interop tests: finds Node 20+, installs `interop/node_modules` once
//! (`npm ci`, guarded against parallel tests and parallel test processes), and runs one script
//! of `interop/` as a child that prints JSON lines and reads JSON commands. The child is killed
//! when its [`Peer`] is dropped, also when the test panics.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{OnceCell, mpsc};

/// The oldest Node.js major version the peers are written for.
const MIN_NODE_MAJOR: u32 = 20;
/// How long `npm ci` may take (it downloads the packages on a fresh machine).
const NPM_CI_TIMEOUT: Duration = Duration::from_secs(300);
/// A lock file older than this was left by a killed installer.
const STALE_LOCK: Duration = Duration::from_secs(600);
/// How long one wait for a peer's event may take.
pub const EVENT_WAIT: Duration = Duration::from_secs(20);
/// How many of a peer's last events a failure message shows.
const SHOWN_EVENTS: usize = 30;

/// `interop/` in the source tree.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Node is there and `interop/node_modules` is installed; panics with what to do otherwise.
/// Runs the checks (and `npm ci`) once per test process.
pub async fn ensure_installed() {
    static READY: OnceCell<Result<(), String>> = OnceCell::const_new();
    if let Err(why) = READY.get_or_init(install).await {
        panic!("{why}");
    }
}

async fn install() -> Result<(), String> {
    check_node().await?;
    let dir = interop_dir();
    if installed(&dir) {
        return Ok(());
    }
    let _lock = InstallLock::take(&dir.join(".npm-ci.lock")).await?;
    // Another test process may have installed while this one waited for the lock.
    if installed(&dir) {
        return Ok(());
    }
    eprintln!("interop: installing the Node peers with `npm ci --prefix interop`");
    let run = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .status();
    match tokio::time::timeout(NPM_CI_TIMEOUT, run).await {
        Err(_) => {
            return Err(format!(
                "`npm ci --prefix interop` took longer than {NPM_CI_TIMEOUT:?}"
            ));
        }
        Ok(Err(e)) => {
            return Err(format!(
                "cannot run `npm ci --prefix interop` ({e}): install npm 9 or later"
            ));
        }
        Ok(Ok(status)) if !status.success() => {
            return Err(format!("`npm ci --prefix interop` failed ({status})"));
        }
        Ok(Ok(_)) => {}
    }
    if installed(&dir) {
        Ok(())
    } else {
        Err("`npm ci --prefix interop` left interop/node_modules incomplete".into())
    }
}

/// npm writes `node_modules/.package-lock.json` last, so it marks a finished install; one older
/// than `package-lock.json` means the lockfile changed since (install again).
fn installed(dir: &Path) -> bool {
    let modules = dir.join("node_modules");
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let current = match (
        modified(modules.join(".package-lock.json")),
        modified(dir.join("package-lock.json")),
    ) {
        (Some(installed), Some(locked)) => installed >= locked,
        _ => false,
    };
    current
        && [
            "faye",
            "cometd-nodejs-server",
            "cometd",
            "cometd-nodejs-client",
        ]
        .iter()
        .all(|p| modules.join(p).join("package.json").is_file())
}

async fn check_node() -> Result<(), String> {
    let help = format!(
        "the interop tests need Node.js {MIN_NODE_MAJOR} or later with npm on PATH \
         (e.g. `apt-get install nodejs npm`, or https://nodejs.org)"
    );
    let out = Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run `node --version` ({e}): {help}"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= MIN_NODE_MAJOR && out.status.success() => Ok(()),
        _ => Err(format!("found Node.js {version:?}: {help}")),
    }
}

/// A lock file created with `create_new` (atomic), removed on drop.
struct InstallLock(PathBuf);

impl InstallLock {
    /// Create the lock file. While another test process holds it, wait for it to go (a
    /// file-system event on the directory), or, if it was left by a killed installer, until it
    /// turns stale.
    async fn take(path: &Path) -> Result<InstallLock, String> {
        let (mut changed, _watcher) = watch_file(path)?;
        let give_up = tokio::time::Instant::now() + NPM_CI_TIMEOUT;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => return Ok(InstallLock(path.to_owned())),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .unwrap_or_default();
                    if age > STALE_LOCK {
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    let stale = tokio::time::Instant::now() + (STALE_LOCK - age);
                    let wake = stale.min(give_up);
                    if tokio::time::timeout_at(wake, changed.recv()).await.is_err()
                        && wake == give_up
                    {
                        return Err(format!(
                            "another `npm ci` holds {} for too long; remove it if stale",
                            path.display()
                        ));
                    }
                }
                Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
            }
        }
    }
}

/// A cue for each change of `path` (or trouble of the watcher), from a watcher of its directory
/// that lives as long as the returned handle.
fn watch_file(
    path: &Path,
) -> Result<(mpsc::UnboundedReceiver<()>, notify::RecommendedWatcher), String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let name = path.file_name().map(|n| n.to_owned());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let ours = match &event {
            Ok(event) => event.paths.iter().any(|p| p.file_name() == name.as_deref()),
            Err(_) => true,
        };
        if ours {
            let _ = tx.send(());
        }
    })
    .map_err(|e| format!("cannot watch for {}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    notify::Watcher::watch(&mut watcher, dir, notify::RecursiveMode::NonRecursive)
        .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    Ok((rx, watcher))
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A running Node script of `interop/`.
pub struct Peer {
    name: String,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Every event received so far, in order.
    events: Vec<Value>,
    /// Events before this index were already matched by [`Peer::wait_for`].
    cursor: usize,
}

impl Peer {
    /// Start `node <script> <args…>` in `interop/` with `env`, after [`ensure_installed`].
    pub async fn start(script: &str, args: &[&str], env: &[(&str, &str)]) -> Peer {
        ensure_installed().await;
        let mut child = Command::new("node")
            .arg(script)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(interop_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node {script}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::unbounded_channel();
        let name = script.to_owned();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let event = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"event": "stdout", "line": line}));
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        let who = name.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                eprintln!("[{who}] {line}");
            }
        });
        Peer {
            name,
            child,
            stdin,
            lines,
            events: Vec::new(),
            cursor: 0,
        }
    }

    /// Send `{"cmd":"stop"}` and wait until the process has exited (killed after
    /// [`EVENT_WAIT`]).
    pub async fn stop(mut self) {
        self.send(serde_json::json!({"cmd": "stop"})).await;
        if tokio::time::timeout(EVENT_WAIT, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
            panic!("{} did not stop within {EVENT_WAIT:?}", self.name);
        }
    }

    /// Send one command (a JSON line).
    pub async fn send(&mut self, command: Value) {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{}: cannot send {command}: {e}", self.name));
        self.stdin.flush().await.expect("flush the peer's stdin");
    }

    /// The first event after the last match for which `pred` holds; panics after
    /// [`EVENT_WAIT`] showing the last events.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let i = self.wait_index(self.cursor, what, pred).await;
        self.cursor = i + 1;
        self.events[i].clone()
    }

    /// Like [`Peer::wait_for`], but any event so far counts and later waits are unaffected.
    pub async fn wait_seen(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let i = self.wait_index(0, what, pred).await;
        self.events[i].clone()
    }

    async fn wait_index(
        &mut self,
        from: usize,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> usize {
        let deadline = tokio::time::Instant::now() + EVENT_WAIT;
        loop {
            if let Some(i) = (from..self.events.len()).find(|&i| pred(&self.events[i])) {
                return i;
            }
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(event)) => {
                    if event["event"] == "fatal" {
                        panic!("{}: {event}", self.name);
                    }
                    self.events.push(event);
                }
                Ok(None) => panic!("{} exited while waiting for {what}", self.name),
                Err(_) => panic!(
                    "{}: no {what} within {EVENT_WAIT:?}; last events:\n{}",
                    self.name,
                    self.tail()
                ),
            }
        }
    }

    /// Wait for an event named `name`.
    pub async fn wait_event(&mut self, name: &str) -> Value {
        self.wait_for(name, |e| e["event"] == name).await
    }

    /// Every event received so far (also those not yet read from the pipe are taken in).
    pub fn events(&mut self) -> &[Value] {
        while let Ok(event) = self.lines.try_recv() {
            self.events.push(event);
        }
        &self.events
    }

    fn tail(&self) -> String {
        let from = self.events.len().saturating_sub(SHOWN_EVENTS);
        self.events[from..]
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}
