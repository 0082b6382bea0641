//! The CometD loop against a scripted fake server on 127.0.0.1 (paused clock, zero jitter).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use secrecy::SecretString;
use serde_json::json;

use super::*;
use crate::gws::fake::{Fake, Recorded, Reply};
use crate::gws::{self, Credentials, TlsOptions};

const TOPICS: [&str; 2] = ["/v2/me/interactions", "/v2/me/channels"];

/// A Bayeux server: handshakes hand out `c1`, `c2`, …; subscribes and disconnects succeed;
/// the n-th connect (1-based) is answered by `on_connect(n)`; `first_handshake` may replace
/// the answer to the first handshake POST(s).
struct Script {
    handshakes: AtomicUsize,
    connects: AtomicUsize,
    on_connect: Box<dyn Fn(usize) -> Reply + Send + Sync>,
    on_handshake: Box<dyn Fn(usize) -> Option<Reply> + Send + Sync>,
}

impl Script {
    fn answer(&self, req: &Recorded) -> Reply {
        if req.method == "GET" {
            return Reply::json(
                200,
                json!({"statusCode":0,"user":{"id":"u1","userName":"bot"}}),
            )
            .header("X-CSRF-HEADER", "X-CSRF-TOKEN")
            .header("X-CSRF-TOKEN", "tok");
        }
        let msgs = req.json();
        let first = &msgs[0];
        match first["channel"].as_str().unwrap_or_default() {
            "/meta/handshake" => {
                let n = self.handshakes.fetch_add(1, Ordering::SeqCst) + 1;
                (self.on_handshake)(n).unwrap_or_else(|| {
                    Reply::json(
                        200,
                        json!([{"channel":"/meta/handshake","successful":true,"version":"1.0",
                        "clientId":format!("c{n}"),"id":first["id"],
                        "advice":{"reconnect":"retry","interval":0,"timeout":30000}}]),
                    )
                })
            }
            "/meta/subscribe" => {
                let replies: Vec<_> = msgs
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| {
                        json!({"channel":"/meta/subscribe","successful":true,
                        "subscription":m["subscription"],"id":m["id"]})
                    })
                    .collect();
                Reply::json(200, json!(replies))
            }
            "/meta/connect" => (self.on_connect)(self.connects.fetch_add(1, Ordering::SeqCst) + 1),
            "/meta/disconnect" => Reply::json(
                200,
                json!([{"channel":"/meta/disconnect","successful":true}]),
            ),
            _ => Reply::text(400, "unexpected"),
        }
    }
}

fn connect_ok() -> Value {
    json!({"channel":"/meta/connect","successful":true,"advice":{"reconnect":"retry","interval":0}})
}

/// A connect the server holds until its timeout, then answers with nothing new.
fn idle_connect() -> Reply {
    Reply::json(200, json!([connect_ok()])).after(Duration::from_secs(30))
}

async fn start(script: Script) -> (Fake, Client) {
    let script = Arc::new(script);
    let s = script.clone();
    let fake = Fake::start(move |req| s.answer(req)).await;
    let creds = Credentials {
        username: "bot".into(),
        password: SecretString::from("pw".to_owned()),
    };
    let transport = gws::Transport::new(
        &fake.api_url(),
        creds,
        &TlsOptions::default(),
        Duration::from_secs(5),
    )
    .unwrap();
    let client = Client::new(
        transport,
        format!("{}/notifications", fake.api_url()),
        TOPICS.iter().map(|t| (*t).to_owned()).collect(),
        Backoff::new(Duration::from_secs(1), Duration::from_secs(8), 0.0),
    );
    (fake, client)
}

fn channels(requests: &[Recorded]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            if r.method == "GET" {
                "GET me".to_owned()
            } else {
                r.json()[0]["channel"].as_str().unwrap_or("?").to_owned()
            }
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn delivers_in_order_and_rehandshakes_on_unknown_client() {
    let script = Script {
        handshakes: AtomicUsize::new(0),
        connects: AtomicUsize::new(0),
        on_handshake: Box::new(|_| None),
        on_connect: Box::new(|n| match n {
            // The connect reply sits between two data messages.
            1 => Reply::json(
                200,
                json!([{"channel":"/v2/me/interactions","data":{"n":1}},
                       connect_ok(),
                       {"channel":"/v2/me/channels","data":{"n":2}}]),
            ),
            2 => Reply::json(
                200,
                json!([{"channel":"/meta/connect","successful":false,"error":"402::Unknown client",
                        "advice":{"reconnect":"handshake","interval":0}}]),
            ),
            _ => idle_connect(),
        }),
    };
    let (fake, client) = start(script).await;
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(client.run(tx, cancel.clone()));

    assert_eq!(
        rx.recv().await,
        Some(Notification::Connected { first: true })
    );
    assert_eq!(
        rx.recv().await,
        Some(Notification::Message {
            channel: "/v2/me/interactions".into(),
            data: json!({"n":1})
        })
    );
    assert_eq!(
        rx.recv().await,
        Some(Notification::Message {
            channel: "/v2/me/channels".into(),
            data: json!({"n":2})
        })
    );
    assert_eq!(
        rx.recv().await,
        Some(Notification::Connected { first: false })
    );
    cancel.cancel();
    task.await.unwrap().unwrap();

    let seen = fake.requests();
    let chans = channels(&seen);
    assert_eq!(
        &chans[..7],
        [
            "/meta/handshake",
            "/meta/subscribe",
            "/meta/connect",
            "/meta/connect",
            "/meta/handshake",
            "/meta/subscribe",
            "/meta/connect",
        ]
    );
    assert_eq!(chans.last().map(String::as_str), Some("/meta/disconnect"));
    // Both subscribes carry every topic, the second with the new client id.
    for (i, expected_id) in [(1, "c1"), (5, "c2")] {
        let subs = seen[i].json();
        let topics: Vec<_> = subs
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["subscription"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(topics, TOPICS);
        assert_eq!(subs[0]["clientId"], expected_id);
    }
    assert_eq!(seen.last().unwrap().json()[0]["clientId"], "c2");
    assert!(seen.iter().all(|r| r.header("authorization").is_some()));
}

#[tokio::test(start_paused = true)]
async fn recovers_from_http_errors_with_backoff() {
    let script = Script {
        handshakes: AtomicUsize::new(0),
        connects: AtomicUsize::new(0),
        // 401 twice, then a CSRF 403 (answered by GET me and a retry), then success.
        on_handshake: Box::new(|n| match n {
            1 | 2 => Some(Reply::text(401, "")),
            3 => Some(Reply::text(403, "Missing or invalid Csrf token")),
            _ => None,
        }),
        on_connect: Box::new(|n| match n {
            1 => Reply::text(503, "busy"),
            2 => Reply::json(200, json!([connect_ok()])),
            _ => idle_connect(),
        }),
    };
    let (fake, client) = start(script).await;
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let started = tokio::time::Instant::now();
    let task = tokio::spawn(client.run(tx, cancel.clone()));

    assert_eq!(
        rx.recv().await,
        Some(Notification::Connected { first: true })
    );
    // Two 401s, each followed by the long wait (the back-off maximum).
    assert!(
        started.elapsed() >= Duration::from_secs(16),
        "{:?}",
        started.elapsed()
    );
    let after_handshake = tokio::time::Instant::now();
    assert_eq!(
        rx.recv().await,
        Some(Notification::Connected { first: false }),
        "a connect that succeeds after an error is a recovery"
    );
    assert!(
        after_handshake.elapsed() >= Duration::from_secs(1),
        "backed off after 503"
    );
    cancel.cancel();
    task.await.unwrap().unwrap();

    let seen = fake.requests();
    assert_eq!(
        &channels(&seen)[..7],
        [
            "/meta/handshake",
            "/meta/handshake",
            "/meta/handshake",
            "GET me",
            "/meta/handshake",
            "/meta/subscribe",
            "/meta/connect",
        ]
    );
    assert_eq!(
        seen[4].header("x-csrf-token"),
        Some("tok"),
        "retry carries the token"
    );
}

#[tokio::test(start_paused = true)]
async fn reconnect_none_ends_the_run_with_an_error() {
    let script = Script {
        handshakes: AtomicUsize::new(0),
        connects: AtomicUsize::new(0),
        on_handshake: Box::new(|_| None),
        on_connect: Box::new(|_| {
            Reply::json(
                200,
                json!([{"channel":"/meta/connect","successful":false,"error":"403::banned",
                        "advice":{"reconnect":"none"}}]),
            )
        }),
    };
    let (_fake, client) = start(script).await;
    let (tx, mut rx) = mpsc::channel(16);
    let result = client.run(tx, CancellationToken::new()).await;
    assert!(
        matches!(&result, Err(Error::ReconnectNone { reason }) if reason.contains("banned")),
        "{result:?}"
    );
    assert_eq!(
        rx.recv().await,
        Some(Notification::Connected { first: true })
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_receiver_stops_the_client() {
    let script = Script {
        handshakes: AtomicUsize::new(0),
        connects: AtomicUsize::new(0),
        on_handshake: Box::new(|_| None),
        on_connect: Box::new(|_| idle_connect()),
    };
    let (fake, client) = start(script).await;
    let link = crate::telemetry::health::Flag::default();
    let client = client.report_link(link.clone());
    let (tx, rx) = mpsc::channel(16);
    drop(rx);
    // Nobody to hand notifications to: the client stops on its own, without being cancelled,
    // as soon as it has something to hand over (here: that it is connected).
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        client.run(tx, CancellationToken::new()),
    )
    .await
    .expect("the client stops without a receiver");
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        channels(&fake.requests()),
        ["/meta/handshake", "/meta/subscribe"],
        "no long poll is opened for nobody"
    );
    assert!(!link.get(), "a stopped client does not report a live link");
}

#[tokio::test(start_paused = true)]
async fn a_server_that_does_not_hold_polls_is_not_hammered() {
    let script = Script {
        handshakes: AtomicUsize::new(0),
        connects: AtomicUsize::new(0),
        on_handshake: Box::new(|_| None),
        on_connect: Box::new(|_| Reply::json(200, json!([connect_ok()]))),
    };
    let (fake, client) = start(script).await;
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(client.run(tx, cancel.clone()));
    assert_eq!(
        rx.recv().await,
        Some(Notification::Connected { first: true })
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    cancel.cancel();
    task.await.unwrap().unwrap();
    let connects = channels(&fake.requests())
        .iter()
        .filter(|c| *c == "/meta/connect")
        .count();
    assert!(
        (15..=22).contains(&connects),
        "{connects} connects in 10 s; expected about one per {MIN_IDLE_POLL:?}"
    );
}

/// With `deliver_payloads`, messages come as their text (a `\u` escape and all) in the same
/// order as `Message`s would; a body that is not JSON fails the connect, which is retried.
#[tokio::test(start_paused = true)]
async fn payloads_are_handed_on_as_the_server_wrote_them() {
    let script = Script {
        handshakes: AtomicUsize::new(0),
        connects: AtomicUsize::new(0),
        on_handshake: Box::new(|_| None),
        on_connect: Box::new(|n| match n {
            1 => Reply::text(
                200,
                r#"[{"channel":"/v2/me/interactions","data":{"t":"caf\u00e9", "n":1}},
                    {"channel":"/meta/connect","successful":true,"advice":{"interval":0}},
                    {"channel":"/v2/me/channels","data":[2]}, 7, {"channel":"/v2/x"}]"#,
            ),
            2 => Reply::text(200, "not json"),
            3 => Reply::json(
                200,
                json!([{"channel":"/v2/me/channels","data":{"n":3}}, connect_ok()]),
            ),
            _ => idle_connect(),
        }),
    };
    let (fake, client) = start(script).await;
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(client.deliver_payloads().run(tx, cancel.clone()));

    assert_eq!(
        rx.recv().await,
        Some(Notification::Connected { first: true })
    );
    let Some(Notification::Payload { channel, data }) = rx.recv().await else {
        panic!("no payload")
    };
    assert_eq!(channel, "/v2/me/interactions");
    assert_eq!(data.as_str(), r#"{"t":"caf\u00e9", "n":1}"#, "as written");
    assert_eq!(
        data,
        message::Payload::from_value(&json!({"n":1,"t":"café"}))
    );
    let Some(Notification::Payload { channel, data }) = rx.recv().await else {
        panic!("no second payload")
    };
    assert_eq!(
        (channel.as_str(), data.as_str()),
        ("/v2/me/channels", "[2]")
    );
    // The undecodable answer is a failed connect: the client recovers and goes on (the
    // messages of the answer first, then the recovery).
    let Some(Notification::Payload { data, .. }) = rx.recv().await else {
        panic!("no payload after the failure")
    };
    assert_eq!(data.to_value(), json!({"n":3}));
    assert_eq!(
        rx.recv().await,
        Some(Notification::Connected { first: false })
    );
    cancel.cancel();
    task.await.unwrap().unwrap();
    assert!(channels(&fake.requests()).contains(&"/meta/disconnect".to_owned()));
}
