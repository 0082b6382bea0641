//! Auth, session cookie, CSRF and CometD rules.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;

#[tokio::test]
async fn wrong_or_missing_credentials_get_401() {
    let sim = start(SimConfig::default()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/me", sim.api_url());
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        http.get(&url)
            .basic_auth(USER, Some("wrong"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(&url)
            .basic_auth("nobody", Some(PASSWORD))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let requests = sim.control().requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|r| r.http_status == 401 && r.user.is_none())
    );
    let me = Bot::login(&sim).await.refresh().await;
    assert_eq!(me["user"]["id"], "bot01");
}

#[tokio::test]
async fn posts_need_session_and_current_csrf_token() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let body = json!({"operationName":"StartContactCenterSession","channels":["chat"]});
    // No session cookie at all.
    let (status, text) = Bot::new(&sim).post_raw("/me", &body, Some("x")).await;
    assert_eq!(
        (status, text.as_str()),
        (403, "Missing or invalid Csrf token")
    );
    let mut bot = Bot::login(&sim).await;
    let (status, _) = bot.post_raw("/me", &body, None).await;
    assert_eq!(status, 403);
    assert_eq!(control.violations().len(), 1, "{:?}", control.violations());
    assert_eq!(bot.post("/me", body.clone()).await["statusCode"], 0);
    let old = bot.csrf.clone();
    control.rotate_csrf();
    let (status, text) = bot.post_raw("/me", &body, old.as_deref()).await;
    assert_eq!(
        (status, text.as_str()),
        (403, "Missing or invalid Csrf token")
    );
    bot.refresh().await;
    assert_ne!(bot.csrf, old);
    assert_eq!(bot.post("/me", body.clone()).await["statusCode"], 0);
    control.invalidate_http_sessions();
    assert_eq!(bot.post_raw("/me", &body, bot.csrf.as_deref()).await.0, 403);
    bot.refresh().await;
    assert_eq!(bot.post("/me", body).await["statusCode"], 0);
    assert_eq!(control.violations().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn invitation_is_delivered_after_ready_and_402_after_drop() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.handshake().await;
    let r = bot
        .post("/me/channels/chat", json!({"operationName":"Ready"}))
        .await;
    assert_eq!(r["statusCode"], 2, "Ready before StartContactCenterSession");
    let id = control.create_chat(ChatSpec {
        customer: "Pat".into(),
        first_message: Some("Hello?".into()),
        ..ChatSpec::default()
    });
    assert_eq!(control.chat(&id).unwrap().state, ChatState::Queued);
    bot.go_ready().await;
    let notes = bot.until("NewInteraction").await;
    let channel = notes
        .iter()
        .find(|d| d["messageType"] == "ChannelStateChangeMessage")
        .unwrap();
    assert_eq!(channel["channels"][0]["userState"]["state"], "Ready");
    let offer = notes
        .iter()
        .find(|d| d["notificationType"] == "NewInteraction")
        .unwrap();
    assert_eq!(offer["messageType"], "InteractionStateMessage");
    assert_eq!(offer["interaction"]["id"], id.as_str());
    assert_eq!(offer["interaction"]["state"], "Invited");
    assert_eq!(
        offer["interaction"]["capabilities"],
        json!(["Accept", "Reject"])
    );
    assert_eq!(offer["messages"][0]["text"], "Hello?");
    assert_eq!(offer["messages"][0]["from"]["type"], "Customer");
    let list = bot
        .http
        .get(format!("{}/me/interactions?fields=*", bot.api))
        .basic_auth(USER, Some(PASSWORD));
    let list: Value = list.send().await.unwrap().json().await.unwrap();
    assert_eq!(list["interactions"][0]["id"], id.as_str());
    assert!(
        control
            .deliveries()
            .iter()
            .any(|d| d.data["notificationType"] == "NewInteraction")
    );

    control.drop_cometd_sessions();
    let r = bot
        .cometd(json!([{"channel":"/meta/connect","clientId":bot.client_id,"connectionType":"long-polling"}]))
        .await;
    assert_eq!(r[0]["successful"], false);
    assert_eq!(r[0]["error"], "402::Unknown client");
    assert_eq!(r[0]["advice"]["reconnect"], "handshake");
    assert!(
        control.violations().is_empty(),
        "{:?}",
        control.violations()
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_connect_releases_the_first_and_is_recorded() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.handshake().await;
    let first = {
        let (http, url, csrf, cid) = (
            bot.http.clone(),
            format!("{}/notifications", bot.api),
            bot.csrf.clone().unwrap(),
            bot.client_id.clone(),
        );
        tokio::spawn(async move {
            let body =
                json!([{"channel":"/meta/connect","clientId":cid,"connectionType":"long-polling"}]);
            let r = http
                .post(url)
                .basic_auth(USER, Some(PASSWORD))
                .header("X-CSRF-TOKEN", csrf)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                tokio::time::Instant::now(),
                r.json::<Value>().await.unwrap(),
            )
        })
    };
    control
        .wait_for(|c| {
            c.requests()
                .iter()
                .any(|r| r.operation.as_deref() == Some("/meta/connect"))
                .then_some(())
        })
        .await;
    let t0 = tokio::time::Instant::now();
    let second = tokio::spawn(async move { bot.connect().await });
    let (answered, reply) = first.await.unwrap();
    assert!(answered - t0 < Duration::from_secs(1));
    assert_eq!(reply[0]["successful"], true);
    assert!(
        control
            .violations()
            .iter()
            .any(|v| v.contains("concurrent connect")),
        "{:?}",
        control.violations()
    );
    // The second one is now held until its timeout.
    assert!(second.await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn bayeux_rejects_bad_messages_and_records_a_skipped_handshake() {
    let sim = start(SimConfig::default()).await;
    let control = sim.control();
    let mut bot = Bot::login(&sim).await;
    bot.client_id = "made-up".into();
    let r = bot.connect_raw().await;
    assert_eq!(r[0]["error"], "402::Unknown client");
    assert!(
        control
            .violations()
            .iter()
            .any(|v| v.contains("before handshake")),
        "{:?}",
        control.violations()
    );
    let r = bot
        .cometd(json!({"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["websocket"]}))
        .await;
    assert_eq!(
        r[0]["successful"], false,
        "a single object is accepted, websocket only is refused"
    );
    bot.handshake().await;
    let r = bot
        .cometd(json!([{"channel":"/meta/subscribe","clientId":bot.client_id,"subscription":"/v2/me/chats"}]))
        .await;
    assert_eq!(r[0]["successful"], false);
    assert!(r[0]["error"].is_string());
    let r = bot
        .cometd(json!([{"channel":"/v2/me/interactions","clientId":bot.client_id,"data":{}}]))
        .await;
    assert_eq!(r[0]["successful"], false, "clients may not publish");
    let (status, _) = bot
        .post_raw("/notifications", &json!("nonsense"), bot.csrf.as_deref())
        .await;
    assert_eq!(status, 400);
    let r = bot
        .cometd(json!([{"channel":"/meta/disconnect","clientId":bot.client_id}]))
        .await;
    assert_eq!(r[0]["successful"], true);
    let r = bot.connect_raw().await;
    assert_eq!(r[0]["error"], "402::Unknown client");
    assert_eq!(control.violations().len(), 1, "{:?}", control.violations());
}

#[tokio::test(start_paused = true)]
async fn offers_alternate_between_ready_users_and_stop_on_not_ready() {
    let sim = start(two_users()).await;
    let control = sim.control();
    let mut a = Bot::login(&sim).await;
    a.go_ready().await;
    let mut b = Bot::login_as(&sim, "bot02", "other-secret").await;
    b.go_ready().await;
    let ids: Vec<String> = (0..4)
        .map(|_| control.create_chat(ChatSpec::default()))
        .collect();
    let owners: Vec<String> = ids
        .iter()
        .map(|id| control.chat(id).unwrap().owner.unwrap())
        .collect();
    assert_eq!(
        owners.iter().filter(|o| *o == "bot01").count(),
        2,
        "{owners:?}"
    );
    assert_ne!(owners[0], owners[1]);
    let b_chat = &ids[owners.iter().position(|o| o == "bot02").unwrap()];
    assert_eq!(
        a.op(b_chat, json!({"operationName":"Accept","nickname":"A"}))
            .await,
        6
    );
    let listed = b.get("/me/interactions?fields=*").await["interactions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(listed, 2);

    assert_eq!(
        a.post("/me/channels/chat", json!({"operationName":"NotReady"}))
            .await["statusCode"],
        0
    );
    let next = control.create_chat(ChatSpec::default());
    assert_eq!(control.chat(&next).unwrap().owner.as_deref(), Some("bot02"));
    assert_eq!(
        b.post("/me/channels/chat", json!({"operationName":"NotReady"}))
            .await["statusCode"],
        0
    );
    let waiting = control.create_chat(ChatSpec::default());
    assert_eq!(control.chat(&waiting).unwrap().state, ChatState::Queued);
    assert_eq!(
        a.post("/me/channels/chat", json!({"operationName":"Ready"}))
            .await["statusCode"],
        0
    );
    assert_eq!(
        control.chat(&waiting).unwrap().owner.as_deref(),
        Some("bot01")
    );
    assert_eq!(
        control.chat(&ids[0]).unwrap().state,
        ChatState::Invited,
        "offers made stay"
    );
}

#[tokio::test]
async fn a_session_belongs_to_its_user() {
    let sim = start(two_users()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/me", sim.api_url());
    let r = http
        .get(&url)
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("JSESSIONID="), "{cookie}");
    let same = http
        .get(&url)
        .basic_auth(USER, Some(PASSWORD))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    assert!(
        same.headers().get("set-cookie").is_none(),
        "the session is reused"
    );
    let other = http
        .get(&url)
        .basic_auth("bot02", Some("other-secret"))
        .header("cookie", &cookie);
    assert_eq!(other.send().await.unwrap().status(), 401);
}

#[tokio::test(start_paused = true)]
async fn idle_clients_are_dropped_at_the_next_handshake() {
    let sim = start(SimConfig {
        connect_timeout: Duration::from_secs(10),
        ..SimConfig::default()
    })
    .await;
    let mut bot = Bot::login(&sim).await;
    bot.handshake().await;
    let first = bot.client_id.clone();
    tokio::time::sleep(Duration::from_secs(5)).await;
    bot.handshake().await;
    bot.client_id = first.clone();
    assert!(
        bot.connect().await.is_empty(),
        "a recently seen client survives"
    );
    tokio::time::sleep(Duration::from_secs(71)).await;
    bot.handshake().await;
    bot.client_id = first;
    assert_eq!(bot.connect_raw().await[0]["error"], "402::Unknown client");
    assert!(sim.control().violations().is_empty());
}

#[tokio::test(start_paused = true)]
async fn without_csrf_no_token_is_announced_or_needed() {
    let sim = start(SimConfig {
        csrf: false,
        ..SimConfig::default()
    })
    .await;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = http
        .get(format!("{}/me", sim.api_url()))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().get("x-csrf-header").is_none() && r.headers().get("x-csrf-token").is_none()
    );
    let r = http
        .post(format!("{}/me", sim.api_url()))
        .basic_auth(USER, Some(PASSWORD))
        .json(&json!({"operationName":"StartContactCenterSession","channels":["chat"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["statusCode"], 0);
    assert!(sim.control().violations().is_empty());
}
