//! The simulator driven over real HTTP on 127.0.0.1 with a plain reqwest client (cookies on),
//! proving the wire rules of the brief.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;

const USER: &str = "bot01";
const PASSWORD: &str = "bot-secret";

async fn start(config: SimConfig) -> Sim {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Sim::start(config, addr).await.unwrap()
}

/// A minimal GWS client: one cookie jar, the CSRF token, one CometD client id.
struct Bot {
    http: reqwest::Client,
    api: String,
    csrf: Option<String>,
    client_id: String,
}

impl Bot {
    fn new(sim: &Sim) -> Bot {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        Bot {
            http,
            api: sim.api_url(),
            csrf: None,
            client_id: String::new(),
        }
    }

    async fn login(sim: &Sim) -> Bot {
        let mut bot = Bot::new(sim);
        bot.refresh().await;
        bot
    }

    /// `GET /me`: keeps the CSRF token.
    async fn refresh(&mut self) -> Value {
        let r = self
            .http
            .get(format!("{}/me", self.api))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-csrf-header"], "X-CSRF-TOKEN");
        self.csrf = Some(r.headers()["x-csrf-token"].to_str().unwrap().to_owned());
        r.json().await.unwrap()
    }

    async fn post_raw(&self, path: &str, body: &Value, csrf: Option<&str>) -> (u16, String) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.api))
            .basic_auth(USER, Some(PASSWORD))
            .json(body);
        if let Some(token) = csrf {
            req = req.header("X-CSRF-TOKEN", token);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, text) = self.post_raw(path, &body, self.csrf.as_deref()).await;
        assert_eq!(status, 200, "{path} {body}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn op(&self, chat: &str, body: Value) -> i64 {
        self.post(&format!("/me/interactions/{chat}"), body).await["statusCode"]
            .as_i64()
            .unwrap()
    }

    async fn cometd(&self, messages: Value) -> Vec<Value> {
        self.post("/notifications", messages)
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    async fn handshake(&mut self) {
        let r = self
            .cometd(json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]))
            .await;
        assert_eq!(r[0]["successful"], true, "{r:?}");
        assert_eq!(r[0]["advice"]["timeout"], 30_000);
        self.client_id = r[0]["clientId"].as_str().unwrap().to_owned();
        let r = self
            .cometd(json!([{"channel":"/meta/subscribe","clientId":self.client_id,"subscription":"/v2/me/*"}]))
            .await;
        assert_eq!(r[0]["successful"], true, "{r:?}");
    }

    /// Handshake, subscribe, StartContactCenterSession, Ready.
    async fn go_ready(&mut self) {
        self.handshake().await;
        let r = self
            .post(
                "/me",
                json!({"operationName":"StartContactCenterSession","channels":["chat"]}),
            )
            .await;
        assert_eq!(r["statusCode"], 0);
        let r = self
            .post("/me/channels/chat", json!({"operationName":"Ready"}))
            .await;
        assert_eq!(r["statusCode"], 0);
    }

    /// One `/meta/connect`: the notifications' `data`, after checking there is exactly one reply.
    async fn connect(&self) -> Vec<Value> {
        let r = self
            .cometd(json!([{"channel":"/meta/connect","clientId":self.client_id,"connectionType":"long-polling"}]))
            .await;
        let replies: Vec<&Value> = r
            .iter()
            .filter(|m| m["channel"] == "/meta/connect")
            .collect();
        assert_eq!(replies.len(), 1, "{r:?}");
        assert_eq!(replies[0]["successful"], true, "{r:?}");
        r.iter()
            .filter(|m| m["channel"] != "/meta/connect")
            .map(|m| m["data"].clone())
            .collect()
    }

    /// Connects until a chat notification of `kind` arrives; returns everything received.
    async fn until(&self, kind: &str) -> Vec<Value> {
        let mut all = Vec::new();
        for _ in 0..10 {
            all.extend(self.connect().await);
            if all.iter().any(|d| d["notificationType"] == kind) {
                return all;
            }
        }
        panic!("no {kind} in {all:?}");
    }

    /// A chat is offered and accepted; returns its id and the notifications since the offer.
    async fn accept_new(&self, sim: &Sim, spec: ChatSpec) -> (String, Vec<Value>) {
        let id = sim.control().create_chat(spec);
        self.until("NewInteraction").await;
        assert_eq!(
            self.op(&id, json!({"operationName":"Accept","nickname":"Botty"}))
                .await,
            0
        );
        (id, self.until("ChatHistory").await)
    }
}

fn kinds(notes: &[Value]) -> Vec<String> {
    notes
        .iter()
        .filter_map(|d| d["notificationType"].as_str().map(str::to_owned))
        .collect()
}

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
    assert!(agents.iter().any(|p| p["participantId"] == "agent-101"));
    let notes = if kinds(&notes).iter().filter(|k| *k == "NewMessages").count() > 0 {
        notes
    } else {
        bot.until("NewMessages").await
    };
    let joined = notes
        .iter()
        .flat_map(|d| d["messages"].as_array().cloned().unwrap_or_default())
        .find(|m| m["type"] == "ParticipantJoined" && m["from"]["participantId"] == "agent-101")
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
    while !control
        .requests()
        .iter()
        .any(|r| r.operation.as_deref() == Some("/meta/connect"))
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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
