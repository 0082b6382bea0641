//! Test support: a tiny scripted HTTP server on `127.0.0.1:0` that records every request and
//! answers from a closure. The REST and CometD unit tests use it; the full GWS simulator lives
//! elsewhere and drives the integration tests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One request the fake received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: String,
}

impl Recorded {
    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// What the fake answers.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    delay: Option<Duration>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::text(status, &body.to_string()).header("content-type", "application/json")
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
            delay: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Hold the answer for `delay` (tokio time: instant under a paused clock).
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = Some(delay);
        self
    }
}

type Script = dyn Fn(&Recorded) -> Reply + Send + Sync;

#[derive(Clone)]
struct Shared {
    script: Arc<Script>,
    log: Arc<Mutex<Vec<Recorded>>>,
    /// How many requests `log` holds, for [`Fake::received`].
    count: Arc<tokio::sync::watch::Sender<usize>>,
}

/// A running fake; the server stops when this is dropped.
pub(crate) struct Fake {
    addr: std::net::SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
    count: Arc<tokio::sync::watch::Sender<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Fake {
    /// Start a server answering every request with `script(request)`.
    pub async fn start(script: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Fake {
        let log = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(tokio::sync::watch::Sender::new(0));
        let shared = Shared {
            script: Arc::new(script),
            log: log.clone(),
            count: count.clone(),
        };
        let router = Router::new().fallback(handle).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("fake server");
        });
        Fake {
            addr,
            log,
            count,
            task,
        }
    }

    /// `http://127.0.0.1:port/api/v2`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v2", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// Wait until at least `n` requests have arrived (they are recorded before the script
    /// answers them).
    pub async fn received(&self, n: usize) {
        let mut count = self.count.subscribe();
        // The sender lives in `self`: the wait ends only when the count is reached.
        let _ = count.wait_for(|c| *c >= n).await;
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let rec = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    };
    let received = {
        let mut log = shared.log.lock().unwrap();
        log.push(rec.clone());
        log.len()
    };
    shared.count.send_replace(received);
    let reply = (shared.script)(&rec);
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut out = HeaderMap::new();
    for (name, value) in &reply.headers {
        out.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let status = StatusCode::from_u16(reply.status).unwrap();
    (status, out, reply.body).into_response()
}
