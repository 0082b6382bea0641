//! The REST client against a scripted fake server on 127.0.0.1 (paused clock, zero jitter).

use super::*;
use crate::gws::fake::{Fake, Reply};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};

fn config(url: &str, attempts: u32) -> ClientConfig {
    let mut config = ClientConfig::new(
        url,
        Credentials {
            username: "bot".into(),
            password: SecretString::from("hunter2".to_owned()),
        },
    );
    config.retry = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), 0.0);
    config.retry_attempts = attempts;
    config
}

/// A fake answering `n`-th POST (0-based) with `replies[n]`, then the last one forever.
async fn scripted(replies: Vec<Reply>) -> (Fake, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let fake = Fake::start(move |_| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        replies[n.min(replies.len() - 1)].clone()
    })
    .await;
    (fake, count)
}

#[test]
fn debug_output_hides_the_password() {
    let config = config("http://127.0.0.1:1/api/v2", 1);
    assert!(!format!("{config:?}").contains("hunter2"));
    let client = Client::new(config).unwrap();
    assert!(!format!("{client:?}").contains("hunter2"));
}

#[tokio::test(start_paused = true)]
async fn execute_posts_the_dialect_body_to_the_interaction() {
    let (fake, _) = scripted(vec![Reply::json(
        200,
        json!({"statusCode":0,"referenceId":5}),
    )])
    .await;
    let client = Client::new(config(&fake.api_url(), 3)).unwrap();
    let ack = client
        .execute(
            &ChatId::from("c-1"),
            &Operation::SendMessage { text: "Hi".into() },
        )
        .await
        .unwrap();
    assert_eq!(ack.reference_id, Some(5));
    let seen = fake.requests();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/api/v2/me/interactions/c-1");
    assert_eq!(
        seen[0].json(),
        json!({"operationName":"SendMessage","text":"Hi"})
    );
    assert_eq!(
        client.notifications_url(),
        format!("{}/notifications", fake.api_url())
    );
}

#[tokio::test(start_paused = true)]
async fn transient_http_errors_are_retried_up_to_the_limit() {
    let (fake, count) = scripted(vec![Reply::text(503, "busy")]).await;
    let client = Client::new(config(&fake.api_url(), 3)).unwrap();
    let err = client.session(&SessionOperation::Ready).await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 503, .. }), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 3);

    let (fake, count) = scripted(vec![
        Reply::text(502, "bad gateway"),
        Reply::json(200, json!({"status":"ok"})),
    ])
    .await;
    let client = Client::new(config(&fake.api_url(), 3)).unwrap();
    let started = tokio::time::Instant::now();
    client.session(&SessionOperation::NotReady).await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "backed off"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_request_is_not_retried_under_a_session_opened_meanwhile() {
    // The first POST fails with 503; before the retry, another task's GET me opens a new
    // session (GWS restarted and may offer the chat again): no blind retry.
    let fake = Fake::start(|req| match req.method.as_str() {
        "GET" => Reply::json(
            200,
            json!({"statusCode":0,"user":{"id":"u-7","userName":"b"}}),
        )
        .header("Set-Cookie", "JSESSIONID=s2; Path=/"),
        _ => Reply::text(503, "restarting"),
    })
    .await;
    let client = Client::new(config(&fake.api_url(), 3)).unwrap();
    let send = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .execute(
                    &ChatId::from("c"),
                    &Operation::SendMessage { text: "Hi".into() },
                )
                .await
        }
    });
    fake.received(1).await;
    client.transport().get_me().await.unwrap();
    let err = send.await.unwrap().unwrap_err();
    assert!(err.needs_login(), "{err:?}");
    let methods: Vec<_> = fake.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["POST", "GET"], "the POST is not repeated");
}

#[tokio::test(start_paused = true)]
async fn status_4_is_retried_once_and_final_codes_not_at_all() {
    let (fake, count) = scripted(vec![Reply::json(200, json!({"statusCode":4}))]).await;
    let client = Client::new(config(&fake.api_url(), 5)).unwrap();
    let err = client
        .execute(&ChatId::from("c"), &Operation::StopProcessing)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Status { code: 4, .. }));
    assert_eq!(count.load(Ordering::SeqCst), 2, "one retry only");

    let (fake, count) = scripted(vec![Reply::json(200, json!({"statusCode":2}))]).await;
    let client = Client::new(config(&fake.api_url(), 5)).unwrap();
    let err = client
        .execute(&ChatId::from("c"), &Operation::Reject)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("parameter not valid"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_message_is_not_sent_again_but_a_refused_one_is() {
    let slow = Reply::json(200, json!({"statusCode":0})).after(Duration::from_secs(60));
    let (fake, count) = scripted(vec![slow]).await;
    let mut cfg = config(&fake.api_url(), 3);
    cfg.request_timeout = Duration::from_secs(1);
    let client = Client::new(cfg).unwrap();
    let chat = ChatId::from("c");
    let err = client
        .execute(&chat, &Operation::SendMessage { text: "Hi".into() })
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "a timeout may have been sent"
    );
    // An idempotent operation is repeated after the same failure.
    client
        .execute(&chat, &Operation::Typing(true))
        .await
        .unwrap_err();
    assert_eq!(count.load(Ordering::SeqCst), 4);

    let (fake, count) = scripted(vec![
        Reply::text(503, "busy"),
        Reply::json(200, json!({"statusCode":0})),
    ])
    .await;
    let client = Client::new(config(&fake.api_url(), 3)).unwrap();
    client
        .execute(&chat, &Operation::SendMessage { text: "Hi".into() })
        .await
        .unwrap();
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "a 503 was not processed: retried"
    );
}

#[tokio::test(start_paused = true)]
async fn unauthorized_is_not_retried() {
    let (fake, count) = scripted(vec![Reply::text(401, "")]).await;
    let client = Client::new(config(&fake.api_url(), 3)).unwrap();
    assert!(matches!(client.login().await, Err(Error::Unauthorized)));
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn list_chats_parses_the_listing() {
    let (fake, _) = scripted(vec![Reply::json(
        200,
        json!({"statusCode":0,"interactions":[{"id":"c1","capabilities":["SendMessage"]}]}),
    )])
    .await;
    let client = Client::new(config(&fake.api_url(), 1)).unwrap();
    let chats = client.list_chats().await.unwrap();
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0].id, ChatId::from("c1"));
    let seen = fake.requests();
    assert_eq!(seen[0].path, "/api/v2/me/interactions");
    assert_eq!(seen[0].query.as_deref(), Some("fields=*"));
}

/// A fake `chats` server: `GET me`, the probe/listing, operations by name, transcripts.
async fn chats_server(
    op_reply: impl Fn(&str) -> Value + Send + Sync + 'static,
    probe: Reply,
) -> Fake {
    Fake::start(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v2/me") => Reply::json(
            200,
            json!({"statusCode":0,"user":{"id":"u-7","userName":"bot1"}}),
        ),
        ("GET", "/api/v2/me/chats") => probe.clone(),
        ("GET", "/api/v2/me/chats/gone/messages") => {
            Reply::json(200, json!({"statusCode":6,"statusMessage":"no such chat"}))
        }
        ("GET", p) if p.ends_with("/messages") => Reply::json(
            200,
            json!({"statusCode":0,"messages":[
                {"index":5,"type":"Text","text":"hello","visibility":"All",
                 "from":{"type":"Customer","nickname":"Pat"}}]}),
        ),
        ("POST", _) => {
            let name = req.json()["operationName"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            Reply::json(200, op_reply(&name))
        }
        _ => Reply::text(404, "Not found"),
    })
    .await
}

fn chats_probe() -> Reply {
    Reply::json(200, json!({"statusCode":0,"chats":[]}))
}

fn fixed(url: &str, dialect: Dialect) -> ClientConfig {
    let mut config = config(url, 3);
    config.dialect = Choice::Fixed(dialect);
    config
}

#[tokio::test(start_paused = true)]
async fn auto_probes_once_after_login_and_keeps_the_answer() {
    let fake = chats_server(|_| json!({"statusCode":0}), chats_probe()).await;
    let client = Client::new(config(&fake.api_url(), 3)).unwrap();
    assert_eq!(client.dialect_choice(), Choice::Auto);
    client.login().await.unwrap();
    assert_eq!(client.dialect(), Dialect::Chats);
    client.login().await.unwrap();
    let probes = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v2/me/chats")
        .count();
    assert_eq!(probes, 1, "a re-login re-uses the answer");
    assert_eq!(
        client.dialect().topics(),
        ["/v2/me/chats", "/v2/me/channels"]
    );

    for other in [
        Reply::text(404, "Not found"),
        Reply::json(200, json!({"statusCode":1})),
        Reply::text(200, "<html>"),
    ] {
        let fake = chats_server(|_| json!({"statusCode":0}), other).await;
        let client = Client::new(config(&fake.api_url(), 3)).unwrap();
        client.login().await.unwrap();
        assert_eq!(client.dialect(), Dialect::Interactions);
    }

    // A fixed dialect is never probed.
    let fake = chats_server(|_| json!({"statusCode":0}), chats_probe()).await;
    let client = Client::new(fixed(&fake.api_url(), Dialect::Interactions)).unwrap();
    client.login().await.unwrap();
    assert_eq!(client.dialect(), Dialect::Interactions);
    assert!(fake.requests().iter().all(|r| r.path != "/api/v2/me/chats"));
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_fails_transiently_fails_the_login_and_decides_nothing() {
    let fake = chats_server(|_| json!({"statusCode":0}), Reply::text(503, "busy")).await;
    let client = Client::new(config(&fake.api_url(), 2)).unwrap();
    let err = client.login().await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 503, .. }), "{err:?}");
    assert_eq!(client.dialect(), Dialect::Interactions, "the fallback");
    assert_eq!(client.inner.dialect.get(), None, "nothing cached");
}

#[tokio::test(start_paused = true)]
async fn chats_stop_processing_is_leave_then_complete() {
    let fake = chats_server(
        |name| match name {
            "Leave" => json!({"statusCode":2,"statusMessage":"not a participant"}),
            _ => json!({"statusCode":0,"referenceId":8}),
        },
        chats_probe(),
    )
    .await;
    let client = Client::new(fixed(&fake.api_url(), Dialect::Chats)).unwrap();
    let ack = client
        .execute(&ChatId::from("c1"), &Operation::StopProcessing)
        .await
        .unwrap();
    assert_eq!(ack.reference_id, Some(8));
    let ops: Vec<_> = fake
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.json()["operationName"].clone()))
        .collect();
    assert_eq!(
        ops,
        [
            ("/api/v2/me/chats/c1".into(), json!("Leave")),
            ("/api/v2/me/chats/c1".into(), json!("Complete")),
        ]
    );

    let fake = chats_server(
        |name| match name {
            "Leave" => json!({"statusCode":6}),
            _ => json!({"statusCode":0}),
        },
        chats_probe(),
    )
    .await;
    let client = Client::new(fixed(&fake.api_url(), Dialect::Chats)).unwrap();
    let err = client
        .execute(&ChatId::from("c1"), &Operation::StopProcessing)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Status { code: 6, .. }), "{err:?}");
    assert_eq!(fake.requests().len(), 1, "no Complete after a real refusal");
}

#[tokio::test(start_paused = true)]
async fn chats_history_is_read_and_delivered_as_a_chat_history_update() {
    let fake = chats_server(|_| json!({"statusCode":0}), chats_probe()).await;
    let client = Client::new(fixed(&fake.api_url(), Dialect::Chats)).unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    client.deliver_transcripts_to(tx);
    let chat = ChatId::from("c1");
    let ack = client
        .execute(
            &chat,
            &Operation::RequestChatHistory {
                event_id: Some("4".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(ack, Ack::default());
    let seen = fake.requests();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/api/v2/me/chats/c1/messages");
    assert_eq!(seen[0].query.as_deref(), Some("startIndex=5"));
    let Some(Event::Chat(update)) = rx.recv().await else {
        panic!("no update")
    };
    assert_eq!(update.id, chat);
    assert_eq!(update.kind, UpdateKind::ChatHistory);
    assert_eq!(update.messages[0].event_id.as_deref(), Some("5"));

    // Accept reads the whole transcript once accepted (no history push in `chats`).
    client
        .execute(
            &chat,
            &Operation::Accept {
                nickname: "Ava".into(),
            },
        )
        .await
        .unwrap();
    let seen = fake.requests();
    assert_eq!(seen[1].json()["operationName"], "Accept");
    assert_eq!(
        (seen[2].path.as_str(), seen[2].query.as_deref()),
        ("/api/v2/me/chats/c1/messages", None)
    );
    assert!(matches!(rx.recv().await, Some(Event::Chat(u)) if u.kind == UpdateKind::ChatHistory));

    // An unknown chat is "not found", as the chat task's probe expects.
    let err = client
        .execute(
            &ChatId::from("gone"),
            &Operation::RequestChatHistory { event_id: None },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Status { code: 6, .. }), "{err:?}");
    assert!(rx.try_recv().is_err(), "nothing delivered for it");
}

#[tokio::test(start_paused = true)]
async fn a_listed_chat_the_bot_left_is_told_apart_and_finished_on_request() {
    let fake = chats_server(
        |_| json!({"statusCode":0}),
        Reply::json(
            200,
            json!({"statusCode":0,"chats":[
                {"id":"live","capabilities":["SendMessage","Complete","Leave"]},
                {"id":"left","state":"LeftChat","capabilities":["Complete"]},
                {"id":"offer","capabilities":["Accept","Reject"]}]}),
        ),
    )
    .await;
    let client = Client::new(fixed(&fake.api_url(), Dialect::Chats)).unwrap();
    let listed = client.list_chats().await.unwrap();
    let left: Vec<_> = listed
        .iter()
        .filter(|c| client.is_left(c))
        .map(|c| c.id.0.as_str())
        .collect();
    assert_eq!(left, ["left"]);
    // Listing changes nothing: a task may be finishing that chat itself.
    assert!(fake.requests().iter().all(|r| r.method == "GET"));
    let chat = listed.iter().find(|c| c.id.0 == "left").unwrap();
    assert!(client.finish_left(chat).await);
    let live = listed.iter().find(|c| c.id.0 == "live").unwrap();
    assert!(
        !client.finish_left(live).await,
        "only a chat the bot has left"
    );
    let posts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| (r.path.clone(), r.json()))
        .collect();
    assert_eq!(
        posts,
        [(
            "/api/v2/me/chats/left".to_owned(),
            json!({"operationName":"Complete"})
        )]
    );
}

#[derive(Debug, Default)]
struct Failures(Mutex<Vec<&'static str>>);

impl Observer for Failures {
    fn request_done(&self, _: &'static str, _: Duration, _: Option<&Error>) {}
    fn request_failed_later(&self, operation: &'static str) {
        self.0.lock().unwrap().push(operation);
    }
}

#[tokio::test(start_paused = true)]
async fn an_error_notification_names_the_request_it_is_about() {
    let fake = chats_server(|_| json!({"statusCode":0,"referenceId":9}), chats_probe()).await;
    let failures = Arc::new(Failures::default());
    let client =
        Client::new(fixed(&fake.api_url(), Dialect::Chats).observed_by(failures.clone())).unwrap();
    let chat = ChatId::from("c1");
    client
        .execute(
            &chat,
            &Operation::TransferToAgent {
                agent_id: "a1".into(),
            },
        )
        .await
        .unwrap();
    let mut error = ChatUpdate::new(chat.clone(), UpdateKind::Error);
    error.reference_id = Some(9);
    error.error = Some("Agent not logged in".into());
    let failed = client.async_failure(&error).unwrap();
    assert_eq!(failed.operation, "transfer_agent");
    assert!(failed.ends_the_bots_part);
    assert_eq!(client.async_failure(&error), None, "reported once");
    assert_eq!(
        client.async_failure(&ChatUpdate::new(chat, UpdateKind::StatusChange)),
        None
    );
    assert_eq!(*failures.0.lock().unwrap(), ["transfer_agent", "unknown"]);
}
