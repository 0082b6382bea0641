//! The simulator driven over real HTTP on 127.0.0.1 with a plain reqwest client (cookies on),
//! proving the wire rules of the brief. This file holds the test client; `wire` covers auth,
//! CSRF and CometD, `chats` the interaction operations and customers, `faults` the fault
//! switches, recovery and the control API, all in the `interactions` dialect; `dialect_chats`
//! and `dialect_faults` cover the `chats` dialect and what differs between the two; `agents`
//! covers participants and human agents, `conference` conferences and chats closed by others,
//! and `readings` the reading switches, all in both dialects.

mod agents;
mod chats;
mod conference;
mod dialect_chats;
mod dialect_faults;
mod faults;
mod readings;
mod scripts;
mod wire;

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::*;

const USER: &str = "bot01";
const PASSWORD: &str = "bot-secret";

async fn start(config: SimConfig) -> Sim {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Sim::start(config, addr).await.unwrap()
}

/// The default config plus a second bot user `bot02` / `other-secret`.
fn two_users() -> SimConfig {
    let mut config = SimConfig::default();
    config.users.push(SimUser {
        username: "bot02".into(),
        password: "other-secret".into(),
        id: "bot02".into(),
    });
    config
}

/// The default config speaking the `chats` dialect.
fn chats_config() -> SimConfig {
    SimConfig {
        dialect: SimDialect::Chats,
        ..SimConfig::default()
    }
}

/// A minimal GWS client: one cookie jar, the CSRF token, one CometD client id.
struct Bot {
    http: reqwest::Client,
    api: String,
    csrf: Option<String>,
    client_id: String,
    user: String,
    password: String,
}

impl Bot {
    fn new(sim: &Sim) -> Bot {
        Bot::new_as(sim, USER, PASSWORD)
    }

    fn new_as(sim: &Sim, user: &str, password: &str) -> Bot {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        Bot {
            http,
            api: sim.api_url(),
            csrf: None,
            client_id: String::new(),
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }

    async fn login(sim: &Sim) -> Bot {
        Bot::login_as(sim, USER, PASSWORD).await
    }

    async fn login_as(sim: &Sim, user: &str, password: &str) -> Bot {
        let mut bot = Bot::new_as(sim, user, password);
        bot.refresh().await;
        bot
    }

    /// `GET /me`: keeps the CSRF token.
    async fn refresh(&mut self) -> Value {
        let r = self
            .http
            .get(format!("{}/me", self.api))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-csrf-header"], "X-CSRF-TOKEN");
        self.csrf = Some(r.headers()["x-csrf-token"].to_str().unwrap().to_owned());
        r.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.api))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// A GET whatever its status: the status and the body.
    async fn get_raw(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.api))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// A `chats`-dialect operation: the whole reply.
    async fn chat_op(&self, chat: &str, body: Value) -> Value {
        self.post(&format!("/me/chats/{chat}"), body).await
    }

    /// A `chats`-dialect operation: its `statusCode`.
    async fn cop(&self, chat: &str, body: Value) -> i64 {
        self.chat_op(chat, body).await["statusCode"]
            .as_i64()
            .unwrap()
    }

    /// Connects until a notification for which `pred` holds arrives; returns everything received.
    async fn until_where(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut all = Vec::new();
        for _ in 0..10 {
            all.extend(self.connect().await);
            if all.iter().any(&pred) {
                return all;
            }
        }
        panic!("no {what} in {all:?}");
    }

    /// `chats` dialect: a chat is offered and accepted; returns its id and the notifications
    /// since the offer, up to the bot's own `ParticipantJoined`.
    async fn accept_chat(&self, sim: &Sim, spec: ChatSpec) -> (String, Vec<Value>) {
        let id = sim.control().create_chat(spec);
        self.until_where("offer", |d| d["chat"]["state"] == "Invited")
            .await;
        assert_eq!(
            self.cop(&id, json!({"operationName":"Accept","nickname":"Botty"}))
                .await,
            0
        );
        let notes = self
            .until_where("the bot joining", |d| {
                d["messageType"] == "MessageLogUpdated"
                    && d["messages"][0]["type"] == "ParticipantJoined"
            })
            .await;
        (id, notes)
    }

    /// A raw `/meta/connect` for `client_id`, without checking the answer.
    async fn connect_raw(&self) -> Vec<Value> {
        self.cometd(json!([{"channel":"/meta/connect","clientId":self.client_id,"connectionType":"long-polling"}]))
            .await
    }

    async fn post_raw(&self, path: &str, body: &Value, csrf: Option<&str>) -> (u16, String) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.api))
            .basic_auth(&self.user, Some(&self.password))
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
        assert_eq!(r[0]["advice"]["reconnect"], "retry");
        assert!(r[0]["advice"]["timeout"].as_u64().unwrap() >= 1000);
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

/// An opaque `participantId`: 16 upper-case hex digits.
fn is_opaque(id: &str) -> bool {
    id.len() == 16
        && id
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        && u64::from_str_radix(id, 16).is_ok()
}

fn kinds(notes: &[Value]) -> Vec<String> {
    notes
        .iter()
        .filter_map(|d| d["notificationType"].as_str().map(str::to_owned))
        .collect()
}

/// `{api}/users/{id}`: how the `chats` dialect names an agent.
fn agent_uri(sim: &Sim, id: &str) -> String {
    format!("{}/users/{id}", sim.api_url())
}

/// `chats` status changes to `state`.
fn state_changes<'a>(notes: &'a [Value], state: &str) -> Vec<&'a Value> {
    notes
        .iter()
        .filter(|d| d["messageType"] == "ChatStateChangeMessage" && d["chat"]["state"] == state)
        .collect()
}

/// The entries of every `MessageLogUpdated`.
fn log_entries(notes: &[Value]) -> Vec<Value> {
    notes
        .iter()
        .filter(|d| d["messageType"] == "MessageLogUpdated")
        .flat_map(|d| d["messages"].as_array().cloned().unwrap_or_default())
        .collect()
}
