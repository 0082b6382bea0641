//! The reading switches of [`Readings`]: each produces the form its doc promises, and the
//! defaults stay §12's readings.

use super::*;

fn with(dialect: SimDialect, readings: Readings) -> SimConfig {
    SimConfig {
        dialect,
        readings,
        ..SimConfig::default()
    }
}

fn messages(notes: &[Value]) -> Vec<Value> {
    notes
        .iter()
        .flat_map(|d| d["messages"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn defaults_are_the_notes_readings_and_json_may_leave_anything_out() {
    let r: Readings = serde_json::from_str("{}").unwrap();
    assert_eq!(r, Readings::default());
    assert!(r.history_after_accept);
    assert_eq!(r.customer_leaves, Notices::EntryFirst);
    let c: SimConfig = serde_json::from_str(
        r#"{"participants":"named","join_notices":"entry_only",
            "readings":{"event_ids":"opaque","handed_over":"Revoked"}}"#,
    )
    .unwrap();
    assert_eq!(c.participants, ParticipantForm::Named);
    assert_eq!(c.join_notices, JoinNotices::EntryOnly);
    assert_eq!(c.readings.event_ids, EventIds::Opaque);
    assert_eq!(c.readings.handed_over, HandedOverState::Revoked);
    assert!(c.readings.history_after_accept);
    let d = SimConfig::default();
    assert_eq!(
        (d.participants, d.join_notices),
        (ParticipantForm::Minimal, JoinNotices::ParticipantsFirst)
    );
}

#[tokio::test(start_paused = true)]
async fn opaque_event_ids_and_history_from_an_event_id() {
    for start_at in [HistoryStart::After, HistoryStart::From] {
        let readings = Readings {
            event_ids: EventIds::Opaque,
            history_start: start_at,
            ..Readings::default()
        };
        let sim = start(with(SimDialect::Interactions, readings)).await;
        let mut bot = Bot::login(&sim).await;
        bot.go_ready().await;
        let spec = ChatSpec {
            first_message: Some("one".into()),
            ..ChatSpec::default()
        };
        let (id, notes) = bot.accept_new(&sim, spec).await;
        let history = messages(&notes);
        assert!(history.len() >= 2);
        for m in &history {
            assert!(is_opaque(m["eventId"].as_str().unwrap()), "{m}");
        }
        sim.control().customer_says(&id, "two").unwrap();
        bot.until("NewMessages").await;
        let first_text = history.iter().find(|m| m["text"] == "one").unwrap();
        let body = json!({"operationName":"RequestChatHistory","eventId":first_text["eventId"]});
        assert_eq!(bot.op(&id, body).await, 0);
        let texts: Vec<Value> = messages(&bot.until("ChatHistory").await)
            .into_iter()
            .filter(|m| m["type"] == "Text")
            .map(|m| m["text"].clone())
            .collect();
        let expected = match start_at {
            HistoryStart::After => json!(["two"]),
            HistoryStart::From => json!(["one", "two"]),
        };
        assert_eq!(json!(texts), expected, "{start_at:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn without_the_history_push_the_client_asks_for_it() {
    let readings = Readings {
        history_after_accept: false,
        ..Readings::default()
    };
    let sim = start(with(SimDialect::Interactions, readings)).await;
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let id = sim.control().create_chat(ChatSpec {
        first_message: Some("early".into()),
        ..ChatSpec::default()
    });
    bot.until("NewInteraction").await;
    let accept = json!({"operationName":"Accept","nickname":"Botty"});
    assert_eq!(bot.op(&id, accept).await, 0);
    let notes = bot.until("NewMessages").await;
    assert_eq!(kinds(&notes), ["StatusChange", "NewMessages"]);
    let ask = json!({"operationName":"RequestChatHistory"});
    assert_eq!(bot.op(&id, ask).await, 0);
    let history = messages(&bot.until("ChatHistory").await);
    assert!(history.iter().any(|m| m["text"] == "early"));
}

#[tokio::test(start_paused = true)]
async fn each_customer_leaving_notice_form() {
    let cases = [
        (
            Notices::EntryFirst,
            vec!["NewMessages", "ParticipantsUpdated"],
        ),
        (
            Notices::ParticipantsFirst,
            vec!["ParticipantsUpdated", "NewMessages"],
        ),
        (Notices::ParticipantsOnly, vec!["ParticipantsUpdated"]),
        (Notices::EntryOnly, vec!["NewMessages"]),
    ];
    for dialect in [SimDialect::Interactions, SimDialect::Chats] {
        for (form, expected) in &cases {
            let readings = Readings {
                customer_leaves: *form,
                ..Readings::default()
            };
            let sim = start(with(dialect, readings)).await;
            let mut bot = Bot::login(&sim).await;
            bot.go_ready().await;
            let (id, _) = match dialect {
                SimDialect::Interactions => bot.accept_new(&sim, ChatSpec::default()).await,
                SimDialect::Chats => bot.accept_chat(&sim, ChatSpec::default()).await,
            };
            sim.control().customer_leaves(&id).unwrap();
            let notes = bot.connect().await;
            assert_eq!(kinds(&notes), *expected, "{dialect} {form:?}");
            let written = sim
                .control()
                .chat(&id)
                .unwrap()
                .transcript
                .iter()
                .any(|e| e.kind == "ParticipantLeft" && e.from_type == "Customer");
            assert_eq!(written, form.writes_entry());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn capabilities_reversed_flat_layout_and_revoked_after_a_hand_over() {
    let readings = Readings {
        capabilities: CapabilityOrder::Reversed,
        layout: Layout::Flat,
        handed_over: HandedOverState::Revoked,
        ..Readings::default()
    };
    let sim = start(with(SimDialect::Interactions, readings)).await;
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let id = sim.control().create_chat(ChatSpec::default());
    let notes = bot.until("NewInteraction").await;
    let offer = notes
        .iter()
        .find(|d| d["notificationType"] == "NewInteraction")
        .unwrap();
    assert_eq!(offer["messageTypeName"], "InteractionStateMessage");
    assert!(offer.get("messageType").is_none() && offer.get("interaction").is_none());
    assert_eq!(offer["id"], json!(id));
    assert_eq!(offer["capabilities"], json!(["Reject", "Accept"]));
    let accept = json!({"operationName":"Accept","nickname":"Botty"});
    assert_eq!(bot.op(&id, accept).await, 0);
    let notes = bot.until("ChatHistory").await;
    let caps = notes[0]["capabilities"].as_array().unwrap();
    assert_eq!(caps.first().unwrap(), "UpdateUserData");
    assert_eq!(caps.last().unwrap(), "SendMessage");
    let transfer = json!({"operationName":"Transfer","skill":"Billing"});
    assert_eq!(bot.op(&id, transfer).await, 0);
    let notes = bot.until("StatusChange").await;
    assert_eq!(notes.last().unwrap()["state"], "Revoked");

    let sim = start(with(
        SimDialect::Chats,
        Readings {
            handed_over: HandedOverState::Revoked,
            ..Readings::default()
        },
    ))
    .await;
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let (id, _) = bot.accept_chat(&sim, ChatSpec::default()).await;
    let transfer = json!({"operationName":"Transfer","queueName":"Billing"});
    assert_eq!(bot.cop(&id, transfer).await, 0);
    let notes = bot.until("StatusChange").await;
    assert_eq!(state_changes(&notes, "Revoked").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_seeds_status_replies() {
    let readings = Readings {
        status_form: StatusForm::Seed,
        ..Readings::default()
    };
    let sim = start(with(SimDialect::Interactions, readings)).await;
    let mut bot = Bot::login(&sim).await;
    bot.handshake().await;
    let early = bot
        .post("/me/channels/chat", json!({"operationName":"Ready"}))
        .await;
    assert_eq!(early["status"], "error");
    assert!(early["errorDescription"].is_string() && early.get("statusCode").is_none());
    let start_session = json!({"operationName":"StartContactCenterSession","channels":["chat"]});
    assert_eq!(bot.post("/me", start_session).await["statusCode"], 0);
    let ready = bot
        .post("/me/channels/chat", json!({"operationName":"Ready"}))
        .await;
    assert_eq!(ready, json!({"status":"ok"}));
    let (id, _) = bot.accept_new(&sim, ChatSpec::default()).await;
    let consult = json!({"operationName":"StartChatConsultation","agentId":"agent-101"});
    let reply = bot.post(&format!("/me/interactions/{id}"), consult).await;
    assert_eq!(reply, json!({"status":0}));
    let early = json!({"operationName":"CompleteTransfer"});
    let reply = bot.post(&format!("/me/interactions/{id}"), early).await;
    assert_eq!(reply["status"], 2);
    let send = json!({"operationName":"SendMessage","text":"hi"});
    let reply = bot.post(&format!("/me/interactions/{id}"), send).await;
    assert_eq!(reply["statusCode"], 0, "other operations keep statusCode");
    let recorded: Vec<Option<i64>> = sim
        .control()
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/me/channels/chat"))
        .map(|r| r.status_code)
        .collect();
    assert_eq!(recorded, [Some(2), Some(0)]);
}
