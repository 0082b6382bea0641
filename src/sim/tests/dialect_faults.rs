//! Faults in the `chats` dialect and the asynchronous `Error` by `referenceId` (in both
//! dialects), the `/sim` control API, and auth/CSRF unchanged.

use serde_json::json;

use super::*;

#[tokio::test(start_paused = true)]
async fn an_accepted_operation_can_fail_later_with_an_error_by_reference_id() {
    for dialect in [SimDialect::Chats, SimDialect::Interactions] {
        let sim = start(SimConfig {
            dialect,
            ..SimConfig::default()
        })
        .await;
        let control = sim.control();
        let mut bot = Bot::login(&sim).await;
        bot.go_ready().await;
        let (id, op_path) = match dialect {
            SimDialect::Chats => (bot.accept_chat(&sim, ChatSpec::default()).await.0, "chats"),
            SimDialect::Interactions => (
                bot.accept_new(&sim, ChatSpec::default()).await.0,
                "interactions",
            ),
        };
        control.fail_operation_async("SendMessage", 1, "T-Server said no");
        let send = json!({"operationName":"SendMessage","text":"lost"});
        let reply = bot.post(&format!("/me/{op_path}/{id}"), send).await;
        assert_eq!(reply["statusCode"], 0, "{dialect}");
        let reference = reply["referenceId"].as_u64().unwrap();
        let notes = bot.until("Error").await;
        let error = notes
            .iter()
            .find(|d| d["notificationType"] == "Error")
            .unwrap();
        assert_eq!(error["referenceId"], reference, "{dialect}: {error}");
        assert_eq!(error["errorMessage"], "T-Server said no");
        match dialect {
            SimDialect::Chats => {
                assert_eq!(error["messageType"], "ChatStateChangeMessage");
                assert_eq!(error["chat"], json!({ "id": id }));
            }
            SimDialect::Interactions => {
                assert_eq!(error["messageType"], "InteractionStateMessage");
                assert_eq!(error["interaction"]["id"], id.as_str());
            }
        }
        assert!(
            !log_entries(&notes).iter().any(|m| m["text"] == "lost")
                && !notes.iter().any(|d| d["messages"][0]["text"] == "lost"),
            "not carried out"
        );
        let chat = control.chat(&id).unwrap();
        assert!(
            !chat
                .transcript
                .iter()
                .any(|e| e.text.as_deref() == Some("lost"))
        );
        let send = json!({"operationName":"SendMessage","text":"kept"});
        let reply = bot.post(&format!("/me/{op_path}/{id}"), send).await;
        assert_eq!(reply["statusCode"], 0, "only once");
        assert!(reply["referenceId"].as_u64().unwrap() > reference);
        let chat = control.chat(&id).unwrap();
        assert!(
            chat.transcript
                .iter()
                .any(|e| e.text.as_deref() == Some("kept"))
        );
        assert!(
            control.violations().is_empty(),
            "{:?}",
            control.violations()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn faults_by_wire_name_and_the_control_api_work_in_the_chats_dialect() {
    let sim = start(chats_config()).await;
    let control = sim.control();
    let http = reqwest::Client::new();
    let faults = format!("http://{}/sim/faults", sim.addr());
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let (id, _) = bot.accept_chat(&sim, ChatSpec::default()).await;

    let targeted = json!({"operation":"SendStartTypingNotification",
                          "fail_next":{"count":1,"status_code":9,"status_message":"busy"}});
    let r = http.post(&faults).json(&targeted).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let send = json!({"operationName":"SendMessage","text":"x"});
    assert_eq!(bot.cop(&id, send).await, 0, "other operations pass");
    let typing = json!({"operationName":"SendStartTypingNotification"});
    assert_eq!(bot.cop(&id, typing.clone()).await, 9);
    assert_eq!(bot.cop(&id, typing).await, 0, "only once");

    let bad = json!({"fail_async":{"count":1}});
    let r = http.post(&faults).json(&bad).send().await.unwrap();
    assert!(r.status().is_client_error(), "operation is required");
    let later = json!({"fail_async":{"operation":"Transfer","error_message":"no agents"}});
    let r = http.post(&faults).json(&later).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let queue = json!({"operationName":"Transfer","queueName":"Billing"});
    let reply = bot.chat_op(&id, queue.clone()).await;
    assert_eq!(reply["statusCode"], 0);
    let notes = bot.until("Error").await;
    let error = notes
        .iter()
        .find(|d| d["notificationType"] == "Error")
        .unwrap();
    assert_eq!(
        (&error["referenceId"], &error["errorMessage"]),
        (&reply["referenceId"], &json!("no agents"))
    );
    assert_eq!(control.chat(&id).unwrap().state, ChatState::Chatting);
    assert_eq!(bot.cop(&id, queue).await, 0);
    assert_eq!(
        control.chat(&id).unwrap().outcome,
        Some(ChatOutcome::TransferredToSkill("Billing".into()))
    );

    // A restart loses the bot's hold; the recovering bot lists the chat again as an offer.
    let (id, _) = bot.accept_chat(&sim, ChatSpec::default()).await;
    control.restart();
    bot.refresh().await;
    bot.go_ready().await;
    bot.until_where("the offer again", |d| d["chat"]["state"] == "Invited")
        .await;
    let listed = bot.get("/me/chats?fields=*").await;
    assert_eq!(listed["chats"][0]["id"], id.as_str());
    assert_eq!(
        listed["chats"][0]["capabilities"],
        json!(["Accept", "Reject"])
    );
}

#[tokio::test]
async fn auth_and_csrf_are_the_same_in_the_chats_dialect() {
    let sim = start(chats_config()).await;
    let control = sim.control();
    let id = control.create_chat(ChatSpec::default());
    let stranger = Bot::new_as(&sim, USER, "wrong");
    assert_eq!(stranger.get_raw("/me/chats").await.0, 401);
    let fresh = Bot::new(&sim);
    assert_eq!(
        fresh.get_raw("/me/chats").await,
        (403, "Missing or invalid Csrf token".to_owned()),
        "no session yet"
    );
    let bot = Bot::login(&sim).await;
    let accept = json!({"operationName":"Accept","nickname":"B"});
    let path = format!("/me/chats/{id}");
    let (status, text) = bot.post_raw(&path, &accept, None).await;
    assert_eq!(
        (status, text.as_str()),
        (403, "Missing or invalid Csrf token")
    );
    assert_eq!(control.violations().len(), 1, "{:?}", control.violations());
    let (status, _) = bot.post_raw(&path, &accept, Some("stale")).await;
    assert_eq!(status, 403);
    assert_eq!(
        bot.cop(&id, accept).await,
        6,
        "with a valid token: not offered to this bot"
    );
}
