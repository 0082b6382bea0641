//! The rules while the daemon runs: hot reload under live chats, idle rules, and the
//! `escalation_failed` answer.

use std::sync::Arc;
use std::time::Duration;

use gws_botd::config::EscalationTexts;
use gws_botd::responder::rules::watch::{self, Reloader, WatchState, Watching};
use gws_botd::sim::{ChatOutcome, Step};
use tokio_util::sync::CancellationToken;

use gws_botd::sim::SimDialect;

use crate::support::*;

fn ping_rules(version: &str) -> String {
    format!(
        r#"
[[rule]]
name = "greeting"
on = "accept"
reply = "Hi {{customer}}."

[[rule]]
name = "ping"
on = "message"
match.keywords = ["ping"]
reply = "pong {version}"
examples.match = ["ping?"]
"#
    )
}

/// Wait until the bot's last message in chat `id` is `text`.
async fn wait_reply(h: &Harness, id: &str, text: &str) {
    h.wait_chat(id, text, |c| {
        texts_from(c, "Agent").last().map(|(_, t)| t.as_str()) == Some(text)
    })
    .await;
}

/// Wait until what the rules watcher has seen satisfies `pred`.
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

async fn ask(h: &Harness, id: &str, expected: &str) {
    let before = h.bot_texts(id).len();
    h.control.customer_says(id, "ping").unwrap();
    h.wait_chat(id, "an answer", |c| texts_from(c, "Agent").len() > before)
        .await;
    assert_eq!(h.bot_texts(id).last().map(String::as_str), Some(expected));
}

async fn rule_files_changed_under_a_running_daemon_valid_broken_valid(d: SimDialect) {
    let h = Harness::start_with(sim_config_in(d), &ping_rules("v1"), |_| {}).await;
    let reloader = Arc::new(Reloader::new(&h.config.bot.rules, h.rules.clone()));
    let mut seen = reloader.watch_state();
    let stop = CancellationToken::new();
    let watching = tokio::spawn(watch::run(
        reloader.clone(),
        Duration::from_millis(150),
        stop.clone(),
    ));
    let file = h.config.bot.rules.join("rules.toml");
    // The first change must find the watch in place.
    wait_watch(&mut seen, "the watch on the rules directory", |s| {
        s.watching == Watching::Directory
    })
    .await;

    let ann = h.chat("Ann", vec![]);
    wait_reply(&h, &ann, "Hi Ann.").await;
    ask(&h, &ann, "pong v1").await;

    // A valid change: the running chat and a new one get the new answer.
    std::fs::write(&file, ping_rules("v2")).unwrap();
    wait_watch(&mut seen, "the reload", |s| s.reloads == 1).await;
    ask(&h, &ann, "pong v2").await;
    let bob = h.chat("Bob", vec![]);
    wait_reply(&h, &bob, "Hi Bob.").await;
    ask(&h, &bob, "pong v2").await;

    // A broken change, saved twice as an editor would: logged once, old answers stay.
    let half = &ping_rules("v3")[..60];
    std::fs::write(&file, half).unwrap();
    wait_watch(&mut seen, "the failed reload", |s| s.failed == 1).await;
    assert_eq!(reloader.failures_logged(), 1);
    let before = seen.borrow().relevant;
    std::fs::write(&file, half).unwrap();
    wait_watch(&mut seen, "the second save to be acted on", |s| {
        s.checked > before && s.checked == s.relevant
    })
    .await;
    assert_eq!(
        reloader.failures_logged(),
        1,
        "the same problems are not logged twice"
    );
    ask(&h, &ann, "pong v2").await;
    ask(&h, &bob, "pong v2").await;

    // Fixed: the new answers arrive, and no chat was lost on the way.
    std::fs::write(&file, ping_rules("v3")).unwrap();
    wait_watch(&mut seen, "the second reload", |s| s.reloads == 2).await;
    ask(&h, &ann, "pong v3").await;
    ask(&h, &bob, "pong v3").await;
    for id in [&ann, &bob] {
        let chat = h.control.chat(id).unwrap();
        assert_eq!(chat.outcome, None, "the chat is still going");
    }
    assert_eq!(
        h.bot_texts(&ann),
        ["Hi Ann.", "pong v1", "pong v2", "pong v2", "pong v3"]
    );
    assert!(
        h.control.violations().is_empty(),
        "{:?}",
        h.control.violations()
    );
    stop.cancel();
    watching.await.unwrap();
}

const IDLE_RULES: &str = r#"
[team.broken]
agents = ["agent-201"]
skill = "NoSuchSkill"
wait = "300ms"

[[rule]]
name = "greeting"
on = "accept"
reply = "Hi."

[[rule]]
name = "complaint"
on = "message"
match.keywords = ["complaint"]
reply = "Let me get someone."
then = { escalate = "broken" }

[[rule]]
name = "still-there"
on = "idle"
after = "400ms"
once = true
reply = "Still there?"

[[rule]]
name = "idle-close"
on = "idle"
after = "1s"
reply = "Closing now."
then = "close"

[[rule]]
name = "nobody"
on = "escalation_failed"
reply = "Nobody is free, sorry {customer}."
"#;

async fn a_silent_customer_is_nudged_once_then_the_chat_is_closed(d: SimDialect) {
    let h = Harness::start_with(sim_config_in(d), IDLE_RULES, |_| {}).await;
    let id = h.chat("Quinn", vec![Step::AwaitReply, say(0, "hello?")]);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    // The customer's message restarts the silence; the nudge comes once; the close comes a
    // full `after` after the nudge (the bot's message counts too).
    assert_eq!(h.bot_texts(&id), ["Hi.", "Still there?", "Closing now."]);
}

async fn a_failed_hand_over_uses_the_escalation_failed_rule_instead_of_the_default(d: SimDialect) {
    let h = Harness::start_with(sim_config_in(d), IDLE_RULES, |_| {}).await;
    let id = h.chat("Max", vec![Step::AwaitReply, say(0, "I have a complaint")]);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    let texts = h.bot_texts(&id);
    assert_eq!(
        texts.last().map(String::as_str),
        Some("Nobody is free, sorry Max.")
    );
    assert!(
        !texts.contains(&EscalationTexts::default().failed),
        "{texts:?}"
    );
}

per_dialect!(
    rule_files_changed_under_a_running_daemon_valid_broken_valid,
    a_silent_customer_is_nudged_once_then_the_chat_is_closed,
    a_failed_hand_over_uses_the_escalation_failed_rule_instead_of_the_default,
);
