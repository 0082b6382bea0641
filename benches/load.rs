//! Load benchmark: the real `gws-botd run` binary against the in-process simulator.
//!
//! Opens CHATS chats (default 1000) at a steady pace, each customer greeted and then asking one
//! question, and reports
//! - invitation → Accept: from the moment the simulator hands the NewInteraction notification
//!   to the bot's CometD connect to the moment the Accept request arrives;
//! - customer message → reply: from the delivery of the customer's text to the arrival of the
//!   bot's SendMessage answering it;
//! - the daemon's resident memory with all chats open.
//!
//! Run with `cargo bench --bench load` (env CHATS to change the count). Bounded: at most
//! 10,000 chats, and every wait gives up after two minutes.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use gws_botd::sim::{ChatSpec, Sim, SimConfig, Step};

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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn wait_until(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !probe() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<28} n={:<5} median={:>8.2?} p99={:>8.2?} max={:>8.2?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default()
    );
}

#[tokio::main]
async fn main() {
    let chats: usize = std::env::var("CHATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000)
        .min(10_000);
    let sim_config = SimConfig {
        queue_limit: 100_000,
        ..SimConfig::default()
    };
    let sim = Sim::start(sim_config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();

    let dir = std::env::temp_dir().join(format!("gws-botd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rules.toml"), RULES).unwrap();
    let config = dir.with_extension("toml");
    std::fs::write(
        &config,
        format!(
            "[gws]\napi_url = \"{}\"\nusername = \"bot01\"\npassword = \"bot-secret\"\n\
             [bot]\nnickname = \"Ava\"\nrules = \"{}\"\nmax_chats = {}\nshutdown_grace = \"1s\"\n\
             state_dir = \"{}\"\nmax_requests_per_second = 0\n",
            sim.api_url(),
            dir.display(),
            chats + 10,
            dir.join("state").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gws-botd"))
        .args(["run", "--config"])
        .arg(&config)
        .env(
            "RUST_LOG",
            std::env::var("LOAD_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start gws-botd");
    let pid = child.id();
    wait_until("Ready", || {
        control
            .requests()
            .iter()
            .any(|r| r.operation.as_deref() == Some("Ready"))
    })
    .await;
    let (idle_rss, _) = rss_kib(pid);

    // Open chats at a steady 200 per second.
    let mut ids = Vec::with_capacity(chats);
    for i in 0..chats {
        ids.push(control.create_chat(ChatSpec {
            customer: format!("Customer{i}"),
            user_data: serde_json::Map::new(),
            first_message: None,
            script: vec![
                Step::AwaitReply,
                Step::Say {
                    after: Duration::ZERO,
                    text: "when are you open".into(),
                },
            ],
        }));
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    wait_until("every chat answered", || {
        control
            .chats()
            .iter()
            .filter(|c| {
                c.transcript
                    .iter()
                    .filter(|e| e.kind == "Text" && e.from_type == "Agent")
                    .count()
                    >= 2
            })
            .count()
            >= chats
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss, hwm) = rss_kib(pid);

    // Pair deliveries with the requests that answered them.
    let mut offered = HashMap::new();
    let mut said: HashMap<String, Duration> = HashMap::new();
    for d in control.deliveries() {
        let data = &d.data;
        let kind = data["notificationType"].as_str().unwrap_or("");
        let id = data["interaction"]["id"].as_str().unwrap_or("").to_owned();
        if kind == "NewInteraction" {
            offered.entry(id.clone()).or_insert(d.at);
        }
        if kind == "NewMessages" {
            let from_customer = data["messages"].as_array().is_some_and(|m| {
                m.iter()
                    .any(|m| m["type"] == "Text" && m["from"]["type"] == "Customer")
            });
            if from_customer {
                said.entry(id).or_insert(d.at);
            }
        }
    }
    let mut accept = Vec::new();
    let mut reply = Vec::new();
    for r in control.requests() {
        let Some(id) = r.path.rsplit('/').next().map(str::to_owned) else {
            continue;
        };
        match r.operation.as_deref() {
            Some("Accept") => {
                if let Some(at) = offered.get(&id) {
                    accept.push(r.at.saturating_sub(*at));
                }
            }
            Some("SendMessage") => {
                if let Some(at) = said.get(&id)
                    && r.at >= *at
                {
                    reply.push(r.at - *at);
                    said.remove(&id);
                }
            }
            _ => {}
        }
    }
    println!("gws-botd load benchmark: {chats} chats, opened at 200/s, all left open");
    report("invitation -> Accept", accept);
    report("customer message -> reply", reply);
    println!(
        "daemon memory: idle {:.1} MiB; with {chats} open chats {:.1} MiB (peak {:.1} MiB)",
        idle_rss as f64 / 1024.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    sim.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_file(&config).ok();
}
