//! The test harness: a simulator on 127.0.0.1:0, a rules directory written by the test, and the
//! daemon running in-process against them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use gws_botd::cli::demo;
use gws_botd::config::Config;
use gws_botd::responder::rules::RuleSet;
use gws_botd::responder::{Chain, Responder};
use gws_botd::runtime::daemon::{self, Tuning};
use gws_botd::sim::{
    ChatSnapshot, ChatSpec, Control, RecordedRequest, Sim, SimAgent, SimConfig, SimDialect, Step,
};
use gws_botd::telemetry::stats::Stats;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// Rules most tests use.
pub const RULES: &str = r#"
[team.billing]
agents = ["agent-101"]
skill = "Billing"
wait = "2s"

[team.nobody]
agents = ["agent-201"]
skill = "Billing"
wait = "500ms"

[team.broken]
agents = ["agent-201"]
skill = "NoSuchSkill"
wait = "300ms"

[[rule]]
name = "greeting"
on = "accept"
typing = "50ms"
reply = "Hi {customer}, I'm {bot}. How can I help?"

[[rule]]
name = "hours"
on = "message"
match.keywords = ["opening hours", "when are you open"]
reply = "We're open 8 to 18."

[[rule]]
name = "tag-vip"
on = "message"
match.keywords = ["vip"]
attach = { Segment = "VIP" }
reply = "Noted."

[[rule]]
name = "bye"
on = "message"
match.keywords = ["bye"]
reply = "Goodbye!"
then = "close"

[[rule]]
name = "refund"
on = "message"
match.regex = '(?i)\brefund\b'
reply = "Let me get billing."
then = { escalate = "billing" }

[[rule]]
name = "sales"
on = "message"
match.keywords = ["buy"]
reply = "Let me get sales."
then = { escalate = "nobody" }

[[rule]]
name = "broken"
on = "message"
match.keywords = ["complaint"]
reply = "Let me get someone."
then = { escalate = "broken" }

[[rule]]
name = "queue"
on = "message"
match.keywords = ["queue me"]
then = { transfer = "Support" }

[[rule]]
name = "rephrase"
on = "no_match"
reply = "Sorry, could you say that in other words?"
"#;

/// A simulator configuration with quick agents.
pub fn sim_config() -> SimConfig {
    SimConfig {
        connect_timeout: Duration::from_secs(5),
        agents: vec![
            SimAgent {
                id: "agent-101".into(),
                nickname: "Sam".into(),
                join_after: Some(Duration::from_millis(200)),
            },
            SimAgent {
                id: "agent-201".into(),
                nickname: "Lee".into(),
                join_after: None,
            },
        ],
        ..SimConfig::default()
    }
}

/// [`sim_config`] speaking `dialect` (the daemon under test is configured to match).
pub fn sim_config_in(dialect: SimDialect) -> SimConfig {
    SimConfig {
        dialect,
        ..sim_config()
    }
}

/// The `chats` wire name of an operation the tests know by its `interactions` (seed) name.
fn chats_name(seed: &str) -> &str {
    match seed {
        "SendNotification" => "SendStartTypingNotification",
        "StopProcessing" => "Complete",
        "StartChatConsultation" => "Consult",
        "CompleteTransfer" => "Transfer",
        "LeaveChatConsultation" => "Invite",
        other => other,
    }
}

/// Tuning with short back-offs so recovery tests finish quickly.
pub fn tuning() -> Tuning {
    use gws_botd::backoff::Backoff;
    let quick = Backoff::new(Duration::from_millis(50), Duration::from_millis(400), 0.0);
    Tuning {
        login_backoff: quick,
        auth_backoff: Backoff::new(Duration::from_millis(300), Duration::from_secs(2), 0.0),
        cometd_backoff: quick,
        history_timeout: Duration::from_secs(2),
        reconcile_interval: Duration::from_secs(2),
        hand_over_window: Duration::from_secs(5),
        ..Tuning::default()
    }
}

/// Write `rules` into a fresh directory.
pub fn rules_dir(rules: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gws-botd-it-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rules.toml"), rules).unwrap();
    dir
}

/// The simulator and the daemon under test.
pub struct Harness {
    /// Kept alive for the test: dropping it stops the server.
    _sim: Sim,
    /// The dialect the simulator (and so the daemon) speaks.
    pub dialect: SimDialect,
    pub control: Control,
    pub config: Config,
    pub stats: Arc<Stats>,
    /// The active rule set the daemon's chain reads (reloads swap it).
    pub rules: Arc<ArcSwap<RuleSet>>,
    /// The shadow rule set the chats evaluate, when the configuration has `[shadow]`.
    pub shadow: Option<Arc<ArcSwap<RuleSet>>>,
    shutdown: CancellationToken,
    daemon: Option<JoinHandle<anyhow::Result<()>>>,
    /// The daemon runs on a runtime of its own, so that [`Harness::kill`] can end all of its
    /// tasks at once, as `kill -9` ends a process.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Harness {
    /// The default harness: test rules, quick agents, daemon logged in and Ready.
    pub async fn start() -> Harness {
        Harness::start_in(SimDialect::Interactions).await
    }

    /// The default harness speaking `dialect`.
    pub async fn start_in(dialect: SimDialect) -> Harness {
        Harness::start_with(sim_config_in(dialect), RULES, |_| {}).await
    }

    /// A harness with its own simulator config, rules and daemon config changes.
    pub async fn start_with(
        sim_config: SimConfig,
        rules: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> Harness {
        let harness = Harness::start_unready(sim_config, rules, tweak).await;
        harness
            .wait_for_request("Ready", |r| r.operation.as_deref() == Some("Ready"))
            .await;
        harness
    }

    /// A harness speaking `dialect` whose chain is `responders` instead of the configured rules.
    pub async fn start_with_responders(
        dialect: SimDialect,
        responders: Vec<Box<dyn Responder>>,
        tweak: impl FnOnce(&mut Config),
    ) -> Harness {
        let harness = Harness::launch(sim_config_in(dialect), RULES, tweak, Some(responders)).await;
        harness
            .wait_for_request("Ready", |r| r.operation.as_deref() == Some("Ready"))
            .await;
        harness
    }

    /// Like `start_with`, without waiting for the daemon to become Ready.
    pub async fn start_unready(
        sim_config: SimConfig,
        rules: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> Harness {
        Harness::launch(sim_config, rules, tweak, None).await
    }

    async fn launch(
        sim_config: SimConfig,
        rules: &str,
        tweak: impl FnOnce(&mut Config),
        responders: Option<Vec<Box<dyn Responder>>>,
    ) -> Harness {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "gws_botd=debug".into()),
            )
            .with_test_writer()
            .try_init();
        let sim = Sim::start(sim_config.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("simulator starts");
        let dir = rules_dir(rules);
        let mut config = demo::daemon_config(&sim, &sim_config, &dir);
        config.bot.fallback_skill = None;
        tweak(&mut config);
        let rule_set = RuleSet::load_dir(&config.bot.rules).expect("test rules load");
        let rules = Arc::new(ArcSwap::from_pointee(rule_set));
        let chain = match responders {
            Some(list) => Chain::new(list),
            None => daemon::build_chain(&config, &rules).expect("the chain builds"),
        };
        let shadow = config.shadow.as_ref().map(|s| {
            let set = RuleSet::load_dir(&s.rules).expect("test shadow rules load");
            Arc::new(ArcSwap::from_pointee(set))
        });
        let stats = Arc::new(Stats::default());
        let shutdown = CancellationToken::new();
        let mut harness = Harness {
            dialect: sim_config.dialect,
            control: sim.control(),
            _sim: sim,
            config,
            stats,
            rules,
            shadow,
            shutdown,
            daemon: None,
            runtime: None,
        };
        harness.spawn_daemon(chain);
        harness
    }

    fn spawn_daemon(&mut self, chain: Chain) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("daemon runtime");
        self.shutdown = CancellationToken::new();
        let shadow = self
            .shadow
            .as_ref()
            .map(|set| Arc::new(gws_botd::chat::shadow::Shadow::new(set.clone(), None)));
        self.daemon = Some(runtime.spawn(daemon::run(
            self.config.clone(),
            chain,
            Tuning { shadow, ..tuning() },
            self.stats.clone(),
            self.shutdown.clone(),
        )));
        self.runtime = Some(runtime);
    }

    /// Create a chat with a customer `name` and a script.
    pub fn chat(&self, name: &str, script: Vec<Step>) -> String {
        self.control.create_chat(ChatSpec {
            customer: name.into(),
            user_data: serde_json::Map::new(),
            first_message: None,
            script,
        })
    }

    /// Wait until `pred` holds for the chat; panic with `what` otherwise.
    pub async fn wait_chat(
        &self,
        id: &str,
        what: &str,
        pred: impl Fn(&ChatSnapshot) -> bool,
    ) -> ChatSnapshot {
        wait_sim(&self.control, what, |c| c.chat(id).filter(|c| pred(c))).await
    }

    /// Wait until the chat has an outcome.
    pub async fn wait_outcome(&self, id: &str) -> ChatSnapshot {
        self.wait_chat(id, "chat outcome", |c| c.outcome.is_some())
            .await
    }

    /// Wait until the simulator has served a request matching `pred`.
    pub async fn wait_for_request(
        &self,
        what: &str,
        pred: impl Fn(&RecordedRequest) -> bool,
    ) -> RecordedRequest {
        wait_sim(&self.control, what, |c| {
            c.requests().into_iter().find(|r| pred(r))
        })
        .await
    }

    /// The first request for `operation` (its wire name); panics if there is none.
    pub fn request(&self, operation: &str) -> RecordedRequest {
        self.control
            .requests()
            .into_iter()
            .find(|r| r.operation.as_deref() == Some(operation))
            .unwrap_or_else(|| panic!("no {operation} request"))
    }

    /// Bot texts in a chat's transcript, in order.
    pub fn bot_texts(&self, id: &str) -> Vec<String> {
        texts_from(&self.control.chat(id).expect("chat exists"), "Agent")
            .into_iter()
            .filter(|(nick, _)| nick == &self.config.bot.nickname)
            .map(|(_, t)| t)
            .collect()
    }

    /// Operations the daemon sent for one chat, in order (either dialect).
    pub fn operations(&self, id: &str) -> Vec<String> {
        let paths = [format!("/interactions/{id}"), format!("/chats/{id}")];
        self.control
            .requests()
            .into_iter()
            .filter(|r| paths.iter().any(|p| r.path.ends_with(p)))
            .filter_map(|r| r.operation)
            .collect()
    }

    /// The wire name, in this harness's dialect, of the operation the seed calls `seed`.
    pub fn wire<'a>(&self, seed: &'a str) -> &'a str {
        match self.dialect {
            SimDialect::Interactions => seed,
            SimDialect::Chats => chats_name(seed),
        }
    }

    /// The history requests the daemon made (`RequestChatHistory` POSTs or transcript GETs),
    /// with the cursor they asked from (`eventId` or `startIndex`).
    pub fn history_requests(&self) -> Vec<RecordedRequest> {
        self.control
            .requests()
            .into_iter()
            .filter(|r| {
                r.operation.as_deref() == Some("RequestChatHistory")
                    || (r.method == "GET" && r.path.contains("/messages"))
            })
            .collect()
    }

    /// Stop the daemon (as SIGTERM would) and return its result.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let daemon = self.daemon.take().expect("daemon running");
        tokio::time::timeout(WAIT, daemon)
            .await
            .expect("daemon stops in time")
            .expect("daemon task does not panic")
    }

    /// Stop the daemon abruptly, as `kill -9` would: no NotReady, no disconnect, no
    /// EndContactCenterSession; its in-flight requests are cut off.
    pub async fn kill(&mut self) {
        self.daemon.take().expect("daemon running");
        if let Some(runtime) = self.runtime.take() {
            // Returns once every task of the daemon has been dropped, and with them its
            // sockets: the simulator sees the connections cut before the next step.
            tokio::task::spawn_blocking(move || runtime.shutdown_timeout(WAIT))
                .await
                .expect("the daemon's runtime shuts down");
        }
    }

    /// Start a new daemon with the same configuration (and state directory).
    pub fn restart(&mut self) {
        assert!(self.daemon.is_none(), "kill or stop the daemon first");
        let rule_set = RuleSet::load_dir(&self.config.bot.rules).expect("test rules load");
        let rules = Arc::new(ArcSwap::from_pointee(rule_set));
        self.spawn_daemon(daemon::build_chain(&self.config, &rules).expect("the chain builds"));
    }

    /// How many requests for `operation` the simulator has served.
    pub fn count(&self, operation: &str) -> usize {
        self.control
            .requests()
            .iter()
            .filter(|r| r.operation.as_deref() == Some(operation))
            .count()
    }

    /// Whether the daemon task is still running.
    pub fn daemon_running(&self) -> bool {
        self.daemon.as_ref().is_some_and(|d| !d.is_finished())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        let _ = std::fs::remove_dir_all(&self.config.bot.rules);
        let _ = std::fs::remove_dir_all(&self.config.bot.state_dir);
    }
}

/// (nickname, text) of Text entries from `from_type` participants visible to all.
pub fn texts_from(chat: &ChatSnapshot, from_type: &str) -> Vec<(String, String)> {
    chat.transcript
        .iter()
        .filter(|e| e.kind == "Text" && e.from_type == from_type && e.visibility == "All")
        .map(|e| (e.nickname.clone(), e.text.clone().unwrap_or_default()))
        .collect()
}

/// Wait until `probe`, run against the simulator's records now and after each change there
/// ([`Control::wait_for`]), returns Some; panic with `what` after `WAIT`.
pub async fn wait_sim<T>(
    control: &Control,
    what: &str,
    probe: impl FnMut(&Control) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, control.wait_for(probe))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Poll `probe` every 20 ms until it returns Some, for at most `WAIT`.
///
/// The one polling wait, for state that announces no change: lines read from a child's stderr
/// by a thread, and what older tests still check this way. The daemon's counters and flags
/// announce their changes ([`Stats::wait_for`]), files it writes are awaited with [`wait_dir`],
/// whatever the simulator records with [`wait_sim`], rule reloads with
/// [`Reloader::watch_state`], log lines of the in-process daemon with [`LogCapture`], sd_notify
/// messages on their channel.
///
/// [`Reloader::watch_state`]: gws_botd::responder::rules::watch::Reloader::watch_state
pub async fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until `probe` returns Some, looking again at each change of a file under `dir` (a
/// file-system event, no polling): for what the daemon writes to disk, such as the decision
/// log. Panic with `what` after `WAIT`.
pub async fn wait_dir<T>(dir: &Path, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let (tx, mut changed) = tokio::sync::mpsc::unbounded_channel();
    // Any event, or trouble of the watcher, is a cue to look again.
    let mut watcher = notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
        let _ = tx.send(());
    })
    .expect("a file-system watcher");
    notify::Watcher::watch(&mut watcher, dir, notify::RecursiveMode::Recursive)
        .unwrap_or_else(|e| panic!("cannot watch {}: {e}", dir.display()));
    let found = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(v) = probe() {
                return v;
            }
            // The watcher lives until this function returns: the channel cannot close.
            changed.recv().await;
            while changed.try_recv().is_ok() {}
        }
    });
    found
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A `Say` step.
pub fn say(after_ms: u64, text: &str) -> Step {
    Step::Say {
        after: Duration::from_millis(after_ms),
        text: text.into(),
    }
}

/// Log lines written on this thread while the capture lives, as they are written.
/// `#[tokio::test]` runs the test and every task it spawns with `tokio::spawn` on one thread,
/// so a daemon spawned that way logs here (a [`Harness`] daemon has a runtime of its own and
/// does not).
pub struct LogCapture {
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl LogCapture {
    /// Capture what `filter` (an `EnvFilter` directive such as `gws_botd=warn`) lets through.
    pub fn start(filter: &str) -> LogCapture {
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .without_time()
            .with_writer(move || LineWriter(tx.clone()))
            .finish();
        LogCapture {
            lines,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// The next line containing `needle` (others are skipped); panic after `WAIT`.
    pub async fn next_with(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(WAIT, async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        });
        match found.await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the log capture closed while waiting for {needle:?}"),
            Err(_) => panic!("no log line with {needle:?} within {WAIT:?}"),
        }
    }
}

/// Hands each formatted event (one `write` per event) to a [`LogCapture`].
struct LineWriter(tokio::sync::mpsc::UnboundedSender<String>);

impl std::io::Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `gws-botd` binary with no configuration reachable: the commands must work from their
/// flags alone.
pub fn bin_without_config() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gws-botd"));
    cmd.env("GWS_BOTD_CONFIG", "/nonexistent/gws-botd.toml");
    cmd
}

/// The `gws-botd` binary, free of what the environment may say about configuration, state
/// and credentials (the test passes `--config`), logging at WARN.
pub fn bin_isolated() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gws-botd"));
    for var in [
        "GWS_BOTD_CONFIG",
        "GWS_BOTD__BOT__STATE_DIR",
        "CREDENTIALS_DIRECTORY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// A free port on 127.0.0.1 (for a daemon's operator endpoint).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `/metrics` at `addr` until a line satisfies `pred`, for at most `WAIT`: a child
/// process announces no change.
pub async fn metric(addr: &str, what: &str, pred: impl Fn(&str) -> bool) {
    let url = format!("http://{addr}/metrics");
    let poll = async {
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && let Ok(body) = r.text().await
                && body.lines().any(&pred)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, poll)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// `gws-botd run --config config` as a child process (killed when dropped), once its
/// operator endpoint at `addr` reports it Ready.
pub async fn spawn_daemon(config: &Path, addr: &str) -> tokio::process::Child {
    let daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_gws-botd"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    metric(addr, "the daemon to be ready", |l| l == "gws_botd_ready 1").await;
    daemon
}
