//! Conferences that keep the bot in, chats closed by others, and conferenced agents' scripts,
//! in both dialects.

use std::time::Duration;

use super::agents::{
    DIALECTS, chat_of, conference, config, last_participants, live, log_or_messages, op_any, shape,
};
use super::*;

#[tokio::test(start_paused = true)]
async fn a_conference_keeps_the_bot_in_until_it_finishes_its_part() {
    for dialect in DIALECTS {
        let sim = start(config(dialect)).await;
        let control = sim.control();
        let (bot, id, _) = live(&sim, ChatSpec::default()).await;
        conference(&bot, &sim, &id, "agent-101").await;
        let notes = bot.connect().await;
        let joined: Vec<Value> = log_or_messages(&notes)
            .into_iter()
            .filter(|m| m["type"] == "ParticipantJoined" && m["visibility"] == "All")
            .collect();
        assert_eq!(joined.len(), 1, "{dialect}: the customer sees Sam join");
        assert_eq!(joined[0]["from"]["nickname"], "Sam");
        let chat = control.chat(&id).unwrap();
        assert_eq!(chat.state, ChatState::Chatting);
        assert_eq!(chat.conference.as_deref(), Some("agent-101"));
        assert_eq!(chat.agents_present, ["agent-101"]);
        assert_eq!(chat.outcome, None);
        let body = json!({"operationName":"SendMessage","text":"Sam is here"});
        assert_eq!(op_any(&bot, &sim, &id, body).await, 0);
        control.customer_says(&id, "thanks").unwrap();
        assert!(
            log_or_messages(&bot.connect().await)
                .iter()
                .any(|m| m["text"] == "thanks"),
            "{dialect}: the bot still hears the customer"
        );
        match dialect {
            SimDialect::Interactions => {
                assert_eq!(
                    bot.op(&id, json!({"operationName":"StopProcessing"})).await,
                    0
                );
            }
            SimDialect::Chats => {
                assert_eq!(bot.cop(&id, json!({"operationName":"Leave"})).await, 0);
                assert_eq!(bot.cop(&id, json!({"operationName":"Complete"})).await, 0);
            }
        }
        let chat = control.chat(&id).unwrap();
        assert_eq!(
            chat.outcome,
            Some(ChatOutcome::Conference("agent-101".into()))
        );
        assert!(chat.customer_present, "the customer stays with Sam");
        control.agent_says(&id, "agent-101", "Still here").unwrap();
        assert!(
            control.violations().is_empty(),
            "{:?}",
            control.violations()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn complete_alone_once_the_customer_has_gone_after_a_conference() {
    let sim = start(config(SimDialect::Chats)).await;
    let control = sim.control();
    let (bot, id, _) = live(&sim, ChatSpec::default()).await;
    conference(&bot, &sim, &id, "agent-101").await;
    control.customer_leaves(&id).unwrap();
    assert_eq!(bot.cop(&id, json!({"operationName":"Complete"})).await, 0);
    assert_eq!(
        control.chat(&id).unwrap().outcome,
        Some(ChatOutcome::Conference("agent-101".into()))
    );
    assert!(
        control.violations().is_empty(),
        "{:?}",
        control.violations()
    );
}

#[tokio::test(start_paused = true)]
async fn close_chat_removes_the_customer_and_completes_the_bots_copy() {
    for dialect in DIALECTS {
        let sim = start(config(dialect)).await;
        let control = sim.control();
        let (bot, id, _) = live(&sim, ChatSpec::default()).await;
        control.close_chat(&id).unwrap();
        let notes = bot.connect().await;
        let s = shape(&notes);
        assert_eq!(&s[..2], ["E:ParticipantLeft", "P"], "{dialect}");
        assert!(
            !last_participants(&notes)
                .iter()
                .any(|p| p["type"] == "Customer")
        );
        let last = notes.last().unwrap();
        assert_eq!(chat_of(last)["state"], "Completed", "{dialect}");
        assert_eq!(chat_of(last)["capabilities"], json!([]));
        let chat = control.chat(&id).unwrap();
        assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByOthers));
        assert!(!chat.customer_present);
        assert_eq!(
            control.close_chat(&id),
            Err(SimError::ChatEnded(id.clone()))
        );
        assert_eq!(
            control.customer_says(&id, "late"),
            Err(SimError::ChatEnded(id.clone()))
        );

        // Closed by the conferenced agent.
        let (id, _) = match dialect {
            SimDialect::Interactions => bot.accept_new(&sim, ChatSpec::default()).await,
            SimDialect::Chats => bot.accept_chat(&sim, ChatSpec::default()).await,
        };
        conference(&bot, &sim, &id, "agent-102").await;
        control.close_chat(&id).unwrap();
        let chat = control.chat(&id).unwrap();
        assert_eq!(
            chat.outcome,
            Some(ChatOutcome::Conference("agent-102".into()))
        );
        assert!(chat.agents_present.is_empty());
        let queued = control.create_chat(ChatSpec::default());
        control.drop_cometd_sessions();
        assert_eq!(
            control.close_chat(&queued),
            Err(SimError::NotAccepted(queued.clone()))
        );
        assert!(
            control.violations().is_empty(),
            "{:?}",
            control.violations()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_conferenced_agent_plays_their_script_then_the_bot_talks_again() {
    for dialect in DIALECTS {
        let mut scripts = std::collections::BTreeMap::new();
        scripts.insert(
            "agent-101".to_owned(),
            vec![
                AgentStep::Say {
                    after: Duration::from_secs(1),
                    text: "Hello, Sam here".into(),
                },
                AgentStep::Leave {
                    after: Duration::from_secs(2),
                },
            ],
        );
        let sim = start(SimConfig {
            conference_scripts: scripts,
            ..config(dialect)
        })
        .await;
        let control = sim.control();
        let (bot, id, _) = live(&sim, ChatSpec::default()).await;
        conference(&bot, &sim, &id, "agent-101").await;
        let started = tokio::time::Instant::now();
        let notes = bot
            .until_where("Sam leaving", |d| {
                d["messages"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m["type"] == "ParticipantLeft"))
            })
            .await;
        assert!(started.elapsed() >= Duration::from_secs(3), "{dialect}");
        let sam: Vec<(String, String)> = log_or_messages(&notes)
            .iter()
            .filter(|m| m["from"]["nickname"] == "Sam")
            .map(|m| {
                let kind = m["type"].as_str().unwrap_or_default().to_owned();
                (
                    kind,
                    m["visibility"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let expected = [
            ("ParticipantJoined", "All"),
            ("Text", "All"),
            ("ParticipantLeft", "All"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(sam, expected, "{dialect}");
        assert!(control.chat(&id).unwrap().agents_present.is_empty());
        let body = json!({"operationName":"SendMessage","text":"I'm back"});
        assert_eq!(op_any(&bot, &sim, &id, body).await, 0);
        assert_eq!(control.chat(&id).unwrap().state, ChatState::Chatting);
    }
}

#[tokio::test(start_paused = true)]
async fn agent_scripts_stop_when_the_bots_part_ends() {
    let sim = start(config(SimDialect::Interactions)).await;
    let control = sim.control();
    control.set_conference_script(
        "agent-101",
        vec![AgentStep::Say {
            after: Duration::from_secs(5),
            text: "too late".into(),
        }],
    );
    let (bot, id, _) = live(&sim, ChatSpec::default()).await;
    conference(&bot, &sim, &id, "agent-101").await;
    control.close_chat(&id).unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let chat = control.chat(&id).unwrap();
    assert!(
        !chat
            .transcript
            .iter()
            .any(|e| e.text.as_deref() == Some("too late"))
    );
}
