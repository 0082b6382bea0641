//! Interaction operations, consultations, history and scripted customers.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;

#[tokio::test(start_paused = true)]
async fn accept_sends_status_change_then_history_and_ops_check_state() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let id = control.create_chat(ChatSpec {
        first_message: Some("Hi".into()),
        ..ChatSpec::default()
    });
    bot.until("NewInteraction").await;
    assert_eq!(
        bot.op(&id, json!({"operationName":"SendMessage","text":"x"}))
            .await,
        2
    );
    assert_eq!(
        bot.op(&id, json!({"operationName":"Accept"})).await,
        1,
        "nickname missing"
    );
    assert_eq!(bot.op(&id, json!({"operationName":"Fly"})).await, 1);
    assert_eq!(
        bot.op("nope", json!({"operationName":"Accept","nickname":"B"}))
            .await,
        6
    );
    assert_eq!(
        bot.op(&id, json!({"operationName":"Accept","nickname":"Botty"}))
            .await,
        0
    );
    let notes = bot.until("ChatHistory").await;
    let k = kinds(&notes);
    let (status, history) = (
        k.iter().position(|k| k == "StatusChange"),
        k.iter().position(|k| k == "ChatHistory"),
    );
    assert!(status.unwrap() < history.unwrap(), "{k:?}");
    let live = &notes[status.unwrap()]["interaction"];
    assert_eq!(live["state"], "Chatting");
    assert!(
        live["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("SendMessage"))
    );
    assert!(
        live["participants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["type"] == "Agent" && p["nickname"] == "Botty")
    );
    let history = notes[history.unwrap()]["messages"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["text"], "Hi");

    assert_eq!(
        bot.op(&id, json!({"operationName":"Accept","nickname":"B"}))
            .await,
        2
    );
    assert_eq!(bot.op(&id, json!({"operationName":"SendMessage"})).await, 1);
    assert_eq!(
        bot.op(
            &id,
            json!({"operationName":"SendNotification","notifcation":"Dancing"})
        )
        .await,
        10
    );
    assert_eq!(
        bot.op(
            &id,
            json!({"operationName":"SendNotification","notifcation":"TypingStarted"})
        )
        .await,
        0
    );
    assert_eq!(
        bot.op(&id, json!({"operationName":"Transfer","skill":"Nope"}))
            .await,
        6
    );
    assert_eq!(
        bot.op(
            &id,
            json!({"operationName":"SendMessage","text":"Hello Pat"})
        )
        .await,
        0
    );
    let notes = bot.until("NewMessages").await;
    let echo: Vec<&Value> = notes
        .iter()
        .flat_map(|d| d["messages"].as_array().unwrap().iter())
        .collect();
    assert!(
        echo.iter()
            .any(|m| m["text"] == "Hello Pat" && m["from"]["type"] == "Agent"),
        "{echo:?}"
    );
    assert!(!echo.iter().any(|m| m["type"] == "TypingStarted"));
    assert_eq!(
        bot.op(&id, json!({"operationName":"StopProcessing"})).await,
        0
    );
    assert_eq!(
        control.chat(&id).unwrap().outcome,
        Some(ChatOutcome::ClosedByBot)
    );
    assert_eq!(
        bot.op(&id, json!({"operationName":"SendMessage","text":"late"}))
            .await,
        2
    );
    assert_eq!(control.violations().len(), 2, "{:?}", control.violations());
    let completed = bot.until("StatusChange").await;
    let last = completed
        .iter()
        .rfind(|d| d["notificationType"] == "StatusChange")
        .unwrap();
    assert_eq!(last["interaction"]["state"], "Completed");
    assert_eq!(last["interaction"]["capabilities"], json!([]));
}

#[tokio::test(start_paused = true)]
async fn consulted_agent_joins_after_delay_then_transfer_completes() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let (id, _) = bot.accept_new(&sim, ChatSpec::default()).await;
    assert_eq!(
        bot.op(&id, json!({"operationName":"CompleteTransfer"}))
            .await,
        2
    );
    assert_eq!(
        bot.op(
            &id,
            json!({"operationName":"StartChatConsultation","agentId":"ghost"})
        )
        .await,
        6
    );
    // Lee never joins; Sam replaces him and joins after 2 s.
    assert_eq!(
        bot.op(
            &id,
            json!({"operationName":"StartChatConsultation","agentId":"agent-201"})
        )
        .await,
        0
    );
    let started = tokio::time::Instant::now();
    assert_eq!(
        bot.op(
            &id,
            json!({"operationName":"StartChatConsultation","agentId":"agent-101"})
        )
        .await,
        0
    );
    assert_eq!(
        bot.op(&id, json!({"operationName":"CompleteTransfer"}))
            .await,
        2
    );
    let notes = bot.until("ParticipantsUpdated").await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    let update = notes
        .iter()
        .find(|d| d["notificationType"] == "ParticipantsUpdated")
        .unwrap();
    let agents: Vec<&Value> = update["interaction"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "Agent")
        .collect();
    assert_eq!(agents.len(), 2);
    let sam = agents.iter().find(|p| p["nickname"] == "Sam").unwrap();
    let sam_pid = sam["participantId"].as_str().unwrap().to_owned();
    assert!(is_opaque(&sam_pid), "{sam_pid}");
    let notes = if kinds(&notes).iter().filter(|k| *k == "NewMessages").count() > 0 {
        notes
    } else {
        bot.until("NewMessages").await
    };
    let joined = notes
        .iter()
        .flat_map(|d| d["messages"].as_array().cloned().unwrap_or_default())
        .find(|m| m["type"] == "ParticipantJoined" && m["from"]["participantId"] == sam_pid)
        .unwrap();
    assert_eq!(joined["visibility"], "Agents");
    assert_eq!(
        bot.op(
            &id,
            json!({"operationName":"StartChatConsultation","agentId":"agent-102"})
        )
        .await,
        2
    );
    assert_eq!(
        bot.op(&id, json!({"operationName":"CompleteTransfer"}))
            .await,
        0
    );
    let chat = control.chat(&id).unwrap();
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToAgent("agent-101".into()))
    );
    assert!(
        chat.transcript
            .iter()
            .any(|e| e.nickname == "Sam" && e.kind == "Text")
    );
    assert!(!chat.transcript.iter().any(|e| e.nickname == "Lee"));
}

#[tokio::test(start_paused = true)]
async fn request_chat_history_returns_entries_after_event_id() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let (id, _) = bot
        .accept_new(
            &sim,
            ChatSpec {
                first_message: Some("one".into()),
                ..ChatSpec::default()
            },
        )
        .await;
    control.customer_says(&id, "two").unwrap();
    control.customer_says(&id, "three").unwrap();
    bot.until("NewMessages").await;
    let transcript = control.chat(&id).unwrap().transcript;
    let cursor = transcript
        .iter()
        .find(|e| e.text.as_deref() == Some("two"))
        .unwrap()
        .event_id
        .clone();
    assert_eq!(
        bot.op(
            &id,
            json!({"operationName":"RequestChatHistory","eventId":cursor})
        )
        .await,
        0
    );
    let notes = bot.until("ChatHistory").await;
    let history = notes
        .iter()
        .rfind(|d| d["notificationType"] == "ChatHistory")
        .unwrap();
    let texts: Vec<&Value> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["text"])
        .collect();
    assert_eq!(texts, vec![&json!("three")]);
    assert_eq!(
        bot.op(
            &id,
            json!({"operationName":"RequestChatHistory","eventId":"e-999"})
        )
        .await,
        0
    );
    let notes = bot.until("ChatHistory").await;
    let history = notes
        .iter()
        .rfind(|d| d["notificationType"] == "ChatHistory")
        .unwrap();
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        transcript.len()
    );
}

#[tokio::test(start_paused = true)]
async fn customer_script_and_leaving() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let script = vec![
        Step::Say {
            after: Duration::from_secs(1),
            text: "question".into(),
        },
        Step::AwaitReply,
        Step::Leave {
            after: Duration::from_secs(1),
        },
    ];
    let (id, _) = bot
        .accept_new(
            &sim,
            ChatSpec {
                script,
                ..ChatSpec::default()
            },
        )
        .await;
    let notes = bot.until("NewMessages").await;
    let notes = if notes.iter().any(|d| d["messages"][0]["text"] == "question") {
        notes
    } else {
        bot.until("NewMessages").await
    };
    assert!(
        notes.iter().any(|d| d["messages"][0]["text"] == "question"),
        "{notes:?}"
    );
    assert!(control.chat(&id).unwrap().customer_present);
    assert_eq!(
        bot.op(&id, json!({"operationName":"SendMessage","text":"answer"}))
            .await,
        0
    );
    let notes = bot.until("ParticipantsUpdated").await;
    let update = notes
        .iter()
        .find(|d| d["notificationType"] == "ParticipantsUpdated")
        .unwrap();
    assert!(
        update["interaction"]["participants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["type"] != "Customer")
    );
    assert_eq!(
        control.customer_says(&id, "x"),
        Err(SimError::CustomerLeft(id.clone()))
    );
    assert_eq!(
        bot.op(&id, json!({"operationName":"StopProcessing"})).await,
        0
    );
    let chat = control.chat(&id).unwrap();
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    let kinds: Vec<&str> = chat.transcript.iter().map(|e| e.kind.as_str()).collect();
    assert!(
        kinds.ends_with(&["Text", "ParticipantLeft", "ParticipantLeft"]),
        "{kinds:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn reject_transfers_conference_and_user_data() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut events = control.subscribe();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;

    let rejected = control.create_chat(ChatSpec::default());
    bot.until("NewInteraction").await;
    assert_eq!(
        bot.op(&rejected, json!({"operationName":"Reject"})).await,
        0
    );
    assert_eq!(
        control.chat(&rejected).unwrap().outcome,
        Some(ChatOutcome::Rejected)
    );
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    let ended = SimEvent::Ended {
        chat: rejected.clone(),
        outcome: ChatOutcome::Rejected,
    };
    let queued = SimEvent::State {
        chat: rejected.clone(),
        state: ChatState::Queued,
    };
    assert!(seen.contains(&ended) && seen.contains(&queued), "{seen:?}");

    let mut user_data = serde_json::Map::new();
    user_data.insert("Subject".into(), json!("refund"));
    let (id, _) = bot
        .accept_new(
            &sim,
            ChatSpec {
                user_data,
                ..ChatSpec::default()
            },
        )
        .await;
    assert_eq!(
        bot.op(
            &id,
            json!({"operationName":"UpdateUserData","userData":"x"})
        )
        .await,
        1
    );
    assert_eq!(
        bot.op(
            &id,
            json!({"operationName":"UpdateUserData","userData":{"Topic":"billing"}})
        )
        .await,
        0
    );
    let notes = bot.until("PropertiesUpdated").await;
    let props = notes
        .iter()
        .find(|d| d["notificationType"] == "PropertiesUpdated")
        .unwrap();
    assert_eq!(
        props["interaction"]["userData"],
        json!({"Subject":"refund","Topic":"billing"})
    );
    assert_eq!(bot.op(&id, json!({"operationName":"Transfer"})).await, 1);
    assert_eq!(
        bot.op(
            &id,
            json!({"operationName":"Transfer","agentId":"agent-999"})
        )
        .await,
        6
    );
    assert_eq!(
        bot.op(&id, json!({"operationName":"Transfer","skill":"Billing"}))
            .await,
        0
    );
    assert_eq!(
        control.chat(&id).unwrap().outcome,
        Some(ChatOutcome::TransferredToSkill("Billing".into()))
    );
    assert!(
        bot.get("/me/interactions?fields=*").await["interactions"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let (id, _) = bot.accept_new(&sim, ChatSpec::default()).await;
    assert_eq!(
        bot.op(&id, json!({"operationName":"LeaveChatConsultation"}))
            .await,
        2
    );
    assert_eq!(
        bot.op(
            &id,
            json!({"operationName":"StartChatConsultation","agentId":"agent-102"})
        )
        .await,
        0
    );
    bot.until("ParticipantsUpdated").await;
    assert_eq!(
        bot.op(&id, json!({"operationName":"LeaveChatConsultation"}))
            .await,
        0
    );
    let chat = control.chat(&id).unwrap();
    assert_eq!(
        (chat.state, chat.outcome, chat.conference),
        (ChatState::Chatting, None, Some("agent-102".into())),
        "a conference keeps the bot in"
    );
    assert_eq!(
        bot.op(&id, json!({"operationName":"StopProcessing"})).await,
        0
    );
    assert_eq!(
        control.chat(&id).unwrap().outcome,
        Some(ChatOutcome::Conference("agent-102".into()))
    );
    assert!(
        control.violations().is_empty(),
        "{:?}",
        control.violations()
    );
}

#[tokio::test(start_paused = true)]
async fn customer_leaving_before_accept_abandons_the_chat() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let queued = control.create_chat(ChatSpec::default());
    control.customer_leaves(&queued).unwrap();
    assert_eq!(
        control.chat(&queued).unwrap().outcome,
        Some(ChatOutcome::Abandoned)
    );
    assert_eq!(
        control.customer_says(&queued, "hi"),
        Err(SimError::ChatEnded(queued.clone()))
    );
    assert_eq!(
        control.customer_says("nope", "hi"),
        Err(SimError::UnknownChat("nope".into()))
    );

    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let invited = control.create_chat(ChatSpec::default());
    bot.until("NewInteraction").await;
    control.customer_leaves(&invited).unwrap();
    let notes = bot.until("StatusChange").await;
    let gone = notes
        .iter()
        .find(|d| d["notificationType"] == "StatusChange")
        .unwrap();
    assert_eq!(gone["interaction"]["state"], "Completed");
    assert_eq!(gone["interaction"]["capabilities"], json!([]));
    assert_eq!(
        bot.op(&invited, json!({"operationName":"Accept","nickname":"B"}))
            .await,
        2
    );
    assert!(
        control.violations().is_empty(),
        "racing an abandoned chat is no violation: {:?}",
        control.violations()
    );
}

#[tokio::test(start_paused = true)]
async fn megabyte_messages_pass_through() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let (id, _) = bot.accept_new(&sim, ChatSpec::default()).await;
    let big = "é".repeat(512 * 1024);
    assert_eq!(
        bot.op(&id, json!({"operationName":"SendMessage","text":big}))
            .await,
        0
    );
    control.customer_says(&id, &big).unwrap();
    let mut texts = Vec::new();
    while texts.len() < 2 {
        for d in bot.connect().await {
            for m in d["messages"].as_array().cloned().unwrap_or_default() {
                if m["type"] == "Text" {
                    texts.push(m["text"].as_str().unwrap().len());
                }
            }
        }
    }
    assert_eq!(texts, vec![big.len(), big.len()]);
    let recorded = control
        .requests()
        .into_iter()
        .rfind(|r| r.operation.as_deref() == Some("SendMessage"))
        .unwrap();
    assert!(recorded.body["text"].as_str().unwrap().len() < 100 * 1024);
}
