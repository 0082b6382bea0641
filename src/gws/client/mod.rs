//! The GWS REST client: login (and, with `dialect = "auto"`, finding out the dialect), session
//! operations, chat operations and the chat listing, with retries for transient failures
//! (its `retry` module); replies are read by `parse_reply`.
//!
//! Chat operations follow the dialect's [`Plan`]: one POST, or (in `chats`) Leave then
//! Complete, or a transcript fetched with GET and delivered into the event stream as the
//! `ChatHistory` update an `interactions` server would push: it goes to the daemon's
//! notification pump, the one way in for events ([`Client::deliver_transcripts_to`]).
//! Accepted requests are remembered by `referenceId` so that a later `Error` notification
//! names what failed ([`Client::async_failure`]).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{Instrument, debug, info, info_span, warn};

use super::dialect::notification::u64_of;
use super::dialect::{Choice, Dialect, OperationNames, PROBE_PATH, Plan, Post};
use super::error::Error;
use super::http::{Credentials, Me, TlsOptions, Transport};
use super::operation::{Operation, SessionOperation};
use super::pacer::Pacer;
use super::references::{References, Request};
use super::reply::{Ack, parse_reply};
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
            max_response_size: super::http::DEFAULT_MAX_RESPONSE_SIZE,
        }
    }

    /// The same configuration, with `observer` told about every request attempt.
    pub fn observed_by(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }
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
}

mod retry;

#[cfg(test)]
mod tests;
