//! The `chats` dialect over HTTP: the probe, listing, every operation valid and invalid per
//! state, history with `startIndex`, Leave → Complete, consultations and customers leaving.

use serde_json::json;

use super::*;

#[tokio::test(start_paused = true)]
async fn each_dialect_answers_the_other_ones_paths_with_404() {
    let chats = start(chats_config()).await;
    assert_eq!(chats.dialect(), SimDialect::Chats);
    let bot = Bot::login(&chats).await;
    assert_eq!(
        bot.get("/me/chats").await,
        json!({"statusCode":0,"chats":[]})
    );
    assert_eq!(
        bot.get("/me/chats?fields=*").await,
        json!({"statusCode":0,"chats":[]})
    );
    assert_eq!(bot.get_raw("/me/interactions").await.0, 404);
    assert_eq!(bot.get_raw("/me/interactions?fields=*").await.0, 404);
    let id = chats.control().create_chat(ChatSpec::default());
    let (status, _) = bot
        .post_raw(
            &format!("/me/interactions/{id}"),
            &json!({"operationName":"Accept","nickname":"B"}),
            bot.csrf.as_deref(),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = bot
        .post_raw(
            &format!("/me/chats/{id}/messages"),
            &json!({"operationName":"Accept","nickname":"B"}),
            bot.csrf.as_deref(),
        )
        .await;
    assert_eq!(status, 404, "messages is read with GET");

    let interactions = start(SimConfig::default()).await;
    assert_eq!(interactions.dialect(), SimDialect::Interactions);
    let bot = Bot::login(&interactions).await;
    assert_eq!(
        bot.get_raw("/me/chats").await,
        (404, "Not found".to_owned())
    );
    assert_eq!(bot.get_raw("/me/chats?fields=*").await.0, 404);
    assert_eq!(
        bot.get("/me/interactions").await,
        json!({"statusCode":0,"interactions":[]})
    );
}

#[tokio::test(start_paused = true)]
async fn subscriptions_and_routing_follow_the_chats_topic() {
    let sim = start(chats_config()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    let r = bot
        .cometd(json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]))
        .await;
    bot.client_id = r[0]["clientId"].as_str().unwrap().to_owned();
    for (topic, allowed) in [
        ("/v2/me/interactions", false),
        ("/v2/me/channels", true),
        ("/v2/me/chats", true),
    ] {
        let r = bot
            .cometd(json!([{"channel":"/meta/subscribe","clientId":bot.client_id,"subscription":topic}]))
            .await;
        assert_eq!(r[0]["successful"], allowed, "{topic}: {r:?}");
    }
    let start_cc = json!({"operationName":"StartContactCenterSession","channels":["chat"]});
    assert_eq!(bot.post("/me", start_cc).await["statusCode"], 0);
    let ready = json!({"operationName":"Ready"});
    assert_eq!(bot.post("/me/channels/chat", ready).await["statusCode"], 0);
    let id = control.create_chat(ChatSpec {
        first_message: Some("Hello?".into()),
        user_data: [("Subject".to_owned(), json!("refund"))]
            .into_iter()
            .collect(),
        ..ChatSpec::default()
    });
    let notes = bot
        .until_where("offer", |d| d["messageType"] == "ChatStateChangeMessage")
        .await;
    let offer = state_changes(&notes, "Invited")[0];
    assert_eq!(offer["notificationType"], "StatusChange");
    assert_eq!(
        offer["chat"],
        json!({"id": id, "uri": format!("{}/chats/{id}", sim.api_url()), "state": "Invited",
               "capabilities": ["Accept", "Reject"],
               "participants": [{"type":"Customer","nickname":"Customer",
                                 "participantId": offer["chat"]["participants"][0]["participantId"]}],
               "userData": {"Subject": "refund"}})
    );
    assert!(
        offer.get("messages").is_none(),
        "the offer carries no transcript"
    );
    let delivery = control
        .deliveries()
        .into_iter()
        .find(|d| d.data["messageType"] == "ChatStateChangeMessage")
        .unwrap();
    assert_eq!(delivery.channel, "/v2/me/chats");
    let listed = bot.get("/me/chats?fields=*").await;
    assert_eq!(listed["chats"], json!([offer["chat"].clone()]));
}

#[tokio::test(start_paused = true)]
async fn operations_are_checked_per_state_from_offer_to_complete() {
    let sim = start(chats_config()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let id = control.create_chat(ChatSpec::default());
    bot.until_where("offer", |d| d["chat"]["state"] == "Invited")
        .await;
    // The offer takes only Accept and Reject.
    for op in [
        json!({"operationName":"SendMessage","text":"x"}),
        json!({"operationName":"Leave"}),
        json!({"operationName":"Complete"}),
        json!({"operationName":"Transfer","queueName":"Billing"}),
        json!({"operationName":"SendStartTypingNotification"}),
    ] {
        assert_eq!(bot.cop(&id, op.clone()).await, 2, "{op}");
    }
    assert_eq!(bot.cop(&id, json!({"operationName":"Accept"})).await, 1);
    assert_eq!(bot.cop(&id, json!({"operationName":"Fly"})).await, 1);
    let nope = json!({"operationName":"Accept","nickname":"B"});
    assert_eq!(bot.cop("nope", nope).await, 6);
    assert_eq!(control.violations().len(), 1, "SendMessage to an offer");
    // The other dialect's operations are unknown here, and a violation.
    for name in [
        "StopProcessing",
        "RequestChatHistory",
        "CompleteTransfer",
        "StartChatConsultation",
        "SendNotification",
    ] {
        assert_eq!(bot.cop(&id, json!({"operationName":name})).await, 1);
    }
    assert_eq!(control.violations().len(), 6, "{:?}", control.violations());

    let reply = bot
        .chat_op(&id, json!({"operationName":"Accept","nickname":"Botty"}))
        .await;
    assert_eq!(reply["statusCode"], 0);
    let accepted = reply["referenceId"].as_u64().unwrap();
    let notes = bot
        .until_where("ParticipantJoined", |d| {
            d["messageType"] == "MessageLogUpdated"
        })
        .await;
    let live = state_changes(&notes, "Chatting")[0];
    assert_eq!(live["referenceId"], accepted);
    assert_eq!(
        live["chat"]["capabilities"],
        json!([
            "Transfer",
            "Consult",
            "Invite",
            "Complete",
            "Leave",
            "SendMessage",
            "SendStartTypingNotification",
            "SendStopTypingNotification",
            "UpdateUserData",
            "SendCustomNoticeToAgents"
        ])
    );
    assert!(
        !notes.iter().any(|d| d["notificationType"] == "ChatHistory"),
        "no history push: {notes:?}"
    );
    let joined = &log_entries(&notes)[0];
    assert_eq!(
        (
            &joined["type"],
            &joined["from"]["type"],
            &joined["from"]["nickname"]
        ),
        (
            &json!("ParticipantJoined"),
            &json!("Agent"),
            &json!("Botty")
        )
    );
    let log = notes
        .iter()
        .find(|d| d["messageType"] == "MessageLogUpdated")
        .unwrap();
    assert_eq!(log["notificationType"], "NewMessages");
    assert_eq!(log["chatPath"], format!("/chats/{id}"));
    assert_eq!(log["chatUri"], format!("{}/chats/{id}", sim.api_url()));

    for op in ["Accept", "Reject"] {
        let body = json!({"operationName":op,"nickname":"B"});
        assert_eq!(bot.cop(&id, body).await, 2, "{op} on a live chat");
    }
    assert_eq!(
        bot.cop(&id, json!({"operationName":"SendMessage"})).await,
        1
    );
    let typing = |on: bool| {
        let name = if on {
            "SendStartTypingNotification"
        } else {
            "SendStopTypingNotification"
        };
        json!({ "operationName": name })
    };
    assert_eq!(bot.cop(&id, typing(true)).await, 0);
    let send = json!({"operationName":"SendMessage","text":"Hello","messageType":"Text","treatAs":"Normal"});
    let sent = bot.chat_op(&id, send).await;
    assert_eq!(sent["statusCode"], 0);
    assert!(sent["referenceId"].as_u64().unwrap() > accepted);
    assert_eq!(bot.cop(&id, typing(false)).await, 0);
    let notes = bot.until("NewMessages").await;
    let echo = log_entries(&notes);
    assert_eq!(echo.len(), 1, "typing is not echoed: {echo:?}");
    let echo = &echo[0];
    assert_eq!(
        (&echo["type"], &echo["text"], &echo["visibility"]),
        (&json!("Text"), &json!("Hello"), &json!("All"))
    );
    assert!(echo["index"].as_u64().unwrap() > joined["index"].as_u64().unwrap());
    let stamp = echo["timestamp"].as_str().unwrap();
    assert!(
        stamp.len() == 28 && stamp.ends_with("+0000") && &stamp[10..11] == " ",
        "{stamp}"
    );
    assert!(echo["timestampSeconds"].as_u64().unwrap() > 1_600_000_000_000);

    let data = json!({"operationName":"UpdateUserData","userData":{"Topic":"billing"}});
    assert_eq!(bot.cop(&id, data).await, 0);
    let notes = bot.until("PropertiesUpdated").await;
    let props = notes
        .iter()
        .find(|d| d["notificationType"] == "PropertiesUpdated")
        .unwrap();
    assert_eq!(props["chat"]["userData"], json!({"Topic":"billing"}));
    let notice = json!({"operationName":"SendCustomNoticeToAgents"});
    assert_eq!(bot.cop(&id, notice).await, 1);
    let notice = json!({"operationName":"SendCustomNoticeToAgents","noticeText":"VIP"});
    assert_eq!(bot.cop(&id, notice).await, 0);
    let notes = bot.until("NewMessages").await;
    let entry = &log_entries(&notes)[0];
    assert_eq!(
        (&entry["type"], &entry["noticeText"], &entry["visibility"]),
        (&json!("CustomNotice"), &json!("VIP"), &json!("Agents"))
    );
    assert!(entry.get("text").is_none());

    // Complete while the bot and the customer are both in the chat: Leave first.
    let violations = control.violations().len();
    assert_eq!(bot.cop(&id, json!({"operationName":"Complete"})).await, 2);
    assert_eq!(control.violations().len(), violations + 1);
    let left = bot.chat_op(&id, json!({"operationName":"Leave"})).await;
    assert_eq!(left["statusCode"], 0);
    let notes = bot.until("StatusChange").await;
    let left_chat = state_changes(&notes, "LeftChat")[0];
    assert_eq!(left_chat["referenceId"], left["referenceId"]);
    assert_eq!(left_chat["chat"]["capabilities"], json!(["Complete"]));
    assert!(
        left_chat["chat"]["participants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["type"] == "Customer")
    );
    assert_eq!(
        bot.get("/me/chats").await["chats"][0]["state"],
        "LeftChat",
        "a chat the bot left is still held until Complete"
    );
    assert_eq!(bot.cop(&id, json!({"operationName":"Leave"})).await, 2);
    let transfer = json!({"operationName":"Transfer","queueName":"Billing"});
    assert_eq!(bot.cop(&id, transfer).await, 2);
    assert_eq!(
        control.violations().len(),
        violations + 1,
        "a second Leave is no violation"
    );
    let send = json!({"operationName":"SendMessage","text":"still here?"});
    assert_eq!(bot.cop(&id, send).await, 2);
    assert_eq!(control.violations().len(), violations + 2);
    control.customer_says(&id, "hello?").unwrap();
    assert!(
        log_entries(&bot.connect().await).is_empty(),
        "a bot that left hears nothing"
    );

    let done = bot.chat_op(&id, json!({"operationName":"Complete"})).await;
    assert_eq!(done["statusCode"], 0);
    let notes = bot.until("StatusChange").await;
    let completed = state_changes(&notes, "Completed")[0];
    assert_eq!(completed["chat"]["capabilities"], json!([]));
    assert_eq!(completed["referenceId"], done["referenceId"]);
    let chat = control.chat(&id).unwrap();
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    let bot_left = chat
        .transcript
        .iter()
        .filter(|e| e.kind == "ParticipantLeft" && e.from_type == "Agent")
        .count();
    assert_eq!(bot_left, 1);
    assert_eq!(bot.get("/me/chats").await["chats"], json!([]));
    assert_eq!(bot.cop(&id, json!({"operationName":"Complete"})).await, 2);
    assert_eq!(control.violations().len(), violations + 3);
}

#[tokio::test(start_paused = true)]
async fn history_reads_from_start_index_across_gaps() {
    let sim = start(two_users_chats()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let (id, _) = bot
        .accept_chat(
            &sim,
            ChatSpec {
                first_message: Some("one".into()),
                ..ChatSpec::default()
            },
        )
        .await;
    let typing = json!({"operationName":"SendStartTypingNotification"});
    assert_eq!(bot.cop(&id, typing).await, 0);
    control.customer_says(&id, "two").unwrap();
    let send = json!({"operationName":"SendMessage","text":"three"});
    assert_eq!(bot.cop(&id, send).await, 0);

    let all = bot.get(&format!("/me/chats/{id}/messages")).await;
    assert_eq!(all["statusCode"], 0);
    let all = all["messages"].as_array().unwrap().clone();
    let indices: Vec<u64> = all.iter().map(|m| m["index"].as_u64().unwrap()).collect();
    assert_eq!(indices[0], 1, "indices start at 1");
    assert!(indices.windows(2).all(|w| w[0] < w[1]), "{indices:?}");
    assert!(
        indices.windows(2).any(|w| w[1] > w[0] + 1),
        "typing leaves a gap: {indices:?}"
    );
    let texts: Vec<&str> = all.iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    let snapshot: Vec<String> = control
        .chat(&id)
        .unwrap()
        .transcript
        .iter()
        .map(|e| e.event_id.clone())
        .collect();
    let wire: Vec<String> = indices.iter().map(u64::to_string).collect();
    assert_eq!(snapshot, wire, "the snapshot's cursor is the index");

    let two = all.iter().find(|m| m["text"] == "two").unwrap()["index"]
        .as_u64()
        .unwrap();
    let gap = two - 1;
    assert!(!indices.contains(&gap), "{indices:?}");
    for (start, first_text) in [(two, "two"), (gap, "two"), (two + 1, "three")] {
        let r = bot
            .get(&format!("/me/chats/{id}/messages?startIndex={start}"))
            .await;
        let got = r["messages"].as_array().unwrap();
        assert!(got.iter().all(|m| m["index"].as_u64().unwrap() >= start));
        let first = got.iter().find_map(|m| m["text"].as_str());
        assert_eq!(first, Some(first_text), "startIndex={start}: {got:?}");
    }
    let past = bot
        .get(&format!("/me/chats/{id}/messages?startIndex=999"))
        .await;
    assert_eq!(past, json!({"statusCode":0,"messages":[]}));
    let bad = bot
        .get(&format!("/me/chats/{id}/messages?startIndex=abc"))
        .await;
    assert_eq!(bad["statusCode"], 10);
    assert_eq!(
        bot.get("/me/chats/nope/messages").await["statusCode"],
        6,
        "unknown chat"
    );
    let other = Bot::login_as(&sim, "bot02", "other-secret").await;
    assert_eq!(
        other.get(&format!("/me/chats/{id}/messages")).await["statusCode"],
        6,
        "not the user's chat"
    );
    assert_eq!(control.violations().len(), 1, "{:?}", control.violations());
}

fn two_users_chats() -> SimConfig {
    SimConfig {
        dialect: SimDialect::Chats,
        ..two_users()
    }
}

#[tokio::test(start_paused = true)]
async fn consult_then_transfer_or_invite_and_single_step_transfers() {
    let sim = start(chats_config()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let sam = agent_uri(&sim, "agent-101");
    let (id, _) = bot.accept_chat(&sim, ChatSpec::default()).await;
    let invite = json!({"operationName":"Invite","targetUri":sam});
    assert_eq!(bot.cop(&id, invite.clone()).await, 2, "nobody consulted");
    assert_eq!(bot.cop(&id, json!({"operationName":"Consult"})).await, 1);
    let bad = json!({"operationName":"Consult","targetUri":"agent-101"});
    assert_eq!(bot.cop(&id, bad).await, 10);
    let ghost = json!({"operationName":"Consult","targetUri":agent_uri(&sim, "ghost")});
    assert_eq!(bot.cop(&id, ghost).await, 6);
    let consult = bot
        .chat_op(&id, json!({"operationName":"Consult","targetUri":sam}))
        .await;
    assert_eq!(consult["statusCode"], 0);
    assert!(consult["referenceId"].is_u64());
    assert_eq!(bot.cop(&id, invite.clone()).await, 2, "not joined yet");
    let notes = bot.until("ParticipantsUpdated").await;
    let update = notes
        .iter()
        .find(|d| d["notificationType"] == "ParticipantsUpdated")
        .unwrap();
    assert_eq!(update["messageType"], "ChatStateChangeMessage");
    let sam_pid = update["chat"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["nickname"] == "Sam")
        .and_then(|p| p["participantId"].as_str())
        .unwrap()
        .to_owned();
    assert!(is_opaque(&sam_pid), "{sam_pid}");
    let by_pid = json!({"operationName":"Invite","targetUri":agent_uri(&sim, &sam_pid)});
    assert_eq!(
        bot.cop(&id, by_pid).await,
        10,
        "a participantId is no user id"
    );
    let notes = if log_entries(&notes).is_empty() {
        bot.until("NewMessages").await
    } else {
        notes
    };
    let joined = &log_entries(&notes)[0];
    assert_eq!(
        (&joined["type"], &joined["visibility"]),
        (&json!("ParticipantJoined"), &json!("Agents"))
    );
    let kim = json!({"operationName":"Invite","targetUri":agent_uri(&sim, "agent-102")});
    assert_eq!(bot.cop(&id, kim).await, 2, "Kim was not consulted");
    let transfer = json!({"operationName":"Transfer","targetUri":sam});
    assert_eq!(bot.cop(&id, transfer).await, 0);
    let chat = control.chat(&id).unwrap();
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToAgent("agent-101".into()))
    );
    let sam_entries: Vec<(&str, &str)> = chat
        .transcript
        .iter()
        .filter(|e| e.participant_id == sam_pid)
        .map(|e| (e.kind.as_str(), e.visibility.as_str()))
        .collect();
    assert_eq!(
        sam_entries,
        [("ParticipantJoined", "Agents"), ("Text", "All")],
        "consult → transfer: Sam is already in"
    );
    let notes = bot.until("StatusChange").await;
    assert_eq!(state_changes(&notes, "Completed").len(), 1);
    assert_eq!(bot.cop(&id, invite).await, 2);

    let (id, _) = bot.accept_chat(&sim, ChatSpec::default()).await;
    let kim_uri = agent_uri(&sim, "agent-102");
    let consult = json!({"operationName":"Consult","targetUri":kim_uri});
    assert_eq!(bot.cop(&id, consult).await, 0);
    bot.until("ParticipantsUpdated").await;
    let invite = json!({"operationName":"Invite","targetUri":kim_uri});
    assert_eq!(bot.cop(&id, invite).await, 0);
    let chat = control.chat(&id).unwrap();
    assert_eq!(
        (chat.state, chat.outcome, chat.conference),
        (ChatState::Chatting, None, Some("agent-102".into())),
        "a conference keeps the bot in"
    );
    assert_eq!(bot.cop(&id, json!({"operationName":"Leave"})).await, 0);
    assert_eq!(bot.cop(&id, json!({"operationName":"Complete"})).await, 0);
    assert_eq!(
        control.chat(&id).unwrap().outcome,
        Some(ChatOutcome::Conference("agent-102".into()))
    );

    let (id, _) = bot.accept_chat(&sim, ChatSpec::default()).await;
    let both = json!({"operationName":"Transfer","targetUri":sam,"queueName":"Billing"});
    assert_eq!(bot.cop(&id, both).await, 10);
    assert_eq!(bot.cop(&id, json!({"operationName":"Transfer"})).await, 1);
    let nope = json!({"operationName":"Transfer","queueName":"Nope"});
    assert_eq!(bot.cop(&id, nope).await, 6);
    let queue = json!({"operationName":"Transfer","queueName":"Billing"});
    assert_eq!(bot.cop(&id, queue).await, 0);
    assert_eq!(
        control.chat(&id).unwrap().outcome,
        Some(ChatOutcome::TransferredToSkill("Billing".into()))
    );

    let (id, _) = bot.accept_chat(&sim, ChatSpec::default()).await;
    let lee = json!({"operationName":"Transfer","targetUri":agent_uri(&sim, "agent-201")});
    assert_eq!(bot.cop(&id, lee).await, 0);
    let chat = control.chat(&id).unwrap();
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToAgent("agent-201".into()))
    );
    assert!(
        chat.transcript
            .iter()
            .any(|e| e.nickname == "Lee" && e.kind == "ParticipantJoined" && e.visibility == "All")
    );
    let violations = control.violations();
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert!(violations[0].starts_with("Invite on chat"));
    assert!(violations[0].contains("names participantId"));
    assert!(violations[1].starts_with("Invite on completed chat"));
}

#[tokio::test(start_paused = true)]
async fn customers_leaving_and_offers_ending() {
    let sim = start(chats_config()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;

    // The customer leaves a live chat: the bot may Complete at once...
    let (id, _) = bot.accept_chat(&sim, ChatSpec::default()).await;
    control.customer_leaves(&id).unwrap();
    let notes = bot.until("ParticipantsUpdated").await;
    let update = notes
        .iter()
        .find(|d| d["notificationType"] == "ParticipantsUpdated")
        .unwrap();
    assert!(
        update["chat"]["participants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["type"] != "Customer")
    );
    let gone = log_entries(&notes);
    assert!(
        gone.iter()
            .any(|m| m["type"] == "ParticipantLeft" && m["from"]["type"] == "Customer"),
        "{gone:?}"
    );
    assert_eq!(bot.cop(&id, json!({"operationName":"Complete"})).await, 0);
    let chat = control.chat(&id).unwrap();
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    let kinds: Vec<(&str, &str)> = chat
        .transcript
        .iter()
        .map(|e| (e.kind.as_str(), e.from_type.as_str()))
        .collect();
    assert!(
        kinds.ends_with(&[
            ("ParticipantLeft", "Customer"),
            ("ParticipantLeft", "Agent")
        ]),
        "{kinds:?}"
    );

    // ... or Leave, then Complete.
    let (id, _) = bot.accept_chat(&sim, ChatSpec::default()).await;
    control.customer_leaves(&id).unwrap();
    bot.until("ParticipantsUpdated").await;
    assert_eq!(bot.cop(&id, json!({"operationName":"Leave"})).await, 0);
    assert_eq!(bot.cop(&id, json!({"operationName":"Complete"})).await, 0);
    assert_eq!(
        control.chat(&id).unwrap().outcome,
        Some(ChatOutcome::ClosedByBot)
    );

    // An offer whose customer leaves is revoked; a rejected one too.
    let revoked = control.create_chat(ChatSpec::default());
    bot.until_where("offer", |d| d["chat"]["state"] == "Invited")
        .await;
    control.customer_leaves(&revoked).unwrap();
    let notes = bot
        .until_where("revoked", |d| d["chat"]["state"] == "Revoked")
        .await;
    assert_eq!(
        state_changes(&notes, "Revoked")[0]["chat"]["capabilities"],
        json!([])
    );
    let accept = json!({"operationName":"Accept","nickname":"B"});
    assert_eq!(bot.cop(&revoked, accept).await, 2);
    let rejected = control.create_chat(ChatSpec::default());
    bot.until_where("offer", |d| d["chat"]["state"] == "Invited")
        .await;
    assert_eq!(
        bot.cop(&rejected, json!({"operationName":"Reject"})).await,
        0
    );
    bot.until_where("revoked", |d| d["chat"]["state"] == "Revoked")
        .await;
    assert_eq!(
        control.chat(&rejected).unwrap().outcome,
        Some(ChatOutcome::Rejected)
    );
    assert!(
        control.violations().is_empty(),
        "{:?}",
        control.violations()
    );
}
