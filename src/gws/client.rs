//! The GWS REST client: login (and, with `dialect = "auto"`, finding out the dialect), session
//! operations, chat operations and the chat listing, with retries for transient failures and
//! one place that interprets GWS replies ([`parse_reply`]).
//!
//! Chat operations follow the dialect's [`Plan`]: one POST, or (in `chats`) Leave then
//! Complete, or a transcript fetched with GET and delivered into the event stream as the
//! `ChatHistory` update an `interactions` server would push ([`Client::deliver_transcripts_to`]).
//! Accepted requests are remembered by `referenceId` so that a later `Error` notification
//! names what failed ([`Client::async_failure`]).

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{Instrument, debug, info, info_span, warn};

use super::dialect::notification::u64_of;
use super::dialect::{Choice, Dialect, OperationNames, PROBE_PATH, Plan, Post};
use super::error::Error;
use super::http::{Credentials, Me, TlsOptions, Transport};
use super::operation::{Operation, SessionOperation};
use super::pacer::Pacer;
use super::references::{References, Request};
use super::status::Status;
use crate::backoff::Backoff;
use crate::event::{ChatId, ChatUpdate, Event, UpdateKind};

/// Per-request timeout of REST calls unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Total attempts of a request that fails transiently, unless configured otherwise.
pub const DEFAULT_RETRY_ATTEMPTS: u32 = 3;

/// Everything the REST client needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// API root including `/api/v2`.
    pub api_url: String,
    pub credentials: Credentials,
    /// Timeout of each REST request (CometD long polls set their own).
    pub request_timeout: Duration,
    /// `interactions`, `chats`, or `auto`: probe after the first login.
    pub dialect: Choice,
    pub operation_names: OperationNames,
    /// Delays between attempts of a transiently failing request.
    pub retry: Backoff,
    /// Total attempts (1 = no retry).
    pub retry_attempts: u32,
    pub tls: TlsOptions,
    /// Told about every request attempt (metrics).
    pub observer: Option<Arc<dyn Observer>>,
    /// Ceiling of REST requests per second (0: none). CometD polls are not counted.
    pub max_requests_per_second: u32,
    /// REST and CometD response bodies larger than this many bytes fail their request.
    pub max_response_size: u64,
}

/// Watches every REST request attempt: its operation, duration and error, if any.
pub trait Observer: Send + Sync + std::fmt::Debug {
    fn request_done(&self, operation: &'static str, elapsed: Duration, error: Option<&Error>);

    /// GWS reported (an `Error` notification) that an accepted `operation` failed after all;
    /// `"unknown"` when the request is no longer remembered.
    fn request_failed_later(&self, _operation: &'static str) {}
}

impl ClientConfig {
    /// A configuration with the defaults for everything but the server and the login.
    pub fn new(api_url: impl Into<String>, credentials: Credentials) -> Self {
        ClientConfig {
            api_url: api_url.into(),
            credentials,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            dialect: Choice::default(),
            operation_names: OperationNames::default(),
            retry: Backoff::default(),
            retry_attempts: DEFAULT_RETRY_ATTEMPTS,
            tls: TlsOptions::default(),
            observer: None,
            max_requests_per_second: 0,
            max_response_size: crate::config::DEFAULT_MAX_RESPONSE_SIZE,
        }
    }

    /// The same configuration, with `observer` told about every request attempt.
    pub fn observed_by(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }
}

/// GWS accepted an operation for processing; the outcome arrives as a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ack {
    /// Correlates a later `Error` notification with this request, when the server sends one.
    pub reference_id: Option<u64>,
}

/// Asked before a request is retried after a transient failure: does it still make sense?
/// (A chat may have been queued again and offered back during the back-off; the chat takes it
/// back first, or says no.)
#[async_trait::async_trait]
pub trait Recheck: Send {
    async fn still_valid(&mut self) -> bool;
}

/// Every retry still makes sense.
pub struct Always;

#[async_trait::async_trait]
impl Recheck for Always {
    async fn still_valid(&mut self) -> bool {
        true
    }
}

/// The REST client. Cheap to clone; clones share the HTTP client, cookies and CSRF token.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    transport: Transport,
    choice: Choice,
    /// The dialect in use: the configured one, or what the probe found (kept for the process:
    /// a later login re-uses it).
    dialect: OnceLock<Dialect>,
    /// The logged-in user's id, from the last `GET me` (how the bot knows itself in a chat's
    /// participant list where the server names users).
    user_id: Mutex<Option<String>>,
    names: OperationNames,
    /// Where fetched transcripts go (the daemon's event stream).
    transcripts: Mutex<Option<mpsc::Sender<Event>>>,
    /// Accepted requests by `referenceId`.
    references: Mutex<References>,
    request_timeout: Duration,
    retry: Backoff,
    retry_attempts: u32,
    observer: Option<Arc<dyn Observer>>,
    pacer: Option<Pacer>,
}

impl Client {
    /// Build the client (no network traffic yet).
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let transport = Transport::new(
            &config.api_url,
            config.credentials,
            &config.tls,
            config.request_timeout,
        )?
        .with_max_response_size(config.max_response_size);
        let dialect = OnceLock::new();
        if let Choice::Fixed(d) = config.dialect {
            let _ = dialect.set(d);
        }
        Ok(Client {
            inner: Arc::new(Inner {
                transport,
                choice: config.dialect,
                dialect,
                user_id: Mutex::new(None),
                names: config.operation_names,
                transcripts: Mutex::new(None),
                references: Mutex::new(References::default()),
                request_timeout: config.request_timeout,
                retry: config.retry,
                retry_attempts: config.retry_attempts.max(1),
                observer: config.observer,
                pacer: Pacer::new(config.max_requests_per_second),
            }),
        })
    }

    /// The shared HTTP layer (hand it to the CometD client so both use one cookie jar).
    pub fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The API dialect in use. With `auto` it is known after the first [`Client::login`];
    /// before that it is `interactions`.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect.get().copied().unwrap_or_default()
    }

    /// The bot's own user id, once logged in.
    pub fn user_id(&self) -> Option<String> {
        self.inner
            .user_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The configured dialect (`auto` or a fixed one).
    pub fn dialect_choice(&self) -> Choice {
        self.inner.choice
    }

    /// Send the transcripts this client fetches (the `chats` dialect's history) into `events`
    /// as `ChatHistory` updates, where an `interactions` server's pushed history would arrive.
    pub fn deliver_transcripts_to(&self, events: mpsc::Sender<Event>) {
        *self
            .inner
            .transcripts
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(events);
    }

    /// The CometD endpoint, `{api}/notifications`.
    pub fn notifications_url(&self) -> String {
        format!("{}/notifications", self.inner.transport.api_url())
    }

    /// `GET {api}/me`: opens the HTTP session and fetches the CSRF token. Transient failures
    /// are retried; 401 is returned at once.
    pub async fn login(&self) -> Result<Me, Error> {
        let span = info_span!("gws_request", operation = "login");
        let me = self
            .retrying("login", true, &mut Always, || self.inner.transport.get_me())
            .instrument(span)
            .await?;
        info!(user_id = %me.id, user_name = %me.user_name, "logged in to GWS");
        *self.inner.user_id.lock().unwrap_or_else(|e| e.into_inner()) = Some(me.id.clone());
        if self.inner.dialect.get().is_none() {
            let found = self.probe_dialect().await?;
            if self.inner.dialect.set(found).is_ok() {
                info!(
                    dialect = found.name(),
                    "GWS dialect detected (gws.dialect = \"auto\")"
                );
            }
        }
        Ok(me)
    }

    /// Which dialect the server speaks: `GET {api}/me/chats` answering HTTP 200 with
    /// `statusCode` 0 means `chats`; any other definite answer (404, another status) means
    /// `interactions`. Transient failures are retried and then returned, never guessed from.
    /// Needs a session (after `GET me`).
    pub async fn probe_dialect(&self) -> Result<Dialect, Error> {
        let url = format!("{}{PROBE_PATH}", self.inner.transport.api_url());
        let timeout = self.inner.request_timeout;
        let span = info_span!("gws_request", operation = "probe_dialect");
        let answer = self
            .retrying("probe_dialect", true, &mut Always, || async {
                match self.inner.transport.get_json(&url, timeout).await {
                    Ok(body) => Ok(Some(body)),
                    Err(e) if e.is_transient() || matches!(e, Error::Unauthorized) => Err(e),
                    Err(e) => {
                        debug!(error = %e, "dialect probe refused");
                        Ok(None)
                    }
                }
            })
            .instrument(span)
            .await?;
        let chats = answer.is_some_and(|body| {
            body.get("statusCode")
                .is_some_and(|c| u64_of(Some(c)) == Some(0))
        });
        Ok(if chats {
            Dialect::Chats
        } else {
            Dialect::Interactions
        })
    }

    /// A session operation: start/end the contact-centre session, Ready, NotReady.
    pub async fn session(&self, op: &SessionOperation) -> Result<(), Error> {
        let operation = op.label();
        let (url, body) = self
            .dialect()
            .session_request(self.inner.transport.api_url(), op);
        let span = info_span!("gws_request", operation);
        // Session operations set a state: repeating them is harmless.
        self.post(operation, &url, &body, true, &mut Always)
            .instrument(span)
            .await?;
        Ok(())
    }

    /// A chat operation. `Ok` means GWS accepted it for processing. A non-idempotent operation
    /// (see [`Operation::is_idempotent`]) is not repeated after an ambiguous failure (timeout,
    /// reset): the error is returned, so that a reply never reaches the customer twice.
    pub async fn execute(&self, chat: &ChatId, op: &Operation) -> Result<Ack, Error> {
        self.execute_checked(chat, op, &mut Always).await
    }

    /// [`Client::execute`], asking `still_valid` before each retry after a transient failure
    /// whether the request still makes sense (the chat may have been taken away and offered
    /// again during the back-off: the chat takes it back first). False returns the failure.
    pub async fn execute_checked(
        &self,
        chat: &ChatId,
        op: &Operation,
        still_valid: &mut dyn Recheck,
    ) -> Result<Ack, Error> {
        let operation = op.label();
        let plan = self
            .dialect()
            .plan(self.inner.transport.api_url(), chat, op, &self.inner.names);
        let span = info_span!("gws_request", operation, chat_id = %chat);
        async {
            let idempotent = op.is_idempotent();
            match plan {
                Plan::Post(post) => {
                    self.post_op(chat, op, operation, &post, idempotent, still_valid)
                        .await
                }
                Plan::PostThenTranscript { post, transcript } => {
                    let ack = self
                        .post_op(chat, op, operation, &post, idempotent, still_valid)
                        .await?;
                    // Accepted: the chat asks again if the transcript does not come.
                    if let Err(e) = self.fetch_transcript(chat, &transcript).await {
                        warn!(error = %e, "could not read the transcript after the operation");
                    }
                    Ok(ack)
                }
                Plan::LeaveThenComplete { leave, complete } => {
                    match self
                        .post_op(chat, op, "leave", &leave, idempotent, still_valid)
                        .await
                    {
                        Ok(_) => {}
                        // Not a participant any more: the bot has left already.
                        Err(e) if e.status() == Some(Status::InvalidState) => {
                            debug!("Leave refused as not valid now; the bot has left already")
                        }
                        Err(e) => return Err(e),
                    }
                    self.post_op(chat, op, "complete", &complete, idempotent, still_valid)
                        .await
                }
                Plan::Transcript { url } => {
                    self.fetch_transcript(chat, &url).await?;
                    Ok(Ack::default())
                }
            }
        }
        .instrument(span)
        .await
    }

    /// POST one step of `op` and remember its `referenceId`.
    async fn post_op(
        &self,
        chat: &ChatId,
        op: &Operation,
        operation: &'static str,
        post: &Post,
        idempotent: bool,
        still_valid: &mut dyn Recheck,
    ) -> Result<Ack, Error> {
        let ack = self
            .post(operation, &post.url, &post.body, idempotent, still_valid)
            .await?;
        if let Some(reference_id) = ack.reference_id {
            self.references().remember(
                reference_id,
                Request {
                    chat: chat.clone(),
                    operation,
                    ends_the_bots_part: op.ends_the_bots_part(),
                },
            );
        }
        Ok(ack)
    }

    /// `GET url` (a transcript) and deliver it as a `ChatHistory` update of `chat`.
    async fn fetch_transcript(&self, chat: &ChatId, url: &str) -> Result<(), Error> {
        let timeout = self.inner.request_timeout;
        let body = self
            .retrying("chat_history", true, &mut Always, || async {
                let body = self.inner.transport.get_json(url, timeout).await?;
                parse_reply("chat_history", &body)?;
                Ok(body)
            })
            .await?;
        let update = self.dialect().parse_transcript(chat, &body);
        debug!(entries = update.messages.len(), "transcript fetched");
        let sink = self
            .inner
            .transcripts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match sink {
            Some(events) => {
                // Bounded: the dispatcher never waits for a chat, but a stopping daemon may
                // no longer read.
                let sent = tokio::time::timeout(timeout, events.send(Event::Chat(update))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    debug!("transcript not delivered: the event stream is closed or full");
                }
            }
            None => debug!("transcript fetched but nobody takes it"),
        }
        Ok(())
    }

    /// For an `Error` notification: the accepted request it reports as failed (when still
    /// remembered), logged with the operation and the chat, and counted by operation.
    pub fn async_failure(&self, update: &ChatUpdate) -> Option<Request> {
        if update.kind != UpdateKind::Error {
            return None;
        }
        let request = update
            .reference_id
            .and_then(|id| self.references().take(id, &update.id));
        let operation = request.as_ref().map_or("unknown", |r| r.operation);
        warn!(
            chat_id = %update.id,
            operation,
            reference_id = update.reference_id,
            error = update.error.as_deref().unwrap_or(""),
            "GWS reports that an accepted request failed"
        );
        if let Some(observer) = &self.inner.observer {
            observer.request_failed_later(operation);
        }
        request
    }

    fn references(&self) -> std::sync::MutexGuard<'_, References> {
        // A poisoned lock only means a panic elsewhere mid-update; the table is still usable.
        self.inner
            .references
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The chats the agent currently holds (for recovery after a reconnect or restart). Chats
    /// the bot has left but not finished (`chats`: `Leave` done, `Complete` not) are finished
    /// here and not listed: nothing else is left to do in them.
    pub async fn list_chats(&self) -> Result<Vec<ChatUpdate>, Error> {
        let dialect = self.dialect();
        let url = dialect.listing_path(self.inner.transport.api_url());
        let timeout = self.inner.request_timeout;
        let span = info_span!("gws_request", operation = "list_chats");
        let body = self
            .retrying("list_chats", true, &mut Always, || async {
                let body = self.inner.transport.get_json(&url, timeout).await?;
                parse_reply("list_chats", &body)?;
                Ok(body)
            })
            .instrument(span)
            .await?;
        Ok(dialect.parse_listing(&body))
    }

    /// Whether a listed chat is one the bot has left without finishing it (`chats`: a finish
    /// cut between `Leave` and `Complete`); [`Client::finish_left`] finishes it.
    pub fn is_left(&self, chat: &ChatUpdate) -> bool {
        self.dialect()
            .completion_of_left(self.inner.transport.api_url(), chat)
            .is_some()
    }

    /// Finish a listed chat the bot has left (see [`Client::is_left`]); the outcome is logged.
    /// Only for a chat no task is finishing itself. True when it was finished.
    pub async fn finish_left(&self, chat: &ChatUpdate) -> bool {
        let api = self.inner.transport.api_url();
        let Some(complete) = self.dialect().completion_of_left(api, chat) else {
            return false;
        };
        let span = info_span!("gws_request", operation = "complete", chat_id = %chat.id);
        let done = self
            .post(
                "complete",
                &complete.url,
                &complete.body,
                false,
                &mut Always,
            )
            .instrument(span)
            .await;
        match done {
            Ok(_) => {
                info!(chat_id = %chat.id, "finished a chat the bot had left");
                true
            }
            Err(e) => {
                warn!(chat_id = %chat.id, error = %e, "cannot finish a chat the bot had left");
                false
            }
        }
    }

    async fn post(
        &self,
        operation: &'static str,
        url: &str,
        body: &Value,
        idempotent: bool,
        still_valid: &mut dyn Recheck,
    ) -> Result<Ack, Error> {
        debug!(body = %body, "GWS request");
        let timeout = self.inner.request_timeout;
        let session = self.inner.transport.sessions();
        self.retrying(operation, idempotent, still_valid, || async {
            // A retry after GWS opened a new session (a server restart, a re-login meanwhile)
            // is not sent blindly: the chat may be only an invitation again. The caller
            // re-syncs with the new session first.
            if self.inner.transport.sessions() != session {
                warn!(
                    operation,
                    "GWS opened a new session since the first attempt; not repeating the request"
                );
                return Err(Error::NotAuthenticated);
            }
            let reply = self.inner.transport.post_json(url, body, timeout).await?;
            debug!(reply = %reply, "GWS reply");
            parse_reply(operation, &reply)
        })
        .await
    }

    /// Run `attempt` until it succeeds, fails finally, or the attempts are used up. Transient
    /// errors back off; `statusCode` 4 and 9 are retried at most once; ambiguous failures are
    /// retried only when `idempotent`. Every attempt waits for the rate ceiling.
    async fn retrying<T, F, Fut>(
        &self,
        operation: &'static str,
        idempotent: bool,
        still_valid: &mut dyn Recheck,
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut delays = self.inner.retry.delays();
        let mut status_retried = false;
        let mut tried = 1;
        loop {
            if let Some(pacer) = &self.inner.pacer {
                pacer.wait().await;
            }
            let started = tokio::time::Instant::now();
            let result = attempt().await;
            if let Some(observer) = &self.inner.observer {
                observer.request_done(operation, started.elapsed(), result.as_ref().err());
            }
            let err = match result {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let again = tried < self.inner.retry_attempts
                && err.is_transient()
                && (idempotent || !err.is_ambiguous())
                && match err {
                    Error::Status { .. } => !std::mem::replace(&mut status_retried, true),
                    _ => true,
                };
            // `gws_status_code` / `http_status` become journald fields (GWS_STATUS_CODE=…).
            let (gws_status_code, http_status) = match &err {
                Error::Status { code, .. } => (Some(*code), None),
                Error::Http { status, .. } => (None, Some(*status)),
                _ => (None, None),
            };
            if !again {
                if gws_status_code.is_some() || http_status.is_some() {
                    warn!(operation, gws_status_code, http_status, error = %err,
                        "GWS refused the request");
                }
                return Err(err);
            }
            let delay = delays.next_delay();
            warn!(operation, attempt = tried, gws_status_code, http_status, error = %err,
                delay = ?delay, "GWS request failed, retrying");
            tokio::time::sleep(delay).await;
            if !still_valid.still_valid().await {
                debug!(
                    operation,
                    "not retrying: the request no longer fits the chat"
                );
                return Err(err);
            }
            tried += 1;
        }
    }
}

/// Interpret a GWS reply body: `{"statusCode":0}`, `{"status":0}`, `{"status":"ok"}`,
/// `{"status":"error","errorDescription":…}`, `{"statusCode":N,"statusMessage":…}`.
/// `statusCode` 7 (partial success) is success with a warning; 20 is
/// [`Error::NotAuthenticated`]. A 2xx reply without any status counts as success.
pub fn parse_reply(operation: &'static str, body: &Value) -> Result<Ack, Error> {
    let ack = Ack {
        reference_id: u64_of(body.get("referenceId")),
    };
    let message = ["statusMessage", "errorDescription", "errorMessage"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    let code = match body.get("statusCode").or_else(|| body.get("status")) {
        None | Some(Value::Null) => {
            debug!(
                operation,
                "reply without a status; HTTP 2xx counts as success"
            );
            return Ok(ack);
        }
        Some(Value::Number(n)) => n.as_i64().unwrap_or(-1),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.eq_ignore_ascii_case("ok") || s.eq_ignore_ascii_case("success") {
                return Ok(ack);
            }
            s.parse().unwrap_or(-1)
        }
        Some(_) => {
            return Err(Error::Decode {
                what: format!("the {operation} reply (status is neither number nor text)"),
            });
        }
    };
    match Status::from_code(code) {
        Status::Success => Ok(ack),
        Status::PartialSuccess => {
            warn!(operation, message = %message, "GWS reports partial success (statusCode 7)");
            Ok(ack)
        }
        Status::NotAuthenticated => Err(Error::NotAuthenticated),
        _ => Err(Error::Status {
            operation,
            code,
            message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gws::fake::{Fake, Reply};
    use secrecy::SecretString;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn reply_shapes() {
        let ok = |v: Value| parse_reply("op", &v).unwrap();
        assert_eq!(ok(json!({"statusCode":0})), Ack::default());
        assert_eq!(ok(json!({"status":0})), Ack::default());
        assert_eq!(ok(json!({"status":"ok"})), Ack::default());
        assert_eq!(ok(json!({"statusCode":"0"})), Ack::default());
        assert_eq!(
            ok(json!({"statusCode":0,"referenceId":17})).reference_id,
            Some(17)
        );
        assert_eq!(ok(json!({"statusCode":7})), Ack::default());
        assert_eq!(ok(Value::Null), Ack::default());

        let err = parse_reply(
            "accept",
            &json!({"statusCode":2,"statusMessage":"bad state"}),
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Status { operation: "accept", code: 2, message } if message == "bad state"),
            "{err:?}"
        );
        let err = parse_reply(
            "ready",
            &json!({"status":"error","errorDescription":"no such place"}),
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Status { code: -1, message, .. } if message == "no such place"),
            "{err:?}"
        );
        assert!(matches!(
            parse_reply("x", &json!({"statusCode":20})),
            Err(Error::NotAuthenticated)
        ));
        assert!(matches!(
            parse_reply("x", &json!({"status":[0]})),
            Err(Error::Decode { .. })
        ));
    }

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
        assert!(
            matches!(rx.recv().await, Some(Event::Chat(u)) if u.kind == UpdateKind::ChatHistory)
        );

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
            Client::new(fixed(&fake.api_url(), Dialect::Chats).observed_by(failures.clone()))
                .unwrap();
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
}
