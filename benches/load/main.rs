//! Load benchmark: the release `gws-botd run` binary against `gws-botd sim`, each its own
//! process, so the simulator's CPU is not counted as the daemon's. All traffic is on
//! 127.0.0.1; the driver talks to the simulator through its `/sim` control API only.
//!
//! Closed loop at 1, 16, 64 and 256 concurrent customers: each customer is greeted, asks,
//! waits for the reply, asks again and waits again (3 bot messages per chat), then leaves;
//! a new customer takes each free place until the level's chats are done. Per level:
//! replies/s, reply and accept p50/p99 (customer message delivered → SendMessage arrives,
//! invitation delivered → Accept arrives, on the simulator's clock), daemon CPU µs per reply,
//! user and system apart (`/proc/PID/stat`), write syscalls per reply (`/proc/PID/io`
//! `syscw`; below it the writer threads' share, the file writes), HTTP requests and CometD
//! polls per reply (the simulator's request log: each request is at least one socket write)
//! and the simulator's CPU in cores. Before each level, the kernel floor (`floor.rs`): the
//! system CPU of one keep-alive HTTP request on loopback, and what a reply's requests cost at
//! it (it varies with what else the machine does, so it is measured next to each level).
//! Cold start: start to Ready with COLD_RECORDS (default 10,000) saved records,
//! twice (the first imports JSON records). Idle chats: IDLE_CHATS (default 10,000) greeted
//! chats left open, RSS per chat, then all closed; three rounds, RSS after each.
//!
//! `--baseline PATH` (or env `BASELINE=PATH`) runs a second gws-botd binary in the same run,
//! alternating with ours level by level (who goes first alternates too), and prints ours /
//! baseline per metric: machines are noisy, ratios less so. Build the baseline from a commit
//! in a directory of its own, e.g. `git worktree add /tmp/gws-baseline <commit> && cd
//! /tmp/gws-baseline && cargo build --release`, then
//! `cargo bench --bench load -- --baseline /tmp/gws-baseline/target/release/gws-botd`.
//! The simulator is always ours. Env: LEVELS (e.g. `1,16`), CHATS_PER_LEVEL (default 8 per
//! customer, 200 to 1,500), IDLE_CHATS (0 skips), IDLE_ROUNDS (default 3, at most 10),
//! LOAD_LOG (the daemon's RUST_LOG), FLOOR (0 skips the kernel floor probe, `floor.rs`).
//!
//! Bounded: every level gives up after 60 s, every wait after 120 s, every HTTP request after
//! 10 s; at most 1,500 chats per level and 10,000 idle chats.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::time::Instant;

mod floor;
mod procfs;

use procfs::{cpu, rss_kib, write_syscalls, writer_thread_writes};

const RULES: &str = r#"
[[rule]]
name = "greeting"
on = "accept"
reply = "Hi {customer}, how can I help?"

[[rule]]
name = "hours"
on = "message"
match.keywords = ["when are you open"]
reply = "We're open 8 to 18."

[[rule]]
name = "rephrase"
on = "no_match"
reply = "Sorry?"
"#;

const LEVEL_TIMEOUT: Duration = Duration::from_secs(60);
const WAIT_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_IDLE_CHATS: usize = 10_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A simulator and a daemon, each its own process, with a fresh state directory.
struct Run {
    sim: Child,
    sim_pid: u32,
    daemon: Child,
    pid: u32,
    base: String,
    metrics: String,
    dir: PathBuf,
    config: PathBuf,
    http: reqwest::Client,
}

impl Run {
    async fn start(bot: &Path, max_chats: usize) -> Run {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .unwrap();
        let port = free_port();
        let sim = Command::new(env!("CARGO_BIN_EXE_gws-botd"))
            .args(["sim", "--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("start gws-botd sim");
        let sim_pid = sim.id();
        let base = format!("http://127.0.0.1:{port}");
        let probe = format!("{base}/sim/violations");
        wait_until("the simulator", || {
            let http = http.clone();
            let probe = probe.clone();
            async move { http.get(&probe).send().await.is_ok() }
        })
        .await;

        let dir = std::env::temp_dir().join(format!("gws-botd-load-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        std::fs::write(dir.join("rules/rules.toml"), RULES).unwrap();
        let metrics_port = free_port();
        let config = dir.join("gws-botd.toml");
        std::fs::write(
            &config,
            format!(
                "[gws]\napi_url = \"{base}/api/v2\"\nusername = \"bot01\"\npassword = \"bot-secret\"\n\
                 [bot]\nnickname = \"Ava\"\nrules = \"{}\"\nmax_chats = {}\nshutdown_grace = \"1s\"\n\
                 state_dir = \"{}\"\nmax_requests_per_second = 0\n\
                 [http]\nlisten = \"127.0.0.1:{metrics_port}\"\n",
                dir.join("rules").display(),
                max_chats + 10,
                dir.join("state").display()
            ),
        )
        .unwrap();
        let daemon = spawn_daemon(bot, &config);
        let pid = daemon.id();
        let run = Run {
            sim,
            sim_pid,
            daemon,
            pid,
            base,
            metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
            dir,
            config,
            http,
        };
        wait_until("Ready", || async {
            run.list("requests")
                .await
                .iter()
                .any(|r| r["operation"] == "Ready")
        })
        .await;
        run
    }

    async fn get(&self, path: &str) -> Value {
        match self.http.get(format!("{}{path}", self.base)).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// A list of the simulator's (`/sim/requests`, `/sim/chats`).
    async fn list(&self, what: &str) -> Vec<Value> {
        let list = self.get(&format!("/sim/{what}")).await;
        list.as_array().cloned().unwrap_or_default()
    }

    async fn create_chat(&self, customer: String, script: Value) -> Option<String> {
        let spec = json!({ "customer": customer, "user_data": {}, "first_message": null, "script": script });
        let r = self
            .http
            .post(format!("{}/sim/chats", self.base))
            .json(&spec)
            .send()
            .await
            .ok()?;
        let body: Value = r.json().await.ok()?;
        body["id"].as_str().map(str::to_owned)
    }

    async fn chats_open(&self) -> Option<u64> {
        let text = self
            .http
            .get(&self.metrics)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("gws_botd_chats_open "))
            .and_then(|n| n.trim().parse::<f64>().ok())
            .map(|n| n as u64)
    }

    /// Stop the daemon and start `bot` again on the same configuration and state; returns the
    /// time from the start to its Ready reaching the simulator.
    async fn restart(&mut self, bot: &Path) -> Duration {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.daemon.try_wait(), Ok(None)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let readies = |requests: &[Value]| {
            requests
                .iter()
                .filter(|r| r["operation"] == "Ready")
                .count()
        };
        let before = readies(&self.list("requests").await);
        let started = Instant::now();
        self.daemon = spawn_daemon(bot, &self.config);
        self.pid = self.daemon.id();
        let deadline = started + WAIT_TIMEOUT;
        while readies(&self.list("requests").await) == before {
            assert!(Instant::now() < deadline, "timed out waiting for Ready");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        started.elapsed()
    }

    async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.daemon.try_wait(), Ok(None)) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = self.sim.kill();
        let _ = self.sim.wait();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn spawn_daemon(bot: &Path, config: &Path) -> Child {
    Command::new(bot)
        .args(["run", "--config"])
        .arg(config)
        .env(
            "RUST_LOG",
            std::env::var("LOAD_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bot.display()))
}

/// Start to Ready with `records` saved chat records: written as the JSON files of earlier
/// versions (`state/chats/*.json`), which a daemon keeping a database imports at its first
/// start. Returns that first start and the next one (the cold start of a running system).
async fn cold_start(bot: &Path, records: usize) -> (Duration, Duration) {
    let mut run = Run::start(bot, 10).await;
    let chats = run.dir.join("state").join("chats");
    std::fs::create_dir_all(&chats).unwrap();
    for n in 0..records {
        let record = json!({ "greeted": true, "cursor": format!("e-{n}"), "turn": 2,
            "fired": ["greeting"] });
        std::fs::write(chats.join(format!("chat-{n:05}.json")), record.to_string()).unwrap();
    }
    let first = run.restart(bot).await;
    let second = run.restart(bot).await;
    run.stop().await;
    (first, second)
}

async fn wait_until<F: Future<Output = bool>>(what: &str, mut probe: impl FnMut() -> F) {
    let deadline = Instant::now() + WAIT_TIMEOUT;
    while !probe().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ms(v: &Value) -> Duration {
    Duration::from_millis(v.as_u64().unwrap_or(0))
}

/// The metrics of one closed-loop level.
#[derive(Default, Clone)]
struct Level {
    replies: usize,
    replies_per_s: f64,
    reply_p50: Duration,
    reply_p99: Duration,
    accept_p50: Duration,
    accept_p99: Duration,
    cpu_us_per_reply: f64,
    user_us_per_reply: f64,
    system_us_per_reply: f64,
    writes_per_reply: f64,
    file_writes_per_reply: f64,
    http_per_reply: f64,
    polls_per_reply: f64,
    sim_cores: f64,
    complete: bool,
}

fn customer_script() -> Value {
    let ask = json!({ "say": { "after": 0, "text": "when are you open" } });
    json!(["await_reply", ask, "await_reply", ask, "await_reply", { "leave": { "after": 0 } }])
}

fn done(chat: &Value) -> bool {
    chat["state"] == "Ended"
}

async fn closed_loop(bot: &Path, customers: usize, total: usize) -> Level {
    let run = Run::start(bot, customers).await;
    let (cpu0, sim0, w0, f0) = (
        cpu(run.pid),
        cpu(run.sim_pid),
        write_syscalls(run.pid),
        writer_thread_writes(run.pid),
    );
    let requests0 = run.list("requests").await.len();
    let start = Instant::now();
    let mut created = 0;
    let mut complete = false;
    while start.elapsed() < LEVEL_TIMEOUT {
        let chats = run.list("chats").await;
        let finished = chats.iter().filter(|c| done(c)).count();
        if finished >= total {
            complete = true;
            break;
        }
        while created < total && created - finished.min(created) < customers {
            if run
                .create_chat(format!("Customer{created}"), customer_script())
                .await
                .is_some()
            {
                created += 1;
            } else {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(if customers == 1 { 5 } else { 100 })).await;
    }
    if !complete {
        // Say where the unfinished chats stopped, with the last transcript entry.
        for chat in run.list("chats").await.iter().filter(|c| !done(c)).take(3) {
            let last = chat["transcript"]
                .as_array()
                .and_then(|t| t.last())
                .cloned();
            eprintln!(
                "unfinished chat {} in state {}: last entry {}",
                chat["id"],
                chat["state"],
                last.unwrap_or(Value::Null)
            );
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let (cpu, sim, writes, file_writes) = (
        cpu(run.pid) - cpu0,
        cpu(run.sim_pid) - sim0,
        write_syscalls(run.pid) - w0,
        writer_thread_writes(run.pid) - f0,
    );

    // Pair each delivery with the request that answered it, per chat, on the simulator's clock.
    let deliveries = run.get("/sim/deliveries").await;
    let requests = run.list("requests").await;
    let mut offered: HashMap<String, Duration> = HashMap::new();
    let mut said: HashMap<String, Vec<Duration>> = HashMap::new();
    for d in deliveries.as_array().into_iter().flatten() {
        let data = &d["data"];
        let id = data["interaction"]["id"].as_str().unwrap_or("").to_owned();
        match data["notificationType"].as_str().unwrap_or("") {
            "NewInteraction" => {
                offered.entry(id).or_insert(ms(&d["at"]));
            }
            "NewMessages" => {
                let from_customer = data["messages"].as_array().is_some_and(|m| {
                    m.iter()
                        .any(|m| m["type"] == "Text" && m["from"]["type"] == "Customer")
                });
                if from_customer {
                    said.entry(id).or_default().push(ms(&d["at"]));
                }
            }
            _ => {}
        }
    }
    let (mut accept, mut reply) = (Vec::new(), Vec::new());
    let mut replies = 0;
    // Every HTTP request the daemon made during the level, and its CometD polls among them.
    let level = requests.get(requests0..).unwrap_or_default();
    let is_poll = |r: &&Value| {
        r["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("notifications"))
    };
    let (http, polls) = (level.len(), level.iter().filter(is_poll).count());
    for r in &requests {
        let id = r["path"]
            .as_str()
            .and_then(|p| p.rsplit('/').next())
            .unwrap_or("");
        let at = ms(&r["at"]);
        match r["operation"].as_str() {
            Some("Accept") => {
                if let Some(o) = offered.remove(id) {
                    accept.push(at.saturating_sub(o));
                }
            }
            Some("SendMessage") => {
                replies += 1;
                if let Some(pending) = said.get_mut(id)
                    && let Some(pos) = pending.iter().position(|s| *s <= at)
                {
                    reply.push(at - pending.remove(pos));
                }
            }
            _ => {}
        }
    }
    accept.sort();
    reply.sort();
    run.stop().await;
    let per = |x: f64| {
        if replies == 0 {
            0.0
        } else {
            x / replies as f64
        }
    };
    Level {
        replies,
        replies_per_s: replies as f64 / wall,
        reply_p50: percentile(&reply, 0.5),
        reply_p99: percentile(&reply, 0.99),
        accept_p50: percentile(&accept, 0.5),
        accept_p99: percentile(&accept, 0.99),
        cpu_us_per_reply: per(cpu.total() * 1e6),
        user_us_per_reply: per(cpu.user * 1e6),
        system_us_per_reply: per(cpu.system * 1e6),
        writes_per_reply: per(writes as f64),
        file_writes_per_reply: per(file_writes as f64),
        http_per_reply: per(http as f64),
        polls_per_reply: per(polls as f64),
        sim_cores: sim.total() / wall,
        complete,
    }
}

/// RSS (KiB) idle, then after each round's open and close.
async fn idle_rounds(bot: &Path, chats: usize, times: usize) -> (u64, Vec<(u64, u64)>) {
    let run = Run::start(bot, chats).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_kib(run.pid);
    let mut rounds = Vec::new();
    // IDLE_ROUNDS: more rounds show where RSS settles (6 rounds: +10, +8, +3, +0.6, +0.3 MiB).
    for round in 0..times {
        let mut ids = Vec::with_capacity(chats);
        for batch in 0..chats.div_ceil(250) {
            let made: Vec<Option<String>> =
                futures::stream::iter(batch * 250..((batch + 1) * 250).min(chats))
                    .map(|i| run.create_chat(format!("Idle{round}-{i}"), json!(["await_reply"])))
                    .buffer_unordered(32)
                    .collect()
                    .await;
            ids.extend(made.into_iter().flatten());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let want = ids.len() as u64;
        wait_until("every idle chat open", || async {
            run.chats_open().await.is_some_and(|n| n >= want)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let open = rss_kib(run.pid);
        futures::stream::iter(&ids)
            .map(|id| {
                run.http
                    .post(format!("{}/sim/chats/{id}/leave", run.base))
                    .send()
            })
            .buffer_unordered(32)
            .for_each(|_| async {})
            .await;
        wait_until("every idle chat closed", || async {
            run.chats_open().await == Some(0)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        rounds.push((open, rss_kib(run.pid)));
    }
    run.stop().await;
    (idle, rounds)
}

/// Whole milliseconds (the simulator's clock has no finer resolution).
fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ratio(ours: f64, base: f64) -> String {
    if base == 0.0 {
        "-".into()
    } else {
        format!("{:.2}", ours / base)
    }
}

fn print_level(customers: usize, ours: &Level, base: Option<&Level>) {
    type Metric = fn(&Level) -> f64;
    let rows: [(&str, Metric, usize); 13] = [
        ("replies/s", |l| l.replies_per_s, 0),
        ("reply p50 ms", |l| millis(l.reply_p50), 0),
        ("reply p99 ms", |l| millis(l.reply_p99), 0),
        ("accept p50 ms", |l| millis(l.accept_p50), 0),
        ("accept p99 ms", |l| millis(l.accept_p99), 0),
        ("daemon CPU µs/reply", |l| l.cpu_us_per_reply, 0),
        ("  user", |l| l.user_us_per_reply, 0),
        ("  system", |l| l.system_us_per_reply, 0),
        ("write syscalls/reply", |l| l.writes_per_reply, 2),
        ("  by writer threads", |l| l.file_writes_per_reply, 2),
        ("HTTP requests/reply", |l| l.http_per_reply, 2),
        ("  CometD polls", |l| l.polls_per_reply, 2),
        ("sim CPU (cores)", |l| l.sim_cores, 2),
    ];
    let note = |l: &Level| if l.complete { "" } else { " (timed out)" };
    println!(
        "\n{customers} concurrent customers: ours {} replies{}{}",
        ours.replies,
        note(ours),
        base.map_or(String::new(), |b| format!(
            ", baseline {} replies{}",
            b.replies,
            note(b)
        ))
    );
    for (name, get, digits) in &rows {
        let o = get(ours);
        match base {
            Some(b) => println!(
                "  {name:<22} {o:>10.digits$} {:>10.digits$}  ratio {}",
                get(b),
                ratio(o, get(b))
            ),
            None => println!("  {name:<22} {o:>10.digits$}"),
        }
    }
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let baseline = args
        .iter()
        .position(|a| a == "--baseline")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var("BASELINE").ok())
        .map(PathBuf::from);
    if let Some(b) = &baseline {
        assert!(b.is_file(), "no baseline binary at {}", b.display());
    }
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_gws-botd"));
    let levels: Vec<usize> = std::env::var("LEVELS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 16, 64, 256]);
    println!(
        "gws-botd load benchmark: daemon {} {}",
        ours.display(),
        baseline
            .as_ref()
            .map_or(String::new(), |b| format!("vs baseline {}", b.display()))
    );
    let probe_floor = env_usize("FLOOR") != Some(0);
    println!("columns: ours, baseline, ratio ours/baseline (lower is better except replies/s)");
    for (i, &customers) in levels.iter().enumerate() {
        let total = env_usize("CHATS_PER_LEVEL").unwrap_or((customers * 8).clamp(200, 1_500));
        let total = total.min(1_500);
        // The floor depends on what else the machine is doing: measured next to each level.
        let floor = match probe_floor {
            true => floor::run(&ours).await,
            false => None,
        };
        let (o, b) = match &baseline {
            Some(base) if i % 2 == 1 => {
                let b = closed_loop(base, customers, total).await;
                (closed_loop(&ours, customers, total).await, Some(b))
            }
            Some(base) => {
                let o = closed_loop(&ours, customers, total).await;
                (o, Some(closed_loop(base, customers, total).await))
            }
            None => (closed_loop(&ours, customers, total).await, None),
        };
        print_level(customers, &o, b.as_ref());
        if let Some(f) = &floor {
            floor::print(f);
            let base = b.as_ref().map_or(0.0, |b| b.cpu_us_per_reply);
            floor::print_level(f, o.http_per_reply, o.system_us_per_reply, base);
        }
    }

    let records = env_usize("COLD_RECORDS").unwrap_or(10_000).min(100_000);
    if records > 0 {
        println!(
            "\ncold start to Ready with {records} saved chat records (first start, next start):"
        );
        let mut seconds = Vec::new();
        for (name, bin) in
            std::iter::once(("ours", &ours)).chain(baseline.iter().map(|b| ("baseline", b)))
        {
            let (first, second) = cold_start(bin, records).await;
            println!("  {name:<9} {first:.0?}, {second:.0?}");
            seconds.push(second.as_secs_f64());
        }
        if let [o, b] = seconds[..] {
            println!("  cold start ratio ours/baseline {}", ratio(o, b));
        }
    }

    let idle = env_usize("IDLE_CHATS")
        .unwrap_or(MAX_IDLE_CHATS)
        .min(MAX_IDLE_CHATS);
    if idle == 0 {
        return;
    }
    let times = env_usize("IDLE_ROUNDS").unwrap_or(3).clamp(1, 10);
    println!("\n{idle} idle chats, opened and closed {times} times (RSS in MiB):");
    let mut bins = vec![("ours", ours.clone())];
    if let Some(b) = &baseline {
        bins.push(("baseline", b.clone()));
    }
    let mut per_chat = Vec::new();
    for (name, bin) in &bins {
        let (base_rss, rounds) = idle_rounds(bin, idle, times).await;
        let kib_per_chat = (rounds[0].0 as f64 - base_rss as f64) / idle as f64;
        per_chat.push(kib_per_chat);
        let rounds: Vec<String> = rounds
            .iter()
            .map(|(open, closed)| {
                format!(
                    "{:.1} open / {:.1} closed",
                    *open as f64 / 1024.0,
                    *closed as f64 / 1024.0
                )
            })
            .collect();
        println!(
            "  {name:<9} idle {:.1}; {}; {:.1} KiB per open chat",
            base_rss as f64 / 1024.0,
            rounds.join(", "),
            kib_per_chat
        );
    }
    if let [o, b] = per_chat[..] {
        println!("  RSS per open chat ratio ours/baseline {}", ratio(o, b));
    }
}
