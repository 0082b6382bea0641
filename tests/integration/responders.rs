//! Responders that fail, panic or are slow: the chat they hit is handed on, the others go on.

use async_trait::async_trait;
use gws_botd::config::EscalationTexts;
use gws_botd::responder::{Action, ChatView, Outcome, Responder, Response, Then, Trigger};
use gws_botd::sim::{ChatOutcome, Step};
use tokio_util::sync::CancellationToken;

use gws_botd::sim::SimDialect;

use crate::support::*;

/// The mock responder set: each greets on accept, then misbehaves on messages as named.
#[derive(Clone)]
enum Mock {
    Error,
    Panic,
    /// Answers a message that says "slow" only once the test opens the gate (cancels the
    /// token): as slow as the test needs, whatever the machine's speed.
    Slow(CancellationToken),
}

#[async_trait]
impl Responder for Mock {
    fn name(&self) -> &str {
        "mock"
    }

    async fn respond(&self, _chat: &ChatView<'_>, trigger: &Trigger) -> anyhow::Result<Outcome> {
        let text = match trigger {
            Trigger::Accepted => return Ok(reply("hello")),
            Trigger::Message { text } => text.clone(),
            Trigger::Idle { .. } | Trigger::EscalationFailed => return Ok(Outcome::Pass),
        };
        match self {
            Mock::Error => anyhow::bail!("the knowledge base is down"),
            Mock::Panic => panic!("bug in a responder"),
            Mock::Slow(gate) => {
                if text.contains("slow") {
                    gate.cancelled().await;
                }
                Ok(reply(&format!("re: {text}")))
            }
        }
    }
}

fn reply(text: &str) -> Outcome {
    Outcome::Act(Response {
        actions: vec![Action::Reply(text.into())],
        then: Then::Stay,
        acted: vec!["mock".into()],
        matched: true,
        awaiting: None,
    })
}

async fn failing_chat_is_handed_on(d: SimDialect, mock: Mock) {
    let h = Harness::start_with_responders(d, vec![Box::new(mock)], |c| {
        c.bot.fallback_skill = Some("Support".into())
    })
    .await;
    let id = h.chat("Fay", vec![Step::AwaitReply, say(0, "help")]);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToSkill("Support".into()))
    );
    assert_eq!(
        h.bot_texts(&id),
        vec!["hello".to_string(), EscalationTexts::default().error]
    );
    assert_eq!(h.stats.snapshot().responder_failures, 1);
    // The bot is still working for everyone else.
    let other = h.chat("Gil", vec![]);
    h.wait_chat(&other, "greeting", |c| texts_from(c, "Agent").len() == 1)
        .await;
}

async fn a_failing_responder_hands_the_chat_to_the_fallback_skill(d: SimDialect) {
    failing_chat_is_handed_on(d, Mock::Error).await;
}

async fn a_panicking_responder_hands_the_chat_to_the_fallback_skill(d: SimDialect) {
    failing_chat_is_handed_on(d, Mock::Panic).await;
}

async fn without_a_fallback_skill_a_failing_chat_is_closed_politely(d: SimDialect) {
    let h = Harness::start_with_responders(d, vec![Box::new(Mock::Error)], |_| {}).await;
    let id = h.chat("Hal", vec![Step::AwaitReply, say(0, "help")]);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    assert_eq!(
        h.bot_texts(&id).last(),
        Some(&EscalationTexts::default().error)
    );
}

async fn a_slow_answer_in_one_chat_does_not_hold_up_another(d: SimDialect) {
    let gate = CancellationToken::new();
    let h =
        Harness::start_with_responders(d, vec![Box::new(Mock::Slow(gate.clone()))], |_| {}).await;
    let slow = h.chat("Slo", vec![Step::AwaitReply, say(0, "slow please")]);
    h.wait_chat(&slow, "greeting", |c| texts_from(c, "Agent").len() == 1)
        .await;
    let quick = h.chat("Qui", vec![Step::AwaitReply, say(100, "fast")]);
    h.wait_chat(&quick, "quick answer", |c| {
        texts_from(c, "Agent").len() == 2
    })
    .await;
    // The quick chat was answered while the slow one was still thinking.
    assert_eq!(h.bot_texts(&slow).len(), 1);
    gate.cancel();
    h.wait_chat(&slow, "slow answer", |c| texts_from(c, "Agent").len() == 2)
        .await;
}

async fn a_flooded_slow_chat_does_not_hold_up_new_chats(d: SimDialect) {
    // The gate stays shut: the flooded chat's first message is never answered, so a new chat
    // that waited for it would never be answered either.
    let gate = CancellationToken::new();
    let h =
        Harness::start_with_responders(d, vec![Box::new(Mock::Slow(gate.clone()))], |_| {}).await;
    let flooded = h.chat("Flo", vec![]);
    h.wait_chat(&flooded, "greeting", |c| texts_from(c, "Agent").len() == 1)
        .await;
    // More messages than the chat's inbox holds, the first of them stuck in the responder.
    for i in 0..400 {
        h.control
            .customer_says(&flooded, &format!("slow {i}"))
            .unwrap();
    }
    // Messages reach the bot in order: once the last one is delivered, all of them were.
    wait_sim(&h.control, "the flood delivered to the bot", |c| {
        c.deliveries()
            .iter()
            .any(|n| n.data.to_string().contains("\"slow 399\""))
            .then_some(())
    })
    .await;
    let other = h.chat("Gil", vec![say(0, "quick")]);
    h.wait_chat(&other, "answer", |c| texts_from(c, "Agent").len() == 2)
        .await;
    assert_eq!(h.bot_texts(&other), ["hello", "re: quick"]);
    assert_eq!(
        h.bot_texts(&flooded),
        ["hello"],
        "the flooded chat is still stuck"
    );
    // The new chat's offer came after the flood: by its answer, the overflow was dropped.
    assert!(h.stats.snapshot().notifications_ignored > 0);
}

per_dialect!(
    a_failing_responder_hands_the_chat_to_the_fallback_skill,
    a_panicking_responder_hands_the_chat_to_the_fallback_skill,
    without_a_fallback_skill_a_failing_chat_is_closed_politely,
    a_slow_answer_in_one_chat_does_not_hold_up_another,
    a_flooded_slow_chat_does_not_hold_up_new_chats,
);

/// A `[[responder]]` problem stops `check` and `run` with status 78, naming the entry and key;
/// a correct webhook entry passes `check`.
#[test]
fn a_responder_config_problem_stops_check_and_run_with_78() {
    let dir = std::env::temp_dir().join(format!("gws-botd-responders-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let config = |responder: &str| {
        let file = dir.join("gws-botd.toml");
        let text = format!(
            "[gws]\napi_url = \"http://127.0.0.1:1/api/v2\"\nusername = \"bot01\"\npassword = \"pw\"\n\
             [bot]\nnickname = \"Ava\"\nrules = \"{}\"\nstate_dir = \"{}\"\n{responder}",
            rules.display(),
            dir.join("state").display()
        );
        std::fs::write(&file, text).unwrap();
        file
    };
    let gws_botd = |args: &[&str], file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gws-botd"))
            .args(args)
            .arg("--config")
            .arg(file)
            .output()
            .unwrap()
    };
    let missing = config(
        "[[responder]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:5005/webhooks/rest/webhook\"\n\
         format = \"rasa\"\nbearer_token_file = \"/nonexistent/nlu-token\"\n[[responder]]\ntype = \"rules\"\n",
    );
    for command in ["check", "run"] {
        let out = gws_botd(&[command], &missing);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{command}: {err}");
        assert!(
            err.contains("responder[1].bearer_token_file: cannot read bearer_token_file /nonexistent/nlu-token"),
            "{command}: {err}"
        );
    }
    let remote = config(
        "[[responder]]\ntype = \"webhook\"\nurl = \"http://nlu.example/hook\"\nformat = \"native\"\n",
    );
    let err = String::from_utf8_lossy(&gws_botd(&["check"], &remote).stderr).into_owned();
    assert!(err.contains("plain http:// to nlu.example"), "{err}");
    let good = config(
        "[[responder]]\ntype = \"webhook\"\nurl = \"https://nlu.example/hook\"\nformat = \"native\"\n\
         timeout = \"1s\"\non_error = \"hand_over\"\n[[responder]]\ntype = \"rules\"\n",
    );
    let out = gws_botd(&["check"], &good);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
