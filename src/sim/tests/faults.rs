//! Fault switches, session loss, restart recovery, shutdown and the `/sim` control API.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;

#[tokio::test(start_paused = true)]
async fn end_contact_center_session_ends_the_http_session() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let (id, _) = bot.accept_new(&sim, ChatSpec::default()).await;
    let r = bot
        .post("/me", json!({"operationName":"EndContactCenterSession"}))
        .await;
    assert_eq!(r["statusCode"], 0);
    let (status, _) = bot
        .post_raw(
            "/me/channels/chat",
            &json!({"operationName":"Ready"}),
            bot.csrf.as_deref(),
        )
        .await;
    assert_eq!(status, 403);
    bot.refresh().await;
    assert_eq!(bot.connect_raw().await[0]["error"], "402::Unknown client");
    let chat = control.chat(&id).unwrap();
    assert_eq!((chat.state, chat.owner), (ChatState::Queued, None));
    let r = bot
        .post("/me/channels/chat", json!({"operationName":"Ready"}))
        .await;
    assert_eq!(r["statusCode"], 2, "the contact-center session ended too");
}

#[tokio::test(start_paused = true)]
async fn restart_requeues_chats_and_a_recovering_bot_gets_them_again() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let (id, _) = bot
        .accept_new(
            &sim,
            ChatSpec {
                first_message: Some("first".into()),
                ..ChatSpec::default()
            },
        )
        .await;
    control.customer_says(&id, "more").unwrap();
    control.restart();
    assert_eq!(control.chat(&id).unwrap().state, ChatState::Queued);
    let (status, _) = bot
        .post_raw(
            "/me/channels/chat",
            &json!({"operationName":"Ready"}),
            bot.csrf.as_deref(),
        )
        .await;
    assert_eq!(status, 403);
    bot.refresh().await;
    assert_eq!(bot.connect_raw().await[0]["error"], "402::Unknown client");
    assert_eq!(
        bot.op(&id, json!({"operationName":"SendMessage","text":"x"}))
            .await,
        6
    );
    assert!(
        bot.get("/me/interactions?fields=*").await["interactions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    bot.go_ready().await;
    let notes = bot.until("NewInteraction").await;
    let offer = notes
        .iter()
        .find(|d| d["notificationType"] == "NewInteraction")
        .unwrap();
    assert_eq!(offer["interaction"]["id"], id.as_str());
    assert_eq!(
        bot.op(&id, json!({"operationName":"Accept","nickname":"Botty"}))
            .await,
        0
    );
    let notes = bot.until("ChatHistory").await;
    let history = notes
        .iter()
        .find(|d| d["notificationType"] == "ChatHistory")
        .unwrap();
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, vec!["first", "more"]);
}

#[tokio::test(start_paused = true)]
async fn injected_failures_and_delay() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    control.fail_next(1, Fault::Http(503));
    control.fail_next(1, Fault::StatusCode(4, "busy".into()));
    bot.handshake().await; // CometD is not affected
    let start_cc = json!({"operationName":"StartContactCenterSession","channels":["chat"]});
    let (status, text) = bot.post_raw("/me", &start_cc, bot.csrf.as_deref()).await;
    assert_eq!((status, text.as_str()), (503, "Service Unavailable"));
    let r = bot.post("/me", start_cc.clone()).await;
    assert_eq!(
        (r["statusCode"].as_i64(), r["statusMessage"].as_str()),
        (Some(4), Some("busy"))
    );
    assert_eq!(bot.post("/me", start_cc).await["statusCode"], 0);
    let statuses: Vec<(u16, Option<i64>)> = control
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v2/me" && r.method == "POST")
        .map(|r| (r.http_status, r.status_code))
        .collect();
    assert_eq!(statuses, vec![(503, None), (200, Some(4)), (200, Some(0))]);

    control.set_delay(Duration::from_millis(200));
    let t = tokio::time::Instant::now();
    bot.refresh().await;
    assert!(t.elapsed() >= Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn shutdown_releases_held_connects() {
    let sim = start(SimConfig {
        connect_timeout: Duration::from_secs(600),
        ..SimConfig::default()
    })
    .await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.handshake().await;
    let held = tokio::spawn(async move { bot.connect_raw().await });
    control
        .wait_for(|c| {
            c.requests()
                .iter()
                .any(|r| r.operation.as_deref() == Some("/meta/connect"))
                .then_some(())
        })
        .await;
    tokio::time::timeout(Duration::from_secs(1), sim.shutdown())
        .await
        .expect("shutdown is prompt");
    let reply = tokio::time::timeout(Duration::from_secs(1), held)
        .await
        .expect("connect released")
        .unwrap();
    assert_eq!(reply[0]["successful"], true);
}

#[tokio::test(start_paused = true)]
async fn control_http_api() {
    let sim = start(SimConfig::default()).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}/sim", sim.addr());
    let spec = json!({"customer":"Ann","first_message":"hi","user_data":{"Subject":"x"},
        "script":[{"say":{"after":"1s","text":"more"}},"await_reply",{"leave":{"after":500}}]});
    let r: Value = http
        .post(format!("{base}/chats"))
        .json(&spec)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["id"].as_str().unwrap().to_owned();
    let chat: Value = http
        .get(format!("{base}/chats/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (chat["customer"].as_str(), chat["state"].as_str()),
        (Some("Ann"), Some("Queued"))
    );
    let say = http
        .post(format!("{base}/chats/{id}/say"))
        .json(&json!({"text":"again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(say.status(), 200);
    assert!(
        sim.control()
            .chat(&id)
            .unwrap()
            .transcript
            .iter()
            .any(|e| e.text.as_deref() == Some("again"))
    );
    let unknown = http
        .post(format!("{base}/chats/zzz/say"))
        .json(&json!({"text":"x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        http.post(format!("{base}/chats/{id}/leave"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.post(format!("{base}/chats/{id}/leave"))
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
    let all: Value = http
        .get(format!("{base}/chats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);

    let bad = http
        .post(format!("{base}/faults"))
        .json(&json!({"fail_next":{"count":1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let ok = http
        .post(format!("{base}/faults"))
        .json(&json!({"fail_next":{"count":1,"http":503}}))
        .send()
        .await;
    assert_eq!(ok.unwrap().status(), 200);
    let bot = Bot::login(&sim).await;
    let start_cc = json!({"operationName":"StartContactCenterSession","channels":["chat"]});
    assert_eq!(
        bot.post_raw("/me", &start_cc, bot.csrf.as_deref()).await.0,
        503
    );
    let requests: Value = http
        .get(format!("{base}/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        requests
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["http_status"] == 503)
    );
    let violations: Value = http
        .get(format!("{base}/violations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(violations, json!([]));
}

#[tokio::test(start_paused = true)]
async fn targeted_faults_hit_only_the_named_operation() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let (id, _) = bot.accept_new(&sim, ChatSpec::default()).await;
    control.fail_operation("SendMessage", 1, Fault::StatusCode(9, "busy".into()));
    let typing = json!({"operationName":"SendNotification","notifcation":"TypingStarted"});
    assert_eq!(bot.op(&id, typing).await, 0, "other operations pass");
    let send = json!({"operationName":"SendMessage","text":"x"});
    assert_eq!(bot.op(&id, send.clone()).await, 9);
    assert_eq!(bot.op(&id, send).await, 0, "only once");
}

#[tokio::test(start_paused = true)]
async fn deliveries_can_be_duplicated_and_reordered() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let (id, _) = bot.accept_new(&sim, ChatSpec::default()).await;
    control.duplicate_next_deliveries(1);
    control.customer_says(&id, "one").unwrap();
    let texts = |notes: &[Value]| -> Vec<String> {
        notes
            .iter()
            .flat_map(|n| n["messages"].as_array().cloned().unwrap_or_default())
            .filter_map(|m| m["text"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(texts(&bot.connect().await), ["one", "one"]);
    control.reorder_next_deliveries(1);
    control.customer_says(&id, "two").unwrap();
    control.customer_says(&id, "three").unwrap();
    assert_eq!(texts(&bot.connect().await), ["three", "two"]);
    control.customer_says(&id, "four").unwrap();
    assert_eq!(texts(&bot.connect().await), ["four"], "faults used up");
}

#[tokio::test(start_paused = true)]
async fn refused_handshakes_advise_not_to_reconnect() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let bot = Bot::login(&sim).await;
    control.refuse_handshakes(1);
    let hs = json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]);
    let r = bot.cometd(hs.clone()).await;
    assert_eq!(r[0]["successful"], false);
    assert_eq!(r[0]["advice"]["reconnect"], "none");
    let r = bot.cometd(hs).await;
    assert_eq!(r[0]["successful"], true);
}
