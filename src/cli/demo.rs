//! `gws-botd demo`: the embedded simulator and the real daemon in one process, with six
//! scripted customers that show what the bot does — a greeting, an FAQ answer, a refund handed to
//! a human who joins, an order question where a human joins next to the bot and hands the
//! customer back (a conference), a sale nobody answers (falls back to a skill transfer), and a
//! customer who leaves mid-chat. Live transcripts go to stdout; the demo checks each chat ended as expected.
//!
//! With shadow rules (`rules-next/`, shipped next to `rules/`, where one rule says something
//! else) the bot also evaluates those on every trigger, never sending them, and the demo ends
//! with `explain` of the FAQ chat: the live decisions with the shadow's beside them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, EscalationTexts};
use crate::responder::ResponderConfig;
use crate::responder::rules::RuleSet;
use crate::runtime::daemon::{self, Tuning};
use crate::sim::{
    ChatOutcome, ChatSpec, Control, Entry, Sim, SimConfig, SimDialect, SimEvent, Step,
};
use crate::telemetry::stats::Stats;

/// How long the scripted chats may take before the demo gives up.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);

/// The rules the demo's bot answers with, and the shadow rules (with their directory) it
/// tries beside them.
pub struct Sets {
    pub rules: RuleSet,
    pub shadow: Option<(std::path::PathBuf, RuleSet)>,
}

/// The shadow rules directory of the demo: `given`, else `rules-next` next to `rules_dir`
/// when it exists.
pub fn shadow_dir(rules_dir: &Path, given: Option<&Path>) -> Option<std::path::PathBuf> {
    if let Some(dir) = given {
        return Some(dir.to_owned());
    }
    let name = format!("{}-next", rules_dir.file_name()?.to_string_lossy());
    let next = rules_dir.with_file_name(name);
    next.is_dir().then_some(next)
}

/// One scripted customer and how their chat should end.
pub struct Scenario {
    pub title: &'static str,
    pub spec: ChatSpec,
    pub expected: ChatOutcome,
}

fn say(after_ms: u64, text: &str) -> Step {
    Step::Say {
        after: Duration::from_millis(after_ms),
        text: text.into(),
    }
}

/// A customer with a script and no first message.
fn spec(customer: &str, script: Vec<Step>) -> ChatSpec {
    ChatSpec {
        customer: customer.into(),
        user_data: serde_json::Map::new(),
        first_message: None,
        script,
    }
}

/// The six scenarios, matching the shipped `rules/` and the simulator's default agents.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            title: "greeting and goodbye",
            spec: spec("Pat", vec![Step::AwaitReply, say(800, "Thanks, bye!")]),
            expected: ChatOutcome::ClosedByBot,
        },
        Scenario {
            title: "an FAQ answer",
            spec: spec(
                "Jordan",
                vec![
                    Step::AwaitReply,
                    say(1200, "When are you open on Saturday?"),
                    Step::AwaitReply,
                    say(1500, "Great, thank you"),
                ],
            ),
            expected: ChatOutcome::ClosedByBot,
        },
        Scenario {
            title: "a refund handed to a human who joins",
            spec: ChatSpec {
                first_message: Some("Hello, anyone there?".into()),
                ..spec(
                    "Alex",
                    vec![
                        Step::AwaitReply,
                        say(1500, "I want my money back for order 1234"),
                    ],
                )
            },
            expected: ChatOutcome::TransferredToAgent("agent-101".into()),
        },
        Scenario {
            title: "an order question: conference, hand-back",
            spec: spec(
                "Casey",
                vec![
                    Step::AwaitReply,
                    say(1000, "Where is my order?"),
                    Step::AwaitAgentLeft,
                    say(800, "When are you open on Saturday?"),
                    Step::AwaitReply,
                    say(1200, "Great, thank you"),
                ],
            ),
            expected: ChatOutcome::Conference("agent-301".into()),
        },
        Scenario {
            title: "a sale nobody answers: skill transfer",
            spec: spec(
                "Sam",
                vec![
                    Step::AwaitReply,
                    say(1000, "I'd like to buy the premium plan"),
                ],
            ),
            expected: ChatOutcome::TransferredToSkill("Sales".into()),
        },
        Scenario {
            title: "a customer who leaves mid-chat",
            spec: spec(
                "Robin",
                vec![
                    Step::AwaitReply,
                    say(1000, "hmm"),
                    Step::AwaitReply,
                    Step::Leave {
                        after: Duration::from_millis(1500),
                    },
                ],
            ),
            expected: ChatOutcome::ClosedByBot,
        },
    ]
}

/// The time the demo's bot sees: a Tuesday morning in Berlin, within office hours.
pub const DEMO_TIME: &str = "2026-11-24T10:00:00+01:00";

/// A daemon configuration pointing at `sim`.
pub fn daemon_config(sim: &Sim, sim_config: &SimConfig, rules_dir: &Path) -> Config {
    let user = &sim_config.users[0];
    Config {
        gws: config::Gws {
            api_url: sim.api_url(),
            username: user.username.clone(),
            password: SecretString::from(user.password.clone()),
            place: Some("BotPlace01".into()),
            // The simulator's dialect, fixed: the demo shows one dialect at a time.
            dialect: crate::gws::Choice::Fixed(match sim_config.dialect {
                SimDialect::Interactions => crate::gws::Dialect::Interactions,
                SimDialect::Chats => crate::gws::Dialect::Chats,
            }),
            request_timeout: config::DEFAULT_REQUEST_TIMEOUT,
            operation_names: BTreeMap::new(),
            retry_attempts: 3,
            tls_ca_file: None,
            danger_accept_invalid_certs: false,
            allow_plain_http: false,
            max_response_size: config::DEFAULT_MAX_RESPONSE_SIZE,
        },
        bot: config::Bot {
            nickname: "Ava".into(),
            rules: rules_dir.to_owned(),
            watch_rules: true,
            max_chats: config::DEFAULT_MAX_CHATS,
            shutdown_grace: Duration::from_secs(5),
            fallback_skill: Some("Support".into()),
            // A fresh directory: no emergency override from a real installation leaks in.
            state_dir: std::env::temp_dir().join(format!(
                "gws-botd-state-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            )),
            max_message_chars: config::DEFAULT_MAX_MESSAGE_CHARS,
            max_requests_per_second: config::DEFAULT_MAX_REQUESTS_PER_SECOND,
        },
        escalation: EscalationTexts::default(),
        responders: vec![ResponderConfig::rules()],
        http: config::Http::default(),
        decision_log: config::DecisionLog::default(),
        shadow: None,
        warnings: Vec::new(),
    }
}

/// The simulator and the daemon of a demo, running.
struct Running {
    sim: Sim,
    control: Control,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
    daemon: tokio::task::JoinHandle<anyhow::Result<()>>,
    printer: tokio::task::JoinHandle<()>,
    state_dir: std::path::PathBuf,
}

/// Run the demo with the simulator and the daemon speaking `dialect`; true when every
/// scripted chat ended as expected.
pub async fn run(
    rules_dir: &Path,
    rules: Sets,
    forever: bool,
    dialect: SimDialect,
) -> anyhow::Result<bool> {
    let shadowed = rules.shadow.is_some();
    let running = start(rules_dir, rules, dialect).await?;
    let control = &running.control;
    let scenarios = scenarios();
    let mut ids = Vec::new();
    for s in &scenarios {
        ids.push(control.create_chat(s.spec.clone()));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let all_ended = wait_for_outcomes(control, &ids, DEFAULT_DEADLINE).await;
    let ok = summary(control, &running.stats, &scenarios, &ids) && all_ended;
    if forever {
        keep_coming(control, &scenarios).await;
    }
    Ok(stop(running, &ids, shadowed).await && ok)
}

/// Start the simulator, the transcript printer and the daemon.
async fn start(rules_dir: &Path, sets: Sets, dialect: SimDialect) -> anyhow::Result<Running> {
    let Sets { rules, shadow } = sets;
    let sim_config = SimConfig {
        dialect,
        ..SimConfig::default()
    };
    let sim = Sim::start(sim_config.clone(), "127.0.0.1:0".parse()?)
        .await
        .context("cannot start the simulator")?;
    let control = sim.control();
    println!(
        "GWS simulator listening at {} ({dialect} dialect)",
        sim.api_url()
    );
    println!("rules: {} from {}", rules.summary(), rules_dir.display());
    if let Some((dir, set)) = &shadow {
        println!(
            "shadow rules (tried, never sent): {} from {}",
            set.summary(),
            dir.display()
        );
    }
    println!();

    let printer = tokio::spawn(print_transcripts(control.clone()));
    let shutdown = CancellationToken::new();
    let stats = Arc::new(Stats::default());
    let mut config = daemon_config(&sim, &sim_config, rules_dir);
    // The customers are scripted: the decision log may keep what they and the bot said, so that
    // `explain` shows the texts the live and the shadow rules chose.
    config.decision_log.include_customer_text = true;
    let state_dir = config.bot.state_dir.clone();
    let chain = daemon::build_chain(&config, &Arc::new(ArcSwap::from_pointee(rules)))?;
    // The scripted customers expect office hours: the demo's bot lives on a weekday morning
    // whatever the time, so the after-hours rule stays quiet.
    let tuning = Tuning {
        clock: crate::schedule::Clock::Fixed(DEMO_TIME.parse()?),
        shadow: shadow.map(|(_, set)| {
            let set = Arc::new(ArcSwap::from_pointee(set));
            Arc::new(crate::chat::shadow::Shadow::new(set, None))
        }),
        ..Tuning::default()
    };
    println!("demo clock: {DEMO_TIME} (office hours for the shipped rules)");
    let daemon = tokio::spawn(daemon::run(
        config,
        chain,
        tuning,
        stats.clone(),
        shutdown.clone(),
    ));
    Ok(Running {
        sim,
        control,
        stats,
        shutdown,
        daemon,
        printer,
        state_dir,
    })
}

/// Print how each scripted chat ended and what the bot did; true when each ended as expected
/// and the simulator saw no protocol violation.
fn summary(control: &Control, stats: &Stats, scenarios: &[Scenario], ids: &[String]) -> bool {
    println!("\n== summary ==");
    let mut ok = true;
    for (s, id) in scenarios.iter().zip(ids) {
        let outcome = control.chat(id).and_then(|c| c.outcome);
        let good = outcome.as_ref() == Some(&s.expected);
        ok &= good;
        println!(
            "{} {:<40} {:<8} {}",
            if good { "ok  " } else { "FAIL" },
            s.title,
            s.spec.customer,
            describe(outcome.as_ref()),
        );
    }
    let snap = stats.snapshot();
    println!(
        "bot: {} chats accepted, {} customer messages, {} replies, {} escalations",
        snap.chats_accepted, snap.messages_in, snap.messages_out, snap.escalations
    );
    let violations = control.violations();
    if !violations.is_empty() {
        ok = false;
        println!("protocol violations seen by the simulator: {violations:?}");
    }
    ok
}

/// `--forever`: a new scripted customer every 4 s until Ctrl-C.
async fn keep_coming(control: &Control, scenarios: &[Scenario]) {
    println!("\n--forever: new customers keep arriving; Ctrl-C to stop");
    let mut n = 0usize;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(Duration::from_secs(4)) => {
                let s = &scenarios[n % scenarios.len()];
                control.create_chat(s.spec.clone());
                n += 1;
            }
        }
    }
}

/// Stop the daemon and the simulator and say where the decision log is; false when the daemon
/// failed.
async fn stop(running: Running, ids: &[String], shadowed: bool) -> bool {
    running.shutdown.cancel();
    let ok = match running.daemon.await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            println!("the bot stopped with an error: {e:#}");
            false
        }
        Err(e) => {
            println!("the bot crashed: {e}");
            false
        }
    };
    running.printer.abort();
    running.sim.shutdown().await;
    let state_dir = &running.state_dir;
    println!(
        "\ndecision log: {}",
        state_dir
            .join(crate::store::decision_log::FILE_NAME)
            .display()
    );
    if let Some(id) = ids.get(1).filter(|_| shadowed) {
        print_shadow_story(state_dir, id);
    }
    if let Some(id) = ids.get(2) {
        println!(
            "why did the bot do that? try:\n  gws-botd explain {id} --state-dir {}",
            state_dir.display()
        );
    }
    ok
}

/// `explain` of chat `id`: the live decisions with the shadow rules' beside them.
fn print_shadow_story(state_dir: &Path, id: &str) {
    match crate::cli::explain::story(state_dir, id) {
        Ok(story) => {
            println!(
                "\n== the FAQ chat with the shadow rules beside the live ones (gws-botd explain) =="
            );
            print!("{story}");
        }
        Err(why) => println!("\ncannot tell the FAQ chat's story: {why}"),
    }
}

/// Wait until every chat in `ids` has an outcome (looking again at each change the simulator
/// records); false at the deadline.
pub async fn wait_for_outcomes(control: &Control, ids: &[String], deadline: Duration) -> bool {
    let all_ended = control.wait_for(|c| {
        ids.iter()
            .all(|id| c.chat(id).is_some_and(|c| c.outcome.is_some()))
            .then_some(())
    });
    tokio::time::timeout(deadline, all_ended).await.is_ok()
}

fn describe(outcome: Option<&ChatOutcome>) -> String {
    match outcome {
        None => "still open".into(),
        Some(ChatOutcome::ClosedByBot) => "closed by the bot".into(),
        Some(ChatOutcome::TransferredToAgent(a)) => format!("handed to agent {a}"),
        Some(ChatOutcome::TransferredToSkill(s)) => format!("transferred to skill {s}"),
        Some(ChatOutcome::Conference(a)) => format!("closed after a conference with {a}"),
        Some(ChatOutcome::ClosedByOthers) => "closed by others".into(),
        Some(ChatOutcome::Rejected) => "rejected".into(),
        Some(ChatOutcome::Abandoned) => "abandoned by the customer before any bot took it".into(),
    }
}

async fn print_transcripts(control: Control) {
    let mut events = control.subscribe();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                println!("(… {n} transcript lines skipped)");
                continue;
            }
            Err(_) => return,
        };
        let chat = match &event {
            SimEvent::Entry { chat, .. }
            | SimEvent::State { chat, .. }
            | SimEvent::Ended { chat, .. } => chat.clone(),
        };
        let name = names
            .entry(chat.clone())
            .or_insert_with(|| {
                control
                    .chat(&chat)
                    .map(|c| c.customer)
                    .unwrap_or_else(|| chat.clone())
            })
            .clone();
        match event {
            SimEvent::Entry { entry, .. } => print_entry(&name, &entry),
            SimEvent::Ended { outcome, .. } => {
                println!("[{name:<6}] ── {}", describe(Some(&outcome)))
            }
            SimEvent::State { .. } => {}
        }
    }
}

fn print_entry(name: &str, entry: &Entry) {
    let who = match entry.from_type.as_str() {
        "Customer" => entry.nickname.clone(),
        _ => format!("{} ({})", entry.nickname, entry.from_type.to_lowercase()),
    };
    let hidden = if entry.visibility == "All" {
        ""
    } else {
        " [agents only]"
    };
    match entry.kind.as_str() {
        "Text" => println!(
            "[{name:<6}] {who}{hidden}: {}",
            entry.text.as_deref().unwrap_or("")
        ),
        "ParticipantJoined" => println!("[{name:<6}] * {who} joined{hidden}"),
        "ParticipantLeft" => println!("[{name:<6}] * {who} left"),
        _ => {}
    }
}
