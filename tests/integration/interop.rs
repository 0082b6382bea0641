//! Interoperability with Bayeux peers that other people wrote, run by Node on 127.0.0.1 (see
//! `interop/`): our CometD client (with the real GWS transport) against faye and
//! cometd-nodejs-server, and the official CometD JavaScript client against our simulator.
//!
//! Where the two servers differ on the wire, and what in the client copes with it:
//! - Session affinity: cometd-nodejs-server sets a `BAYEUX_BROWSER` cookie on the handshake and
//!   knows no session without it (`402::session_unknown`); faye uses no cookie. The shared
//!   cookie jar of the transport sends it back (checked on every request below).
//! - Unknown client: faye answers `401:<clientId>:Unknown client` with advice `handshake` and no
//!   `interval`; cometd-nodejs-server `402::session_unknown` with `interval: 0`. The client
//!   matches the code 402 or the text, and keeps the last interval it was given.
//! - Advice: faye repeats `advice` on every connect reply; cometd-nodejs-server only on the
//!   handshake (and on a connect that itself carried advice). Advice is merged, never reset.
//! - Order: faye puts the connect reply first and the data after it; cometd-nodejs-server the
//!   data first. Data is delivered in array order wherever the reply sits.
//! - Echoes: faye echoes `clientId` in meta replies and adds an `id` to data messages;
//!   cometd-nodejs-server does neither. Both are ignored.
//! - Handshake: faye lists six connection types, cometd-nodejs-server only `long-polling`; both
//!   want the handshake alone in its request (cometd-nodejs-server fails a batch with HTTP 500).
//! - Body: faye reads JSON only with `Content-Type: application/json` (else a form field).
//! - A second concurrent `/meta/connect` of one session: cometd-nodejs-server answers the held
//!   one with HTTP 500; faye never answers it (the newer one gets the messages). The client
//!   keeps exactly one outstanding (the peers report any overlap as a violation), gives up a
//!   poll only after `advice.timeout` plus a margin, and drops it before `/meta/disconnect`.

mod node;

use std::time::Duration;

use gws_botd::backoff::Backoff;
use gws_botd::cometd::{self, Notification};
use gws_botd::gws::{Credentials, TlsOptions, Transport};
use gws_botd::sim::{ChatSpec, Sim};
use gws_botd::telemetry::health::Flag;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::{WAIT, sim_config};
use node::Peer;

/// The topics the daemon subscribes to in the `interactions` dialect.
const TOPICS: [&str; 2] = ["/v2/me/interactions", "/v2/me/channels"];

/// A third-party Bayeux server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Faye,
    CometD,
}

impl Server {
    fn script(self) -> &'static str {
        match self {
            Server::Faye => "faye-server.js",
            Server::CometD => "cometd-server.js",
        }
    }

    /// How long the server holds an idle `/meta/connect`: 1 s (faye counts seconds, CometD ms).
    fn hold_arg(self) -> &'static str {
        match self {
            Server::Faye => "1",
            Server::CometD => "1000",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Server::Faye => "/bayeux",
            Server::CometD => "/cometd",
        }
    }
}

/// Our client, running.
struct Ours {
    rx: mpsc::Receiver<Notification>,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), cometd::Error>>,
    link: Flag,
}

impl Ours {
    /// The client as the daemon builds it: the real [`Transport`], the daemon's topics.
    fn start(url: String) -> Ours {
        let transport = Transport::new(
            &url,
            Credentials {
                username: "bot01".into(),
                password: "bot-secret".to_owned().into(),
            },
            &TlsOptions::default(),
            Duration::from_secs(5),
        )
        .expect("transport");
        let link = Flag::default();
        let client = cometd::Client::new(
            transport,
            url,
            TOPICS.iter().map(|t| (*t).to_owned()).collect(),
            Backoff::new(Duration::from_millis(50), Duration::from_millis(400), 0.0),
        )
        .report_link(link.clone());
        let (tx, rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(client.run(tx, cancel.clone()));
        Ours {
            rx,
            cancel,
            task,
            link,
        }
    }

    async fn next(&mut self, what: &str) -> Notification {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
            .unwrap_or_else(|| panic!("the client stopped before {what}"))
    }

    /// The server publishes on every topic; the client hands each message over, in order.
    async fn receives_published(&mut self, peer: &mut Peer, round: u32) {
        for topic in TOPICS {
            let data = json!({"round": round, "topic": topic, "text": "héllo ✓"});
            peer.send(json!({"cmd": "publish", "channel": topic, "data": data}))
                .await;
            peer.wait_event("published").await;
            let got = self.next(&format!("the message on {topic}")).await;
            assert_eq!(
                got,
                Notification::Message {
                    channel: topic.to_owned(),
                    data
                }
            );
        }
    }
}

/// The requests of every `exchange` event that contain a message on `channel`.
fn exchanges_with<'a>(events: &'a [Value], channel: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event"] == "exchange")
        .filter(|e| {
            e["request"]
                .as_array()
                .is_some_and(|r| r.iter().any(|m| m["channel"] == channel))
        })
        .collect()
}

/// Connect, subscribe, receive, survive a server-side expiry, disconnect: against `server`.
async fn full_cycle(server: Server) {
    let mut peer = Peer::start(server.script(), &[server.hold_arg()], &[]).await;
    let port = peer.wait_event("listening").await["port"]
        .as_u64()
        .expect("port");
    let mut ours = Ours::start(format!("http://127.0.0.1:{port}{}", server.path()));

    assert_eq!(
        ours.next("the first connection").await,
        Notification::Connected { first: true }
    );
    assert!(ours.link.get(), "link reported up");
    ours.receives_published(&mut peer, 1).await;

    // Idle long polls run out on the server and are renewed: a poll made after the message
    // above is answered empty (only its own reply), and the next message still arrives.
    let idle = peer
        .wait_for("an idle poll answered", |e| {
            e["event"] == "exchange"
                && e["request"][0]["channel"] == "/meta/connect"
                && e["response"].as_array().is_some_and(|r| r.len() == 1)
                && e["response"][0]["successful"] == true
        })
        .await;
    assert_eq!(idle["status"], 200);
    ours.receives_published(&mut peer, 2).await;

    // The server forgets the session (as when it expires): handshake and subscribe again.
    peer.send(json!({"cmd": "expire"})).await;
    let expired = peer.wait_event("expired").await;
    assert_eq!(expired["clientIds"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        ours.next("the re-handshake").await,
        Notification::Connected { first: false }
    );
    assert!(ours.link.get(), "link reported up again");
    ours.receives_published(&mut peer, 3).await;

    // A clean disconnect the server sees.
    ours.cancel.cancel();
    let result = tokio::time::timeout(WAIT, ours.task)
        .await
        .expect("client stops")
        .expect("client task");
    assert!(result.is_ok(), "{result:?}");
    let removed = peer
        .wait_for("the session removed by a disconnect", |e| {
            e["event"] == "session_removed" && e["timeout"] == false
        })
        .await;
    assert_ne!(
        removed["clientId"], expired["clientIds"][0],
        "the new session"
    );
    let disconnect = peer
        .wait_seen("the /meta/disconnect exchange", |e| {
            exchanges_with(std::slice::from_ref(e), "/meta/disconnect").len() == 1
        })
        .await;
    assert_eq!(disconnect["status"], 200);
    assert_eq!(
        disconnect["response"][0]["successful"], true,
        "{disconnect}"
    );

    let events = peer.events().to_vec();
    let violations: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "violation")
        .collect();
    assert!(violations.is_empty(), "{violations:?}");
    let failed: Vec<_> = exchanges_with(&events, "/meta/connect")
        .into_iter()
        .chain(exchanges_with(&events, "/meta/subscribe"))
        .filter(|e| e["status"] != 200)
        .collect();
    assert!(failed.is_empty(), "HTTP errors: {failed:?}");
    assert_eq!(exchanges_with(&events, "/meta/handshake").len(), 2);
    let subscribes: usize = exchanges_with(&events, "/meta/subscribe")
        .iter()
        .map(|e| e["request"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        subscribes, 4,
        "every topic subscribed again after the expiry"
    );
    assert_eq!(exchanges_with(&events, "/meta/disconnect").len(), 1);
    if server == Server::CometD {
        // Every request after the first handshake carries the browser cookie it set.
        let without: Vec<_> = events
            .iter()
            .filter(|e| e["event"] == "exchange")
            .skip(1)
            .filter(|e| {
                !e["cookie"]
                    .as_str()
                    .is_some_and(|c| c.contains("BAYEUX_BROWSER="))
            })
            .collect();
        assert!(
            without.is_empty(),
            "requests without BAYEUX_BROWSER: {without:?}"
        );
    }
}

/// The server goes away and a fresh one (which knows no session) comes up on the same port:
/// the client retries through the outage, then handshakes and subscribes again.
async fn server_restart(server: Server) {
    let mut first = Peer::start(server.script(), &[server.hold_arg()], &[]).await;
    let port = first.wait_event("listening").await["port"]
        .as_u64()
        .expect("port")
        .to_string();
    let mut ours = Ours::start(format!("http://127.0.0.1:{port}{}", server.path()));
    assert_eq!(
        ours.next("the first connection").await,
        Notification::Connected { first: true }
    );
    ours.receives_published(&mut first, 1).await;
    first.stop().await;

    let mut second = Peer::start(server.script(), &[server.hold_arg(), &port], &[]).await;
    second.wait_event("listening").await;
    assert_eq!(
        ours.next("the connection to the new server").await,
        Notification::Connected { first: false }
    );
    ours.receives_published(&mut second, 2).await;
    let events = second.events().to_vec();
    let refused: Vec<_> = exchanges_with(&events, "/meta/connect")
        .into_iter()
        .filter(|e| e["response"][0]["successful"] == false)
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "one connect with the old client id, then a handshake: {refused:?}"
    );
    assert_eq!(exchanges_with(&events, "/meta/handshake").len(), 1);
    ours.cancel.cancel();
    let result = tokio::time::timeout(WAIT, ours.task)
        .await
        .expect("client stops")
        .expect("client task");
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn our_client_survives_a_faye_restart() {
    server_restart(Server::Faye).await;
}

#[tokio::test]
async fn our_client_survives_a_cometd_nodejs_server_restart() {
    server_restart(Server::CometD).await;
}

#[tokio::test]
async fn our_client_works_with_faye() {
    full_cycle(Server::Faye).await;
}

#[tokio::test]
async fn our_client_works_with_cometd_nodejs_server() {
    full_cycle(Server::CometD).await;
}

/// The official CometD JavaScript client logs in to the simulator as a GWS client would and
/// receives the notifications of a chat offered to it.
#[tokio::test]
async fn official_cometd_js_client_gets_chat_notifications_from_the_simulator() {
    let config = sim_config();
    let sim = Sim::start(config.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts");
    let control = sim.control();
    let user = &config.users[0];
    let api = sim.api_url();
    let mut peer = Peer::start(
        "official-client.js",
        &[&api, &user.username],
        &[("GWS_PASSWORD", &user.password)],
    )
    .await;
    let logged_in = peer.wait_event("logged_in").await;
    assert_eq!(logged_in["cookies"], json!(["JSESSIONID"]));
    assert_eq!(logged_in["csrfHeader"], "X-CSRF-TOKEN");
    let ready = peer.wait_event("ready").await;
    assert_eq!(ready["ready"]["statusCode"], 0);
    let state = peer
        .wait_for("the Ready channel state", |e| {
            e["event"] == "message" && e["channel"] == "/v2/me/channels"
        })
        .await;
    assert_eq!(
        state["data"]["channels"][0]["userState"]["state"], "Ready",
        "{state}"
    );

    let id = control.create_chat(ChatSpec {
        customer: "Ann".into(),
        first_message: Some("Hello, is anyone there?".into()),
        ..ChatSpec::default()
    });
    let offer = peer
        .wait_for("the chat invitation", |e| {
            e["event"] == "message" && e["channel"] == "/v2/me/interactions"
        })
        .await;
    let data = &offer["data"];
    assert_eq!(data["messageType"], "InteractionStateMessage", "{offer}");
    assert_eq!(data["notificationType"], "NewInteraction");
    assert_eq!(data["interaction"]["id"], id.as_str());
    assert_eq!(data["interaction"]["state"], "Invited");
    assert_eq!(data["interaction"]["participants"][0]["nickname"], "Ann");
    assert!(
        data["interaction"]["capabilities"]
            .as_array()
            .is_some_and(|c| c.contains(&json!("Accept")))
    );
    assert_eq!(data["messages"][0]["text"], "Hello, is anyone there?");

    // The simulator forgets every CometD session: the official client must handshake and
    // subscribe again on the simulator's `402::Unknown client`, and still be offered chats.
    control.drop_cometd_sessions();
    peer.wait_for("the subscriptions after the re-handshake", |e| {
        e["event"] == "subscribed" && e["n"] == 2
    })
    .await;
    let second = control.create_chat(ChatSpec {
        customer: "Bea".into(),
        ..ChatSpec::default()
    });
    let offer = peer
        .wait_for("the second chat invitation", |e| {
            e["event"] == "message" && e["channel"] == "/v2/me/interactions"
        })
        .await;
    assert_eq!(
        offer["data"]["interaction"]["id"],
        second.as_str(),
        "{offer}"
    );

    peer.send(json!({"cmd": "stop"})).await;
    let disconnected = peer.wait_event("disconnected").await;
    assert_eq!(disconnected["successful"], true);
    peer.wait_event("ended").await;

    assert!(
        control.violations().is_empty(),
        "{:?}",
        control.violations()
    );
    let notifications: Vec<_> = control
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v2/notifications"))
        .collect();
    for meta in [
        "/meta/handshake",
        "/meta/subscribe",
        "/meta/connect",
        "/meta/disconnect",
    ] {
        assert!(
            notifications
                .iter()
                .any(|r| r.operation.as_deref().is_some_and(|o| o.contains(meta))),
            "no {meta} in {notifications:?}"
        );
    }
    let refused: Vec<_> = notifications
        .iter()
        .filter(|r| r.http_status != 200)
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    sim.shutdown().await;
}
