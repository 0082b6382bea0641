//! Bad input and faults: wrong password, GWS errors, lost CometD sessions, hostile messages.

use std::time::Duration;

use gws_botd::sim::{ChatOutcome, Fault, Sim, Step};

use gws_botd::sim::SimDialect;

use crate::support::*;

#[tokio::test]
async fn a_wrong_password_backs_off_instead_of_looping() {
    let mut h = Harness::start_unready(sim_config(), RULES, |c| {
        c.gws.password = secrecy::SecretString::from("wrong".to_owned());
    })
    .await;
    let attempts = wait_sim(&h.control, "three refused logins", |c| {
        let refused: Vec<_> = c
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.http_status == 401)
            .collect();
        (refused.len() >= 3).then_some(refused)
    })
    .await;
    // The auth back-off (300 ms doubling in the test tuning) separates attempts.
    for pair in attempts.windows(2) {
        assert!(
            pair[1].at - pair[0].at >= Duration::from_millis(300),
            "{:?}",
            (pair[0].at, pair[1].at)
        );
    }
    assert!(h.daemon_running(), "a wrong password is not fatal");
    assert!(!h.control.requests().iter().any(|r| r.method == "POST"));
    h.stop().await.unwrap();
}

async fn a_status_code_error_hands_the_chat_on_instead_of_leaving_it(d: SimDialect) {
    let h = Harness::start_with(sim_config_in(d), RULES, |c| {
        c.bot.fallback_skill = Some("Support".into())
    })
    .await;
    // The customer waits a little after the greeting so the fault is armed before the answer.
    let id = h.chat(
        "Nell",
        vec![Step::AwaitReply, say(500, "when are you open")],
    );
    h.wait_chat(&id, "greeting", |c| texts_from(c, "Agent").len() == 1)
        .await;
    // The answer to the next message fails with a final statusCode.
    // Aimed at the answer: the periodic reconcile's history requests must not take it.
    h.control.fail_operation(
        "SendMessage",
        1,
        Fault::StatusCode(3, "operation forbidden".into()),
    );
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToSkill("Support".into()))
    );
}

async fn http_5xx_is_retried(d: SimDialect) {
    let h = Harness::start_in(d).await;
    h.control.fail_operation("Accept", 2, Fault::Http(503));
    let id = h.chat("Ola", vec![Step::AwaitReply, say(0, "bye")]);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    let accepts = h.operations(&id).iter().filter(|o| *o == "Accept").count();
    assert_eq!(accepts, 3, "two failed attempts and one that worked");
}

#[tokio::test]
async fn connection_refused_at_start_is_retried_until_gws_is_up() {
    // Find a free port, then start the daemon before anything listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let placeholder = Sim::start(sim_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = rules_dir(RULES);
    let mut config = gws_botd::cli::demo::daemon_config(&placeholder, &sim_config(), &dir);
    config.gws.api_url = format!("http://{addr}/api/v2");
    placeholder.shutdown().await;
    let rules = gws_botd::responder::rules::RuleSet::load_dir(&dir).unwrap();
    let chain = gws_botd::runtime::daemon::build_chain(
        &config,
        &std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(rules)),
    )
    .expect("the chain builds");
    let shutdown = tokio_util::sync::CancellationToken::new();
    // The daemon runs on this test's thread, so its log lines come here.
    let mut log = LogCapture::start("gws_botd=warn");
    let daemon = tokio::spawn(gws_botd::runtime::daemon::run(
        config,
        chain,
        tuning(),
        Default::default(),
        shutdown.clone(),
    ));
    // Refused, and tried again after the back-off: still running.
    for _ in 0..2 {
        let line = log.next_with("cannot reach GWS to log in").await;
        assert!(line.contains("retry_in"), "{line}");
    }
    assert!(!daemon.is_finished());
    let sim = Sim::start(sim_config(), addr).await.unwrap();
    let control = sim.control();
    wait_sim(&control, "Ready", |c| {
        c.requests()
            .into_iter()
            .find(|r| r.operation.as_deref() == Some("Ready"))
    })
    .await;
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

async fn a_lost_cometd_session_is_recovered_and_missed_messages_answered_once(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let id = h.chat("Gus", vec![]);
    h.wait_chat(&id, "greeting", |c| texts_from(c, "Agent").len() == 1)
        .await;
    h.control.drop_cometd_sessions();
    // Said while the bot's CometD client is unknown to the server: the notification is lost.
    h.control.customer_says(&id, "when are you open").unwrap();
    h.wait_chat(&id, "answer after catch-up", |c| {
        texts_from(c, "Agent").len() == 2
    })
    .await;
    let handshakes = h
        .control
        .requests()
        .iter()
        .filter(|r| r.body.to_string().contains("/meta/handshake"))
        .count();
    assert!(handshakes >= 2, "re-handshake");
    let history = h.history_requests().pop().expect("catch-up request");
    if d == SimDialect::Interactions {
        assert!(
            history.body["eventId"].is_string(),
            "catch-up from the cursor: {}",
            history.body
        );
    }
    h.control.customer_says(&id, "bye").unwrap();
    h.wait_outcome(&id).await;
    assert_eq!(
        h.bot_texts(&id),
        vec![
            "Hi Gus, I'm Ava. How can I help?",
            "We're open 8 to 18.",
            "Goodbye!"
        ],
        "no message lost or answered twice"
    );
    let subscribes = h
        .control
        .requests()
        .iter()
        .filter(|r| r.body.to_string().contains("/meta/subscribe"))
        .count();
    assert!(subscribes >= 2, "re-subscribe after the re-handshake");
}

async fn a_huge_customer_message_is_handled(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let huge = "x".repeat(1024 * 1024);
    let id = h.chat(
        "Big",
        vec![
            Step::AwaitReply,
            say(0, &huge),
            Step::AwaitReply,
            say(0, "bye"),
        ],
    );
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    assert_eq!(h.bot_texts(&id).len(), 3);
}

async fn a_malformed_cometd_response_is_survived_and_its_messages_caught_up(d: SimDialect) {
    use gws_botd::sim::Corruption;
    let h = Harness::start_in(d).await;
    let id = h.chat("Mal", vec![]);
    h.wait_chat(&id, "greeting", |c| texts_from(c, "Agent").len() == 1)
        .await;
    h.control
        .corrupt_next_delivery(Corruption::Body("[{\"channel\": \"/v2/me/inter".into()));
    h.control.customer_says(&id, "when are you open").unwrap();
    h.wait_chat(&id, "answer after catch-up", |c| {
        texts_from(c, "Agent").len() == 2
    })
    .await;
    // A duplicate would come before the answer to a later message ("bye" ends the chat).
    h.control.customer_says(&id, "bye").unwrap();
    h.wait_outcome(&id).await;
    assert_eq!(
        h.bot_texts(&id).len(),
        3,
        "answered exactly once, then goodbye"
    );
    assert!(!h.history_requests().is_empty(), "caught up");
    assert!(h.stats.snapshot().reconnects >= 1);
}

#[tokio::test]
async fn invalid_unicode_escapes_in_a_customer_message_do_not_lose_it() {
    use gws_botd::sim::Corruption;
    let h = Harness::start().await;
    let id = h.chat("Uni", vec![]);
    h.wait_chat(&id, "greeting", |c| texts_from(c, "Agent").len() == 1)
        .await;
    h.control.corrupt_next_delivery(Corruption::Replace {
        from: "<LONE>".into(),
        to: "\\ud800".into(),
    });
    h.control
        .customer_says(&id, "when are you open <LONE>")
        .unwrap();
    h.wait_chat(&id, "answer", |c| texts_from(c, "Agent").len() == 2)
        .await;
    assert_eq!(h.bot_texts(&id)[1], "We're open 8 to 18.");
    // Repaired in place: no reconnect and no catch-up was needed.
    assert_eq!(h.stats.snapshot().reconnects, 0);
    assert!(!h.operations(&id).iter().any(|o| o == "RequestChatHistory"));
}

async fn unknown_types_and_missing_fields_are_skipped_and_the_bot_carries_on(d: SimDialect) {
    use serde_json::json;
    let h = Harness::start_in(d).await;
    let id = h.chat("Una", vec![]);
    h.wait_chat(&id, "greeting", |c| texts_from(c, "Agent").len() == 1)
        .await;
    let (topic, broken) = match d {
        SimDialect::Interactions => (
            "/v2/me/interactions",
            [
                json!({"messageType": "InteractionStateMessage", "notificationType": "NewMessages", "interaction": {}}),
                json!({"messageType": "InteractionStateMessage", "notificationType": "NewMessages",
                       "interaction": {"id": id}, "messages": [{"type": "Text"}, {"eventId": 7}, "junk"]}),
            ],
        ),
        SimDialect::Chats => (
            "/v2/me/chats",
            [
                json!({"messageType": "ChatStateChangeMessage", "notificationType": "StatusChange", "chat": {}}),
                json!({"messageType": "MessageLogUpdated", "chatPath": format!("/chats/{id}"),
                       "messages": [{"type": "Text"}, {"index": "x"}, "junk"]}),
            ],
        ),
    };
    for n in 1..=2 {
        h.control.inject(
            "bot01",
            topic,
            json!({"messageType": "BrandNewThing", "x": n}),
        );
    }
    for payload in broken {
        h.control.inject("bot01", topic, payload);
    }
    h.control
        .inject("bot01", topic, json!("not even an object"));
    h.control.customer_says(&id, "when are you open").unwrap();
    h.wait_chat(&id, "answer", |c| texts_from(c, "Agent").len() == 2)
        .await;
    let snap = h.stats.snapshot();
    assert_eq!(snap.notifications_unknown, 2, "{snap:?}");
    assert!(snap.notifications_ignored >= 2, "{snap:?}");
    assert_eq!(h.bot_texts(&id)[1], "We're open 8 to 18.");
    // Repaired in place: no reconnect and no catch-up was needed.
    assert_eq!(h.stats.snapshot().reconnects, 0);
    // The transcript read after Accept (`chats`) is the only history request: no catch-up.
    let after_accept = usize::from(d == SimDialect::Chats);
    assert_eq!(h.history_requests().len(), after_accept);
}

per_dialect!(
    unknown_types_and_missing_fields_are_skipped_and_the_bot_carries_on,
    a_status_code_error_hands_the_chat_on_instead_of_leaving_it,
    http_5xx_is_retried,
    a_lost_cometd_session_is_recovered_and_missed_messages_answered_once,
    a_huge_customer_message_is_handled,
    a_malformed_cometd_response_is_survived_and_its_messages_caught_up,
);
