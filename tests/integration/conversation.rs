//! Conversations: greeting, answers, closing, customers who leave, early messages.

use gws_botd::sim::{ChatOutcome, ChatSpec, Step};

use gws_botd::sim::SimDialect;

use crate::support::*;

async fn greets_the_customer_by_name_after_typing(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let id = h.chat("Pat", vec![]);
    h.wait_chat(&id, "greeting", |c| texts_from(c, "Agent").len() == 1)
        .await;
    assert_eq!(h.bot_texts(&id), vec!["Hi Pat, I'm Ava. How can I help?"]);
    let ops = h.operations(&id);
    assert_eq!(
        ops[..3],
        ["Accept", h.wire("SendNotification"), "SendMessage"],
        "{ops:?}"
    );
    let accept = h.request("Accept");
    assert_eq!(accept.body["nickname"], "Ava");
    let typing = h.request(h.wire("SendNotification"));
    match d {
        SimDialect::Interactions => {
            assert_eq!(
                typing.body["notifcation"], "TypingStarted",
                "the seed's spelling"
            );
            assert_eq!(typing.body["notification"], "TypingStarted");
        }
        SimDialect::Chats => assert_eq!(
            typing.body,
            serde_json::json!({"operationName":"SendStartTypingNotification"})
        ),
    }
}

async fn answers_a_question_and_closes_on_goodbye(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let id = h.chat(
        "Jordan",
        vec![
            Step::AwaitReply,
            say(0, "When are you open?"),
            Step::AwaitReply,
            say(0, "ok bye"),
        ],
    );
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    assert_eq!(
        h.bot_texts(&id),
        vec![
            "Hi Jordan, I'm Ava. How can I help?",
            "We're open 8 to 18.",
            "Goodbye!"
        ]
    );
    let ops = h.operations(&id);
    match d {
        SimDialect::Interactions => assert_eq!(ops.last().unwrap(), "StopProcessing"),
        SimDialect::Chats => assert_eq!(ops[ops.len() - 2..], ["Leave", "Complete"]),
    }
    assert!(
        h.control.violations().is_empty(),
        "{:?}",
        h.control.violations()
    );
}

async fn unmatched_messages_get_the_no_match_rule(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let id = h.chat("Kai", vec![Step::AwaitReply, say(0, "blue elephants")]);
    h.wait_chat(&id, "rephrase", |c| texts_from(c, "Agent").len() == 2)
        .await;
    assert_eq!(
        h.bot_texts(&id)[1],
        "Sorry, could you say that in other words?"
    );
}

async fn a_message_typed_before_accept_is_answered_once_after_the_greeting(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let id = h.control.create_chat(ChatSpec {
        customer: "Eli".into(),
        user_data: serde_json::Map::new(),
        first_message: Some("what are your opening hours".into()),
        script: vec![],
    });
    h.wait_chat(&id, "answer", |c| texts_from(c, "Agent").len() >= 2)
        .await;
    // A duplicate would come before the answer to a later message (each chat answers in
    // order, and "bye" ends it).
    h.control.customer_says(&id, "bye").unwrap();
    h.wait_outcome(&id).await;
    assert_eq!(
        h.bot_texts(&id),
        vec![
            "Hi Eli, I'm Ava. How can I help?",
            "We're open 8 to 18.",
            "Goodbye!"
        ]
    );
}

async fn a_customer_who_leaves_gets_the_chat_closed(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let id = h.chat(
        "Robin",
        vec![
            Step::AwaitReply,
            Step::Leave {
                after: std::time::Duration::ZERO,
            },
        ],
    );
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    assert!(!chat.customer_present);
}

async fn attach_updates_the_user_data(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let id = h.chat("Vic", vec![Step::AwaitReply, say(0, "I am a VIP")]);
    h.wait_for_request("UpdateUserData", |r| {
        r.operation.as_deref() == Some("UpdateUserData")
    })
    .await;
    let req = h.request("UpdateUserData");
    assert_eq!(req.body["userData"]["Segment"], "VIP");
    h.wait_chat(&id, "reply", |c| texts_from(c, "Agent").len() == 2)
        .await;
}

async fn many_chats_run_concurrently_each_in_order(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let ids: Vec<String> = (0..20)
        .map(|i| {
            h.chat(
                &format!("C{i}"),
                vec![
                    Step::AwaitReply,
                    say(0, "when are you open"),
                    Step::AwaitReply,
                    say(0, "bye"),
                ],
            )
        })
        .collect();
    for id in &ids {
        let chat = h.wait_outcome(id).await;
        assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
        let texts = h.bot_texts(id);
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert_eq!(texts[1], "We're open 8 to 18.");
    }
    let snap = h.stats.snapshot();
    assert_eq!(snap.chats_accepted, 20);
    assert_eq!(snap.rule_hits["hours"], 20);
}

per_dialect!(
    greets_the_customer_by_name_after_typing,
    answers_a_question_and_closes_on_goodbye,
    unmatched_messages_get_the_no_match_rule,
    a_message_typed_before_accept_is_answered_once_after_the_greeting,
    a_customer_who_leaves_gets_the_chat_closed,
    attach_updates_the_user_data,
    many_chats_run_concurrently_each_in_order,
);
