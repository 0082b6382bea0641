//! Shadow rules (`[shadow] rules`) under the real daemon: evaluated on every trigger after the
//! live rules, recorded in the decision log, counted when they disagree, never sent and never
//! changing the chat; hot-reloaded like the live rules, a broken shadow set refused at start and
//! at reload without touching the live one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gws_botd::config::Shadow;
use gws_botd::responder::rules::watch::{self, Reloader, WatchState, Watching};
use gws_botd::sim::{ChatOutcome, SimDialect};
use gws_botd::store::decision_log::{self, Decision};
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// Shadow rules beside [`RULES`]: a new greeting, the hours answer renamed but the same, a VIP
/// handed to billing, a "hello" that closes the chat, and nothing for "bye".
const SHADOW_RULES: &str = r#"
[team.billing]
agents = ["agent-101"]
skill = "Billing"
wait = "2s"

[[rule]]
name = "greeting-v2"
on = "accept"
reply = "Hello {customer}, {bot} here."

[[rule]]
name = "hours-v2"
on = "message"
match.keywords = ["opening hours", "when are you open"]
reply = "We're open 8 to 18."

[[rule]]
name = "escalate-vip"
on = "message"
match.keywords = ["vip"]
reply = "Let me get billing."
then = { escalate = "billing" }

[[rule]]
name = "close-early"
on = "message"
match.keywords = ["hello"]
reply = "Bye."
then = "close"
"#;

fn shadow_of(dir: &Path) -> Shadow {
    Shadow {
        rules: dir.to_owned(),
        watch: false,
    }
}

/// The shadow records of chat `id`, with the index of each in the chat's records.
fn shadows(h: &Harness, id: &str) -> Vec<(usize, Decision)> {
    let found = decision_log::read_chat(&h.config.bot.state_dir, id).unwrap_or_default();
    found
        .records
        .into_iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.decision, Decision::Shadow { .. }))
        .map(|(n, r)| (n, r.decision))
        .collect()
}

/// Wait until chat `id` has `n` shadow records in the decision log.
async fn wait_shadows(h: &Harness, id: &str, n: usize) -> Vec<(usize, Decision)> {
    wait_dir(&h.config.bot.state_dir, "the shadow records", || {
        let found = shadows(h, id);
        (found.len() >= n).then_some(found)
    })
    .await
}

/// The customer says `text`; wait for the bot's next message and return it.
async fn say_and_hear(h: &Harness, id: &str, text: &str) -> String {
    let before = h.bot_texts(id).len();
    h.control.customer_says(id, text).unwrap();
    h.wait_chat(id, "the bot's answer", |c| {
        texts_from(c, "Agent").len() > before
    })
    .await;
    h.bot_texts(id).last().cloned().unwrap_or_default()
}

fn rules_and_agreement(decision: &Decision) -> (Vec<String>, bool) {
    match decision {
        Decision::Shadow { rules, agrees, .. } => (rules.clone(), *agrees),
        other => panic!("not a shadow record: {other:?}"),
    }
}

/// The customer reads only what the live rules say; the shadow rules' greeting, hand-over and
/// close are recorded, counted per rule as disagreements, and change nothing.
async fn shadow_decisions_are_recorded_and_never_sent(d: SimDialect) {
    let shadow_dir = rules_dir(SHADOW_RULES);
    let h = Harness::start_with(sim_config_in(d), RULES, |c| {
        c.shadow = Some(shadow_of(&shadow_dir));
    })
    .await;
    let id = h.chat("Ann", vec![]);
    h.wait_chat(&id, "the greeting", |c| !texts_from(c, "Agent").is_empty())
        .await;
    assert_eq!(
        say_and_hear(&h, &id, "when are you open?").await,
        "We're open 8 to 18."
    );
    assert_eq!(say_and_hear(&h, &id, "I am a vip").await, "Noted.");
    assert_eq!(
        say_and_hear(&h, &id, "hello there").await,
        "Sorry, could you say that in other words?"
    );
    h.control.customer_says(&id, "bye").unwrap();
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    assert_eq!(
        h.bot_texts(&id),
        [
            "Hi Ann, I'm Ava. How can I help?",
            "We're open 8 to 18.",
            "Noted.",
            "Sorry, could you say that in other words?",
            "Goodbye!",
        ],
        "only the live answers reach the customer"
    );
    assert_eq!(
        h.count(h.wire("StartChatConsultation")),
        0,
        "the shadow's hand-over never started"
    );

    let found = wait_shadows(&h, &id, 5).await;
    let seen: Vec<_> = found.iter().map(|(_, d)| rules_and_agreement(d)).collect();
    let names = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        seen,
        [
            (names(&["greeting-v2"]), false),
            (names(&["hours-v2"]), true),
            (names(&["escalate-vip"]), false),
            (names(&["close-early"]), false),
            (names(&[]), false),
        ]
    );
    // Each after the live decision about the same trigger.
    let records = decision_log::read_chat(&h.config.bot.state_dir, &id)
        .unwrap()
        .records;
    for (at, shadow) in &found {
        let Decision::Shadow {
            trigger,
            message_id,
            ..
        } = shadow
        else {
            unreachable!()
        };
        let live = records[..*at].iter().any(|r| match &r.decision {
            Decision::Responded {
                trigger: t,
                message_id: m,
                ..
            }
            | Decision::NoAnswer {
                trigger: t,
                message_id: m,
                ..
            } => t == trigger && m == message_id,
            _ => false,
        });
        assert!(live, "a live record before {shadow:?}");
    }
    // Without include_customer_text, the shadow's replies are lengths, like the live ones.
    assert!(matches!(
        &found[0].1,
        Decision::Shadow { replies, reply_chars, .. } if replies.is_empty() && reply_chars == &[20]
    ));

    let expected = [
        ("close-early", 1),
        ("escalate-vip", 1),
        ("greeting-v2", 1),
        ("no_match", 1),
    ];
    let counted = tokio::time::timeout(
        WAIT,
        h.stats.wait_for(|s| {
            let d = s.snapshot().shadow_disagreements;
            (d.len() == expected.len()).then_some(d)
        }),
    )
    .await
    .expect("the disagreements are counted");
    let expected: std::collections::BTreeMap<String, u64> = expected
        .iter()
        .map(|(r, n)| ((*r).to_owned(), *n))
        .collect();
    assert_eq!(counted, expected);
    let metrics = gws_botd::telemetry::metrics::encode(h.stats.registry());
    assert!(
        metrics.contains("gws_botd_shadow_disagreements_total{rule=\"no_match\"} 1"),
        "{metrics}"
    );
    assert!(h.stats.snapshot().shadow_failures.is_empty());
    // The story tells both side by side.
    let story = gws_botd::cli::explain::story(&h.config.bot.state_dir, &id).unwrap();
    assert!(
        story.contains("shadow: DISAGREES: rule \"escalate-vip\" would act"),
        "{story}"
    );
    assert!(
        story.contains("shadow: agrees (rule \"hours-v2\")"),
        "{story}"
    );
    assert!(
        h.control.violations().is_empty(),
        "{:?}",
        h.control.violations()
    );
    let _ = std::fs::remove_dir_all(&shadow_dir);
}

fn ping_rules(rule: &str, reply: &str) -> String {
    format!(
        "[[rule]]\nname = \"{rule}\"\non = \"message\"\nmatch.keywords = [\"ping\"]\nreply = \"{reply}\"\n"
    )
}

async fn wait_watch(
    seen: &mut tokio::sync::watch::Receiver<WatchState>,
    what: &str,
    pred: impl FnMut(&WatchState) -> bool,
) {
    tokio::time::timeout(WAIT, seen.wait_for(pred))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("the reloader is alive");
}

/// Ask "ping": the live answer is always "pong"; the rules of the shadow record it adds.
async fn ping(h: &Harness, id: &str, shadows_before: usize) -> Vec<String> {
    assert_eq!(say_and_hear(h, id, "ping").await, "pong");
    let found = wait_shadows(h, id, shadows_before + 1).await;
    rules_and_agreement(&found[shadows_before].1).0
}

/// A saved shadow file reloads the shadow set under running chats; a broken one keeps the
/// previous shadow set; the live rules are never touched.
async fn shadow_rules_reload_and_a_broken_reload_keeps_the_previous_set(d: SimDialect) {
    let shadow_dir = rules_dir(&ping_rules("ping-v1", "pong v1"));
    let h = Harness::start_with(sim_config_in(d), &ping_rules("ping", "pong"), |c| {
        c.shadow = Some(shadow_of(&shadow_dir));
    })
    .await;
    let set = h
        .shadow
        .clone()
        .expect("the harness loaded the shadow rules");
    let reloader = Arc::new(Reloader::new(&shadow_dir, set).named("shadow rules"));
    let mut seen = reloader.watch_state();
    let stop = CancellationToken::new();
    let watching = tokio::spawn(watch::run(
        reloader.clone(),
        Duration::from_millis(150),
        stop.clone(),
    ));
    wait_watch(&mut seen, "the watch on the shadow directory", |s| {
        s.watching == Watching::Directory
    })
    .await;
    let id = h.chat("Ann", vec![]);
    // The accept trigger: both silent.
    let first = wait_shadows(&h, &id, 1).await;
    assert_eq!(rules_and_agreement(&first[0].1), (vec![], true));
    assert_eq!(ping(&h, &id, 1).await, ["ping-v1"]);

    let file = shadow_dir.join("rules.toml");
    std::fs::write(&file, ping_rules("ping-v2", "pong v2")).unwrap();
    wait_watch(&mut seen, "the shadow reload", |s| s.reloads == 1).await;
    assert_eq!(ping(&h, &id, 2).await, ["ping-v2"]);

    std::fs::write(&file, "[[rule]]\nname = \"ping-v3\"\non = ").unwrap();
    wait_watch(&mut seen, "the refused shadow reload", |s| s.failed == 1).await;
    assert_eq!(
        ping(&h, &id, 3).await,
        ["ping-v2"],
        "the previous shadow set stays"
    );
    assert_eq!(reloader.failures_logged(), 1);
    let live = h.stats.snapshot();
    assert_eq!(
        (
            live.rule_reloads_ok,
            live.rule_reloads_failed,
            live.rules_last_reload_failed
        ),
        (0, 0, false),
        "the live rules' reload metrics are not the shadow's"
    );
    assert_eq!(h.rules.load().summary().rules, 1);
    assert_eq!(
        h.control.chat(&id).unwrap().outcome,
        None,
        "the chat goes on"
    );
    stop.cancel();
    watching.await.unwrap();
    let _ = std::fs::remove_dir_all(&shadow_dir);
}

/// Shadow rules that panic on accepting and hang on every message (until the test ends):
/// the customer gets every live answer, in time, and each failure is counted.
async fn a_panicking_or_hanging_shadow_never_touches_the_live_answers(d: SimDialect) {
    use gws_botd::chat::shadow::Shadow as Evaluator;
    use gws_botd::responder::{Outcome, Trigger};
    use gws_botd::runtime::daemon::{self, Tuning};
    use gws_botd::sim::{ChatSpec, Sim};
    let sim_config = sim_config_in(d);
    let sim = Sim::start(sim_config.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();
    let dir = rules_dir(RULES);
    let config = gws_botd::cli::demo::daemon_config(&sim, &sim_config, &dir);
    let rules = gws_botd::responder::rules::RuleSet::load_dir(&dir).unwrap();
    let chain = daemon::build_chain(&config, &Arc::new(arc_swap::ArcSwap::from_pointee(rules)))
        .expect("the chain builds");
    // Every hanging evaluation waits on this channel; dropping the sender releases them all.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let held = std::sync::Mutex::new(held);
    let shadow = Evaluator::from_fn(move |_, trigger| match trigger {
        Trigger::Accepted => panic!("a bug in the shadow rules"),
        _ => {
            let _ = held.lock().map(|rx| rx.recv());
            Outcome::Pass
        }
    })
    // The budget also bounds the panicking evaluation, whose unwinding (a backtrace with
    // RUST_BACKTRACE set, on a loaded machine) must fit in it: 50 ms did not, always.
    .with_budget(Duration::from_secs(1));
    let stats = Arc::new(gws_botd::telemetry::stats::Stats::default());
    let stop = CancellationToken::new();
    let state_dir = config.bot.state_dir.clone();
    let running = tokio::spawn(daemon::run(
        config.clone(),
        chain,
        Tuning {
            shadow: Some(Arc::new(shadow)),
            ..tuning()
        },
        stats.clone(),
        stop.clone(),
    ));
    let id = control.create_chat(ChatSpec {
        customer: "Ann".into(),
        user_data: serde_json::Map::new(),
        first_message: None,
        script: vec![],
    });
    let bot_texts = |n: usize| {
        let control = control.clone();
        let id = id.clone();
        async move {
            wait_sim(&control, "the bot's answers", |c| {
                let texts = texts_from(&c.chat(&id)?, "Agent");
                (texts.len() >= n).then_some(texts.into_iter().map(|(_, t)| t).collect::<Vec<_>>())
            })
            .await
        }
    };
    bot_texts(1).await;
    control.customer_says(&id, "when are you open?").unwrap();
    bot_texts(2).await;
    control.customer_says(&id, "I am a vip").unwrap();
    let texts = bot_texts(3).await;
    assert_eq!(
        texts,
        [
            "Hi Ann, I'm Ava. How can I help?",
            "We're open 8 to 18.",
            "Noted."
        ]
    );
    let failures = tokio::time::timeout(
        WAIT,
        stats.wait_for(|s| {
            let f = s.snapshot().shadow_failures;
            (f.get("slow") == Some(&2)).then_some(f)
        }),
    )
    .await
    .expect("both slow evaluations are counted");
    assert_eq!(failures.get("panic"), Some(&1), "{failures:?}");
    assert!(
        stats.snapshot().shadow_disagreements.is_empty(),
        "nothing recorded, nothing compared"
    );
    let answered = |records: &[decision_log::Record]| {
        records
            .iter()
            .filter(|r| matches!(r.decision, Decision::Responded { .. }))
            .count()
    };
    let records = wait_dir(&state_dir, "the live decisions", || {
        let records = decision_log::read_chat(&state_dir, &id).ok()?.records;
        (answered(&records) == 3).then_some(records)
    })
    .await;
    assert!(
        !records
            .iter()
            .any(|r| matches!(r.decision, Decision::Shadow { .. })),
        "a failed shadow evaluation records nothing"
    );
    drop(release);
    stop.cancel();
    tokio::time::timeout(WAIT, running)
        .await
        .expect("the daemon stops")
        .unwrap()
        .unwrap();
    assert!(
        control.violations().is_empty(),
        "{:?}",
        control.violations()
    );
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&state_dir);
}

per_dialect!(
    shadow_decisions_are_recorded_and_never_sent,
    shadow_rules_reload_and_a_broken_reload_keeps_the_previous_set,
    a_panicking_or_hanging_shadow_never_touches_the_live_answers,
);

/// A configuration in a fresh directory with the shipped rules and `shadow` as `[shadow]`.
fn config_with_shadow(api_url: &str, password: &str, shadow: &str, extra: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gws-botd-shadow-{}", rand::random::<u64>()));
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = dir.join("gws-botd.toml");
    std::fs::write(
        &file,
        format!(
            "[gws]\napi_url = \"{api_url}\"\nusername = \"bot01\"\npassword = \"{password}\"\n\
             [bot]\nnickname = \"Ava\"\nrules = \"{}\"\nstate_dir = \"{}\"\nshutdown_grace = \"1s\"\n\
             watch_rules = false\n{extra}\n[shadow]\nrules = \"{shadow}\"\nwatch = false\n",
            shipped.join("rules").display(),
            dir.join("state").display(),
        ),
    )
    .unwrap();
    file
}

/// `check` and `run` refuse a missing or broken shadow directory with exit 78, naming it and
/// the file, line and column; a valid one is checked and summarised.
#[test]
fn check_and_run_refuse_an_invalid_shadow_directory() {
    let broken = rules_dir("[[rule]]\nname = \"x\"\non = \"sometimes\"\n");
    let url = "http://127.0.0.1:9/api/v2";
    let cases = [
        (
            "/nonexistent/rules-next".to_owned(),
            "cannot read the rules directory",
        ),
        (broken.display().to_string(), "rules.toml:3"),
    ];
    for (dir, expected) in cases {
        let file = config_with_shadow(url, "pw", &dir, "");
        for command in [&["check", "--offline"][..], &["run"][..]] {
            let out = bin_isolated()
                .args(command)
                .arg("--config")
                .arg(&file)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(78), "{command:?}: {stderr}");
            assert!(
                stderr.contains("the shadow rules ("),
                "{command:?}: {stderr}"
            );
            assert!(stderr.contains(expected), "{command:?}: {stderr}");
        }
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }
    let next = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules-next");
    let file = config_with_shadow(url, "pw", &next.display().to_string(), "");
    let out = bin_isolated()
        .args(["check", "--offline", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("; shadow rules: 4 files, 17 rules"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
    let _ = std::fs::remove_dir_all(&broken);
}

/// The demo's shadow rules are the shipped rules with one change, in one file: what the demo's
/// `explain` shows as the disagreement.
#[test]
fn the_demos_shadow_rules_are_the_shipped_ones_with_one_change() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let toml = |dir: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(toml("rules"), toml("rules-next"));
    let differing: Vec<String> = toml("rules")
        .into_iter()
        .filter(|n| {
            std::fs::read_to_string(root.join("rules").join(n)).unwrap()
                != std::fs::read_to_string(root.join("rules-next").join(n)).unwrap()
        })
        .collect();
    assert_eq!(differing, ["20-faq.toml"]);
}

/// `gws-botd reload` (SIGHUP) reloads the shadow rules too: a refused shadow set fails the
/// reload (exit 78, both verdicts printed) while the live rules reload.
#[tokio::test]
async fn reload_reports_the_shadow_rules_too() {
    use gws_botd::sim::{Sim, SimConfig};
    let sim_config = SimConfig::default();
    let sim = Sim::start(sim_config.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let shadow_dir = rules_dir(&ping_rules("ping-v1", "pong v1"));
    let addr = format!("127.0.0.1:{}", free_port());
    let file = config_with_shadow(
        &sim.api_url(),
        &sim_config.users[0].password,
        &shadow_dir.display().to_string(),
        &format!("[http]\nlisten = \"{addr}\"\n"),
    );
    let mut daemon = spawn_daemon(&file, &addr).await;
    let reload = |file: PathBuf| {
        tokio::task::spawn_blocking(move || {
            bin_isolated()
                .args(["reload", "--config"])
                .arg(&file)
                .output()
                .unwrap()
        })
    };
    let out = reload(file.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("; shadow rules: 1 file, 1 rule"),
        "{stdout}"
    );
    std::fs::write(
        shadow_dir.join("rules.toml"),
        "[[rule]]\nname = \"x\"\non = \"sometimes\"\n",
    )
    .unwrap();
    let out = reload(file.clone()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.starts_with("live rules reloaded: 4 files"),
        "{stderr}"
    );
    assert!(
        stderr.contains("shadow rules not reloaded; the previous shadow rules stay active"),
        "{stderr}"
    );
    assert!(stderr.contains("rules.toml:3"), "{stderr}");
    daemon.start_kill().unwrap();
    let _ = daemon.wait().await;
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
    let _ = std::fs::remove_dir_all(&shadow_dir);
}
