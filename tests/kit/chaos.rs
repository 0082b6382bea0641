//! The chaos run: the real `gws-botd` binary against the in-process simulator, with scripted
//! customers, while the harness kills the daemon with SIGKILL at random moments and starts it
//! again, and injects faults into the simulator. At the end it checks, chat by chat, the
//! promise of the daemon: every chat ended answered, handed over, or closed with a message; no
//! customer got the same answer twice; no `once` rule fired twice.
//!
//! Used by the integration test (small) and `cargo bench --bench chaos` (1,000 chats, ≥ 10
//! kills). Bounded: every phase has a deadline, and the daemon is killed when the run ends.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::process::{Child, Command};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use gws_botd::sim::{
    ChatOutcome, ChatSnapshot, ChatSpec, Control, Fault, ParticipantForm, Sim, SimAgent, SimConfig,
    SimDialect, SimEvent, Step,
};

/// The rules the daemon runs with: one answer per message, a `once` rule, an escalation.
pub const RULES: &str = r#"
[team.billing]
agents = ["agent-101"]
skill = "Billing"
wait = "1s"

[[rule]]
name = "greeting"
on = "accept"
reply = "Hi {customer}, I'm {bot}. How can I help?"

[[rule]]
name = "tip"
on = "message"
once = true
match.keywords = ["help"]
reply = "Tip: ask me about our opening hours."

[[rule]]
name = "help-again"
on = "message"
match.keywords = ["help"]
reply = "As I said: ask me about our opening hours."

[[rule]]
name = "hours"
on = "message"
match.keywords = ["when are you open"]
reply = "We're open 8 to 18."

[[rule]]
name = "bye"
on = "message"
match.keywords = ["bye"]
reply = "Goodbye!"
then = "close"

[[rule]]
name = "refund"
on = "message"
match.keywords = ["refund"]
reply = "Let me get billing."
then = { escalate = "billing" }

[[rule]]
name = "rephrase"
on = "no_match"
reply = "Sorry, could you say that in other words?"
"#;

/// The text of the `once` rule.
const TIP: &str = "Tip: ask me about our opening hours.";
const BOT: &str = "Ava";

/// The size of a run.
#[derive(Debug, Clone)]
pub struct Params {
    pub chats: usize,
    /// SIGKILLs, spread over the time chats are being created and answered.
    pub kills: usize,
    /// Faults injected into the simulator, spread likewise.
    pub faults: usize,
    /// How long creating all chats takes.
    pub ramp: Duration,
    /// The whole run gives up after this long.
    pub deadline: Duration,
    pub seed: u64,
    /// Whether whole-simulator restarts are among the faults.
    pub sim_restarts: bool,
    /// The API dialect the simulator speaks (the daemon finds it out with `auto`).
    pub dialect: SimDialect,
    /// How the simulator describes participants (opaque ids in both forms).
    pub participants: ParticipantForm,
}

impl Params {
    /// The size the issue asks for: 1,000 chats, 12 kills, 40 faults.
    pub fn full() -> Params {
        Params {
            chats: 1000,
            kills: 12,
            faults: 40,
            ramp: Duration::from_secs(60),
            deadline: Duration::from_secs(280),
            seed: 4,
            sim_restarts: true,
            dialect: SimDialect::Interactions,
            participants: ParticipantForm::Minimal,
        }
    }
}

/// What a run did and found.
#[derive(Debug, Default)]
pub struct Report {
    pub chats: usize,
    pub kills: usize,
    pub faults: BTreeMap<&'static str, usize>,
    pub outcomes: BTreeMap<String, usize>,
    /// Chats without an acceptable end (still open, rejected, closed without a word).
    pub orphaned: Vec<String>,
    /// Chats where a customer got the same answer twice (or the greeting twice).
    pub duplicates: Vec<String>,
    /// Chats where a `once` rule acted twice.
    pub once_violations: Vec<String>,
    /// Protocol violations the simulator recorded.
    pub violations: Vec<String>,
    pub daemon_exit: Option<i32>,
    pub elapsed: Duration,
}

impl Report {
    /// Every invariant held.
    pub fn passed(&self) -> bool {
        self.orphaned.is_empty()
            && self.duplicates.is_empty()
            && self.once_violations.is_empty()
            && self.violations.is_empty()
            && self.daemon_exit == Some(0)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let faults: usize = self.faults.values().sum();
        writeln!(
            f,
            "chats {}, SIGKILLs {}, faults {} {:?}, in {:.1?}",
            self.chats, self.kills, faults, self.faults, self.elapsed
        )?;
        writeln!(f, "outcomes {:?}", self.outcomes)?;
        write!(
            f,
            "duplicates {}, once fired twice {}, orphaned {}, protocol violations {}, daemon exit {:?}",
            self.duplicates.len(),
            self.once_violations.len(),
            self.orphaned.len(),
            self.violations.len(),
            self.daemon_exit
        )?;
        for (what, list) in [
            ("orphaned", &self.orphaned),
            ("duplicates", &self.duplicates),
            ("once", &self.once_violations),
            ("violations", &self.violations),
        ] {
            for item in list.iter().take(5) {
                write!(f, "\n  {what}: {item}")?;
            }
        }
        Ok(())
    }
}

/// How many Ready requests the simulator has served.
fn readies(control: &Control) -> usize {
    control
        .requests()
        .iter()
        .filter(|r| r.operation.as_deref() == Some("Ready"))
        .count()
}

/// The daemon process and how to start it again.
struct Daemon {
    binary: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    fn start(&mut self) -> std::io::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.binary)
            .args(["run", "--config"])
            .arg(&self.config)
            .env(
                "RUST_LOG",
                std::env::var("CHAOS_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env_remove("GWS_BOTD_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` sends SIGKILL on Unix.
            let _ = child.kill().await;
        }
    }

    /// SIGTERM and wait for the exit code (SIGKILL after `wait`).
    async fn terminate(&mut self, wait: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let pid = child.id()?;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        match tokio::time::timeout(wait, child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => {
                let _ = child.kill().await;
                None
            }
        }
    }
}

/// A random customer: greeted, then one to four messages (each waiting for the answer), then
/// goodbye, a refund (hand-over) or leaving.
fn script(rng: &mut StdRng) -> Vec<Step> {
    let say = |text: &str, rng: &mut StdRng| Step::Say {
        after: Duration::from_millis(rng.random_range(0..300)),
        text: text.into(),
    };
    let mut steps = vec![Step::AwaitReply];
    for _ in 0..rng.random_range(1..=4) {
        let text = match rng.random_range(0..4) {
            0 => "when are you open",
            1 => "help",
            2 => "help me please",
            _ => "something unusual",
        };
        steps.push(say(text, rng));
        steps.push(Step::AwaitReply);
    }
    match rng.random_range(0..10) {
        0..=5 => steps.push(say("bye", rng)),
        6..=7 => steps.push(say("I want a refund", rng)),
        _ => steps.push(Step::Leave {
            after: Duration::from_millis(rng.random_range(0..300)),
        }),
    }
    steps
}

/// Inject one random fault; returns its name.
fn inject(control: &Control, rng: &mut StdRng, sim_restarts: bool) -> &'static str {
    let kinds = if sim_restarts { 12 } else { 11 };
    match rng.random_range(0..kinds) {
        0 => {
            control.drop_cometd_sessions();
            "drop_cometd"
        }
        1 => {
            control.fail_next(2, Fault::Http(503));
            "http_503"
        }
        2 => {
            control.fail_next(1, Fault::StatusCode(4, "internal error".into()));
            "status_4"
        }
        3 => {
            control.fail_next(1, Fault::StatusCode(9, "processing incomplete".into()));
            "status_9"
        }
        4 => {
            control.fail_operation(
                "SendMessage",
                1,
                Fault::StatusCode(20, "not authenticated".into()),
            );
            "status_20"
        }
        5 => {
            control.duplicate_next_deliveries(3);
            "duplicate"
        }
        6 => {
            control.reorder_next_deliveries(3);
            "reorder"
        }
        7 => {
            control.rotate_csrf();
            "rotate_csrf"
        }
        8 => {
            control.invalidate_http_sessions();
            "invalidate_session"
        }
        9 => {
            control.slow_reply("SendMessage", 1, Duration::from_millis(2500));
            "slow_reply"
        }
        10 => {
            control.refuse_handshakes(1);
            control.drop_cometd_sessions();
            "handshake_refused"
        }
        _ => {
            control.restart();
            "sim_restart"
        }
    }
}

/// What kind of answer a customer text asks for under [`RULES`].
fn answer_kind(text: &str) -> &'static str {
    let t = text.to_lowercase();
    if t.contains("when are you open") {
        "hours"
    } else if t.contains("help") {
        "help"
    } else if t.contains("bye") {
        "bye"
    } else if t.contains("refund") {
        "refund"
    } else {
        "no_match"
    }
}

/// What kind of answer a bot text is.
fn reply_kind(text: &str) -> &'static str {
    match text {
        "We're open 8 to 18." => "hours",
        TIP | "As I said: ask me about our opening hours." => "help",
        "Goodbye!" => "bye",
        "Let me get billing." => "refund",
        "Sorry, could you say that in other words?" => "no_match",
        _ => "other",
    }
}

/// Check one chat; the problems go into the report.
fn check(chat: &ChatSnapshot, report: &mut Report) {
    let outcome = match &chat.outcome {
        None => "open".to_owned(),
        Some(ChatOutcome::TransferredToAgent(_)) => "handed_to_agent".into(),
        Some(ChatOutcome::TransferredToSkill(_)) => "handed_to_skill".into(),
        Some(ChatOutcome::ClosedByBot) => "closed".into(),
        Some(ChatOutcome::Abandoned) => "customer_left_in_queue".into(),
        Some(other) => format!("{other:?}"),
    };
    *report.outcomes.entry(outcome.clone()).or_default() += 1;
    // Entries the customer saw: texts for everyone, the customer's leaving.
    let seen: Vec<&gws_botd::sim::Entry> = chat
        .transcript
        .iter()
        .filter(|e| e.visibility == "All" && (e.kind == "Text" || e.kind == "ParticipantLeft"))
        .collect();
    let is_bot =
        |e: &gws_botd::sim::Entry| e.kind == "Text" && e.from_type == "Agent" && e.nickname == BOT;
    let customer_left = seen
        .iter()
        .any(|e| e.kind == "ParticipantLeft" && e.from_type == "Customer");
    match &chat.outcome {
        None | Some(ChatOutcome::Rejected) | Some(ChatOutcome::Conference(_)) => {
            report.orphaned.push(format!("{} ended {outcome}", chat.id));
        }
        Some(ChatOutcome::ClosedByBot) if !customer_left => {
            let last_customer = seen.iter().rposition(|e| e.from_type == "Customer");
            let last_bot = seen.iter().rposition(|e| is_bot(e));
            if last_bot.is_none() || last_customer > last_bot {
                report
                    .orphaned
                    .push(format!("{} closed without a last word", chat.id));
            }
        }
        _ => {}
    }
    // The same answer twice to one message: more bot answers of a kind than customer
    // messages asking for it (every message gets exactly one answer from these rules).
    let mut asked: BTreeMap<&str, usize> = BTreeMap::new();
    let mut answered: BTreeMap<&str, usize> = BTreeMap::new();
    let mut greetings = 0;
    let mut tips = 0;
    for e in &seen {
        let text = e.text.as_deref().unwrap_or("");
        if e.kind == "Text" && e.from_type == "Customer" {
            *asked.entry(answer_kind(text)).or_default() += 1;
            continue;
        }
        if !is_bot(e) {
            continue;
        }
        if text.starts_with("Hi ") && text.ends_with("How can I help?") {
            greetings += 1;
        }
        if text == TIP {
            tips += 1;
        }
        *answered.entry(reply_kind(text)).or_default() += 1;
    }
    for (kind, n) in &answered {
        let expected = asked.get(kind).copied().unwrap_or(0);
        if *kind != "other" && *n > expected {
            report.duplicates.push(format!(
                "{}: {n} answers of kind {kind:?} to {expected} messages",
                chat.id
            ));
        }
    }
    if greetings > 1 {
        report
            .duplicates
            .push(format!("{}: greeted {greetings} times", chat.id));
    }
    if tips > 1 {
        report
            .once_violations
            .push(format!("{}: the once rule acted {tips} times", chat.id));
    }
}

/// Run the chaos test with `binary` (the `gws-botd` executable) in a fresh directory `work`.
pub async fn run(binary: &Path, work: &Path, params: &Params) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(params.seed);
    let (sim, config) = set_up(work, params).await?;
    let control = sim.control();
    let mut daemon = Daemon {
        binary: binary.to_owned(),
        config,
        log: work.join("daemon.log"),
        child: None,
    };
    let mut report = Report {
        chats: params.chats,
        ..Report::default()
    };
    let readies_before_start = drive(&control, &mut daemon, &mut rng, params, &mut report).await?;

    // Every chat must end: customers finish their scripts as the bot answers them. One still
    // open at the deadline is lost even if the shutdown then hands it over.
    let ended = tokio::time::timeout_at(started + params.deadline, all_ended(&control)).await;
    if ended.is_err() {
        report.orphaned.extend(
            control
                .chats()
                .into_iter()
                .filter(|c| c.outcome.is_none())
                .map(|c| format!("{} still open at the deadline", c.id)),
        );
    }
    // A daemon restarted just now may not have installed its signal handlers yet (SIGTERM
    // would then kill it outright): let it come up (Ready) before asking it to stop.
    let up = control.wait_for(|c| (readies(c) > readies_before_start).then_some(()));
    let _ = tokio::time::timeout(Duration::from_secs(20), up).await;
    // Grace (3 s) and the hand-over window (15 s) at most, plus a margin.
    report.daemon_exit = daemon.terminate(Duration::from_secs(30)).await;
    for chat in control.chats() {
        check(&chat, &mut report);
    }
    report.violations = control.violations();
    report.elapsed = started.elapsed();
    sim.shutdown().await;
    Ok(report)
}

/// Write the rules and the daemon's configuration into `work` and start the simulator;
/// returns it with the configuration's path.
async fn set_up(work: &Path, params: &Params) -> anyhow::Result<(Sim, PathBuf)> {
    std::fs::create_dir_all(work.join("rules"))?;
    std::fs::write(work.join("rules").join("rules.toml"), RULES)?;
    let sim_config = SimConfig {
        dialect: params.dialect,
        participants: params.participants,
        connect_timeout: Duration::from_secs(5),
        queue_limit: 100_000,
        agents: vec![SimAgent {
            id: "agent-101".into(),
            nickname: "Sam".into(),
            join_after: Some(Duration::from_millis(300)),
        }],
        ..SimConfig::default()
    };
    let sim = Sim::start(sim_config, "127.0.0.1:0".parse()?).await?;
    let config = work.join("gws-botd.toml");
    std::fs::write(
        &config,
        format!(
            "[gws]\napi_url = \"{}\"\nusername = \"bot01\"\npassword = \"bot-secret\"\n\
             request_timeout = \"2s\"\n\
             [bot]\nnickname = \"{BOT}\"\nrules = \"{}\"\nmax_chats = {}\nshutdown_grace = \"3s\"\n\
             fallback_skill = \"Support\"\nstate_dir = \"{}\"\nmax_requests_per_second = 500\n",
            sim.api_url(),
            work.join("rules").display(),
            params.chats + 10,
            work.join("state").display(),
        ),
    )?;
    Ok((sim, config))
}

/// Start the daemon, then create the chats over the ramp and kill the daemon (and start it
/// again) or inject faults at random moments, each at its time. Returns how many Ready
/// requests the simulator had served when the daemon was last started.
async fn drive(
    control: &Control,
    daemon: &mut Daemon,
    rng: &mut StdRng,
    params: &Params,
    report: &mut Report,
) -> anyhow::Result<usize> {
    let started = Instant::now();
    let mut readies_before_start = readies(control);
    daemon.start()?;
    // Kills and faults are spread over the ramp and a bit beyond.
    let span = params.ramp + params.ramp / 2;
    let mut moments: Vec<(Duration, bool)> = (0..params.kills + params.faults)
        .map(|i| (rng.random_range(Duration::ZERO..span), i < params.kills))
        .collect();
    moments.sort();
    let mut moments = moments.into_iter().peekable();
    let gap = params.ramp / u32::try_from(params.chats.max(1)).unwrap_or(u32::MAX);
    let (mut created, mut next_chat) = (0, Duration::ZERO);
    loop {
        let chat_due = (created < params.chats).then_some(next_chat);
        let Some(due) = chat_due
            .into_iter()
            .chain(moments.peek().map(|m| m.0))
            .min()
        else {
            return Ok(readies_before_start);
        };
        tokio::time::sleep_until(started + due).await;
        if chat_due == Some(due) {
            control.create_chat(ChatSpec {
                customer: format!("Customer{created}"),
                first_message: (created % 7 == 0).then(|| "hello?".to_owned()),
                script: script(rng),
                ..ChatSpec::default()
            });
            created += 1;
            next_chat += gap;
        } else if let Some((_, kill)) = moments.next() {
            if kill {
                daemon.kill().await;
                report.kills += 1;
                // The daemon stays down for a random while: part of the scenario, not a wait
                // for anything.
                tokio::time::sleep(Duration::from_millis(rng.random_range(50..1500))).await;
                readies_before_start = readies(control);
                daemon.start()?;
            } else {
                let fault = inject(control, rng, params.sim_restarts);
                *report.faults.entry(fault).or_default() += 1;
            }
        }
    }
}

/// Wait until every chat has an outcome, as the simulator's `Ended` events tell (all chats
/// are looked at again when events were missed).
async fn all_ended(control: &Control) {
    let open = |control: &Control| -> HashSet<String> {
        control
            .chats()
            .into_iter()
            .filter(|c| c.outcome.is_none())
            .map(|c| c.id)
            .collect()
    };
    // Subscribed before looking, so no end falls between the two.
    let mut events = control.subscribe();
    let mut still_open = open(control);
    while !still_open.is_empty() {
        match events.recv().await {
            Ok(SimEvent::Ended { chat, .. }) => {
                still_open.remove(&chat);
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => still_open = open(control),
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gws_botd::sim::{ChatState, Entry};

    fn entry(from: &str, nick: &str, text: &str) -> Entry {
        Entry {
            event_id: String::new(),
            kind: "Text".into(),
            from_type: from.into(),
            nickname: nick.into(),
            participant_id: String::new(),
            text: Some(text.into()),
            visibility: "All".into(),
            at: Duration::ZERO,
        }
    }

    fn chat(outcome: Option<ChatOutcome>, transcript: Vec<Entry>) -> ChatSnapshot {
        ChatSnapshot {
            id: "c".into(),
            state: ChatState::Ended,
            customer: "Pat".into(),
            customer_present: true,
            owner: None,
            transcript,
            outcome,
            conference: None,
            agents_present: Vec::new(),
        }
    }

    #[test]
    fn the_checks_catch_duplicates_once_and_silent_closes() {
        let hi = entry("Agent", BOT, "Hi Pat, I'm Ava. How can I help?");
        let good = chat(
            Some(ChatOutcome::ClosedByBot),
            vec![
                hi.clone(),
                entry("Customer", "Pat", "help"),
                entry("Agent", BOT, TIP),
                entry("Customer", "Pat", "bye"),
                entry("Agent", BOT, "Goodbye!"),
            ],
        );
        let mut r = Report::default();
        check(&good, &mut r);
        assert!(r.duplicates.is_empty() && r.orphaned.is_empty() && r.once_violations.is_empty());

        let bad = chat(
            Some(ChatOutcome::ClosedByBot),
            vec![
                hi.clone(),
                hi.clone(),
                entry("Customer", "Pat", "help"),
                entry("Agent", BOT, TIP),
                entry("Agent", BOT, TIP),
                entry("Customer", "Pat", "bye"),
            ],
        );
        let mut r = Report::default();
        check(&bad, &mut r);
        // Greeted twice, and two answers of kind "help" to one message.
        assert_eq!(r.duplicates.len(), 2, "{:?}", r.duplicates);
        assert_eq!(r.once_violations.len(), 1);
        assert_eq!(r.orphaned.len(), 1, "closed after the customer spoke last");

        let mut r = Report::default();
        check(&chat(None, vec![hi]), &mut r);
        assert_eq!(r.orphaned.len(), 1);
        assert!(!r.passed());
    }
}
