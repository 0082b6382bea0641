//! The HTTP layer against a fake server on 127.0.0.1: auth, CSRF, sessions, limits.

use super::*;
use crate::gws::fake::{Fake, Reply};
use serde_json::json;

fn creds() -> Credentials {
    Credentials {
        username: "bot1".into(),
        password: SecretString::from("hunter2".to_owned()),
    }
}

fn transport(url: &str) -> Transport {
    Transport::new(url, creds(), &TlsOptions::default(), Duration::from_secs(5)).unwrap()
}

fn me_reply() -> Reply {
    Reply::json(
        200,
        json!({"statusCode":0,"user":{"id":"u-7","userName":"bot1"}}),
    )
    .header("X-CSRF-HEADER", "X-Token-Name")
    .header("X-CSRF-TOKEN", "tok-1")
}

#[test]
fn debug_output_hides_the_password() {
    let text = format!("{:?}", creds());
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("bot1"));
    let t = transport("http://127.0.0.1:1/api/v2/");
    let text = format!("{t:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert_eq!(t.api_url(), "http://127.0.0.1:1/api/v2");
}

#[test]
fn me_parsing_is_tolerant() {
    let me = parse_me(&json!({"user":{"id":42,"userName":"x"}})).unwrap();
    assert_eq!(me.id, "42");
    assert_eq!(parse_me(&json!({"user":{"userName":"x"}})), None);
    assert_eq!(parse_me(&json!([])), None);
}

#[tokio::test]
async fn get_me_stores_csrf_and_posts_send_it_with_basic_auth() {
    let fake = Fake::start(|req| match req.path.as_str() {
        "/api/v2/me" => me_reply(),
        _ => Reply::json(200, json!({"statusCode":0})),
    })
    .await;
    let t = transport(&fake.api_url());
    let me = t.get_me().await.unwrap();
    assert_eq!(
        me,
        Me {
            id: "u-7".into(),
            user_name: "bot1".into()
        }
    );
    assert_eq!(t.csrf_header_name().as_deref(), Some("x-token-name"));
    let url = format!("{}/me/channels/chat", fake.api_url());
    let got = t
        .post_json(
            &url,
            &json!({"operationName":"Ready"}),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(got, json!({"statusCode":0}));

    let seen = fake.requests();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        // "bot1:hunter2" in base64.
        assert_eq!(r.header("authorization"), Some("Basic Ym90MTpodW50ZXIy"));
    }
    assert_eq!(seen[0].header("x-token-name"), None, "GET carries no token");
    assert_eq!(seen[1].header("x-token-name"), Some("tok-1"));
    assert_eq!(seen[1].json(), json!({"operationName":"Ready"}));
}

#[tokio::test]
async fn forbidden_post_refreshes_the_token_and_retries_once() {
    let fake = Fake::start(|req| match req.path.as_str() {
        "/api/v2/me" => me_reply(),
        _ if req.header("x-token-name") == Some("tok-1") => {
            Reply::json(200, json!({"statusCode":0}))
        }
        _ => Reply::text(403, "Missing or invalid Csrf token"),
    })
    .await;
    let t = transport(&fake.api_url());
    let url = format!("{}/me/channels/chat", fake.api_url());
    let got = t
        .post_json(&url, &json!({}), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(got["statusCode"], 0);
    let methods: Vec<_> = fake.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["POST", "GET", "POST"]);
}

#[tokio::test]
async fn a_request_is_not_repeated_under_a_session_opened_since_it_was_sent() {
    use std::sync::atomic::AtomicUsize;
    // The first GET me opens a new session (a fresh JSESSIONID); later ones keep it.
    let gets = Arc::new(AtomicUsize::new(0));
    let fake = Fake::start({
        let gets = gets.clone();
        move |req| match req.method.as_str() {
            "GET" if gets.fetch_add(1, Ordering::SeqCst) == 0 => {
                me_reply().header("Set-Cookie", "JSESSIONID=s2; Path=/")
            }
            "GET" => me_reply(),
            _ => {
                Reply::text(403, "Missing or invalid Csrf token").after(Duration::from_millis(300))
            }
        }
    })
    .await;
    let t = transport(&fake.api_url());
    let url = format!("{}/me/interactions/c1", fake.api_url());
    let post = tokio::spawn({
        let t = t.clone();
        async move { t.post_json(&url, &json!({}), Duration::from_secs(5)).await }
    });
    // Another task logs in again while the POST is in flight (GWS restarted).
    fake.received(1).await;
    t.get_me().await.unwrap();
    let err = post.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::NotAuthenticated), "{err:?}");
    let methods: Vec<_> = fake.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["POST", "GET", "GET"], "the POST is not repeated");
}

#[tokio::test]
async fn second_forbidden_is_a_csrf_error() {
    let fake = Fake::start(|req| match req.method.as_str() {
        "GET" => me_reply(),
        _ => Reply::text(403, "Missing or invalid Csrf token"),
    })
    .await;
    let t = transport(&fake.api_url());
    let url = format!("{}/me", fake.api_url());
    let err = t
        .post_json(&url, &json!({}), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Csrf), "{err:?}");
    assert_eq!(fake.requests().len(), 3, "exactly one retry");
}

#[tokio::test]
async fn status_codes_map_to_errors() {
    let fake = Fake::start(|req| match req.path.as_str() {
        "/api/v2/a" => Reply::text(401, "no"),
        "/api/v2/b" => Reply::text(503, "down for maintenance"),
        "/api/v2/c" => Reply::text(200, "<html>not json</html>"),
        "/api/v2/d" => Reply::text(200, ""),
        _ => Reply::text(404, "?"),
    })
    .await;
    let t = transport(&fake.api_url());
    let api = fake.api_url();
    let get = |p: &str| {
        let url = format!("{api}/{p}");
        let t = t.clone();
        async move { t.get_json(&url, Duration::from_secs(5)).await }
    };
    assert!(matches!(get("a").await, Err(Error::Unauthorized)));
    assert!(
        matches!(get("b").await, Err(Error::Http { status: 503, body }) if body == "down for maintenance")
    );
    assert!(matches!(get("c").await, Err(Error::Decode { .. })));
    assert_eq!(get("d").await.unwrap(), Value::Null);
    let err = get("zz").await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 404, .. }), "{err:?}");
}

/// A body over the limit fails its request alone, whatever its status: the next request
/// works, and an error status keeps its meaning (a 503 stays retryable).
#[tokio::test]
async fn bodies_over_the_limit_fail_their_request_only() {
    let big = "x".repeat(300_000);
    let fake = Fake::start(move |req| match req.path.as_str() {
        "/api/v2/big" => Reply::json(200, json!({ "blob": big.clone() })),
        "/api/v2/big503" => Reply::text(503, &big),
        _ => Reply::json(200, json!({"statusCode": 0})),
    })
    .await;
    let t = transport(&fake.api_url()).with_max_response_size(100_000);
    let get = |p: &str| {
        let url = format!("{}/{p}", fake.api_url());
        let t = t.clone();
        async move { t.get_json(&url, Duration::from_secs(5)).await }
    };
    let err = get("big").await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 100_000 }), "{err:?}");
    assert!(!err.is_transient());
    assert!(
        matches!(get("big503").await, Err(Error::Http { status: 503, body }) if body.is_empty())
    );
    assert_eq!(get("small").await.unwrap(), json!({"statusCode": 0}));
    let t = transport(&fake.api_url());
    let url = format!("{}/big", fake.api_url());
    assert!(
        t.get_json(&url, Duration::from_secs(5)).await.is_ok(),
        "the default limit is 16 MiB"
    );
}

/// A chat id `.` or `..` would be removed from the URL by normalisation (and `%2E%2E` too),
/// so the request would reach the parent resource: it is not sent.
#[tokio::test]
async fn dot_segments_are_never_sent() {
    let fake = Fake::start(|_| Reply::json(200, json!({"statusCode": 0}))).await;
    let t = transport(&fake.api_url());
    for id in ["..", ".", "%2E%2e", "%2e"] {
        let url = format!("{}/me/interactions/{id}", fake.api_url());
        let err = t
            .post_json(&url, &json!({}), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Refused(_)), "{id}: {err:?}");
    }
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    assert_eq!(dot_segment("http://h/api/v2/me/chats/..?x=1"), Some(".."));
    assert_eq!(dot_segment("http://h/api/v2/me/chats/a..b"), None);
    assert_eq!(dot_segment("http://h/api/v2/me/chats/%2E%2E%2E"), None);
    assert_eq!(dot_segment("http://h/api/v2/me/chats/.%2E"), Some(".."));
    assert_eq!(dot_segment("http://h/api/v2/me/chats/%2e."), Some(".."));
    assert_eq!(dot_segment("http://h/api/v2/me/chats/%2e%2"), None);
    assert_eq!(
        dot_segment("http://h/api/v2/me/chats/é.é"),
        None,
        "any byte may follow"
    );
    assert_eq!(dot_segment("http://h/api/v2/me/chats/..."), None);
}

#[tokio::test]
async fn connection_refused_is_an_unsent_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let t = transport(&format!("http://{addr}/api/v2"));
    let err = t.get_me().await.unwrap_err();
    assert!(matches!(err, Error::Unsent(_)), "{err:?}");
    assert!(err.is_transient() && !err.is_ambiguous());
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn api_urls_are_checked_without_echoing_secrets() {
    let opts = TlsOptions::default();
    let new = |url: &str| Transport::new(url, creds(), &opts, Duration::from_secs(1));
    assert!(matches!(new("gws.example/api/v2"), Err(Error::Setup(_))));
    assert!(matches!(
        new("ftp://gws.example/api/v2"),
        Err(Error::Setup(_))
    ));
    let err = new("http://bot:s3cret@gws.example/api/v2").unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert!(new("https://gws.example/api/v2").is_ok());
}

#[test]
fn unreadable_ca_file_is_a_setup_error() {
    let tls = TlsOptions {
        extra_ca: Some("/nonexistent/ca.pem".into()),
        danger_accept_invalid_certs: false,
    };
    let err = Transport::new("http://x", creds(), &tls, Duration::from_secs(1)).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

/// The URLs made from the parsed API root are what `Url::parse` makes of the same text; any
/// URL that is not the root and a plain path is left to reqwest.
#[test]
fn urls_from_the_api_root_parse_as_the_whole_text_would() {
    for api in [
        "http://GWS.example:8080/api/v2",
        "https://gws/api/v2/",
        "http://127.0.0.1:1",
        "http://h/a%2Fb/v2",
    ] {
        let t = transport(api);
        let root = api.trim_end_matches('/');
        for rest in [
            "",
            "/",
            "/me",
            "/me/interactions/0000Na9B26EF002X/send-message",
            "/me/chats/a%2Fb%20c/messages",
            "/notifications",
            "/x//y/",
            "/a:b@c;d=e,f+g*h'i(j)k!l$m&n~o",
        ] {
            let url = format!("{root}{rest}");
            let made = t.url_of(&url).unwrap_or_else(|| panic!("{url}"));
            assert_eq!(made, reqwest::Url::parse(&url).unwrap(), "{url}");
        }
        for other in [
            format!("{root}/me?x=1"),
            format!("{root}/me#f"),
            format!("{root}/me/a b"),
            format!("{root}/me/\\x"),
            format!("{root}/me/é"),
            format!("{root}x/me"),
            "http://elsewhere/api/v2/me".to_owned(),
        ] {
            assert_eq!(t.url_of(&other), None, "{other}");
        }
    }
    let with_query = transport("http://gws/api/v2?tenant=1");
    assert_eq!(with_query.url_of("http://gws/api/v2?tenant=1/me"), None);
}
