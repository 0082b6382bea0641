//! Bugs the chaos runs found, each reproduced on purpose (the chaos seed that found it is
//! named; it is also among the suite's fixed seeds).

use std::time::Duration;

use gws_botd::sim::SimDialect;
use serde_json::json;

use crate::support::*;

const GREETING: &str = "Hi Pat, I'm Ava. How can I help?";
const HOURS: &str = "We're open 8 to 18.";

/// An answer whose send timed out is checked in the transcript. Two copies of an older
/// transcript (a catch-up's reply delivered twice) reach the chat while the send waits: they
/// answer an earlier request and do not show the answer; taken for the check's reply, they
/// made the bot send it again (soak seed 1853431013489728293: two "rephrase" answers to one
/// message). `interactions`: there the transcript comes as a notification.
#[tokio::test]
async fn an_old_transcript_waiting_in_the_inbox_does_not_answer_the_send_check() {
    let h = Harness::start_with(sim_config_in(SimDialect::Interactions), RULES, |c| {
        c.gws.request_timeout = Duration::from_secs(1)
    })
    .await;
    let id = h.chat("Pat", vec![]);
    h.wait_chat(&id, "greeting", |c| texts_from(c, "Agent").len() == 1)
        .await;
    h.control
        .slow_reply("SendMessage", 1, Duration::from_secs(3));
    let sends = h.count("SendMessage");
    h.control.customer_says(&id, "when are you open").unwrap();
    wait_until("the slow answer", || {
        (h.count("SendMessage") > sends).then_some(())
    })
    .await;
    let old = json!({
        "messageType": "InteractionStateMessage",
        "notificationType": "ChatHistory",
        "interaction": {"id": id, "channel": "chat"},
        "messages": [],
    });
    for _ in 0..2 {
        h.control
            .inject("bot01", "/v2/me/interactions", old.clone());
    }
    let checks = h.history_requests().len();
    wait_until("the transcript check", || {
        (h.history_requests().len() > checks).then_some(())
    })
    .await;
    h.control.customer_says(&id, "bye").unwrap();
    h.wait_outcome(&id).await;
    assert_eq!(h.bot_texts(&id), [GREETING, HOURS, "Goodbye!"]);
}
