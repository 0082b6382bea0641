//! The CometD (Bayeux 1.0) long-polling client. It knows nothing about chats: it handshakes,
//! subscribes to the topics it was given, keeps exactly one `/meta/connect` outstanding, and
//! hands every data message to a channel as a [`Notification`].
//!
//! It posts through any HTTP [`Transport`] (the daemon hands it the REST client's, so both share
//! one cookie jar, Basic auth and CSRF); that trait is all it knows of the server's API. The
//! decisions it takes are pure functions in [`decide`]; the wire messages live in [`message`].

pub mod decide;
pub mod message;
pub(crate) mod transport;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::backoff::{Backoff, Delays};
use crate::telemetry::health::Flag;
use decide::{Next, Phase, Wait};
use message::{Advice, Reply};
pub use transport::{Failure, PostError, Transport};

/// Added to `advice.timeout` for the HTTP timeout of a connect, so that the server answers an
/// idle long poll before the client gives up on it.
pub const CONNECT_MARGIN: Duration = Duration::from_secs(15);
/// `advice.timeout` assumed until the server sends one (milliseconds).
pub const DEFAULT_ADVICE_TIMEOUT_MS: u64 = 30_000;
/// Timeout of handshake and subscribe requests.
pub const META_TIMEOUT: Duration = Duration::from_secs(15);
/// A successful connect that brought no message and came back sooner than this is followed by
/// a pause for the rest of it, so that a server which does not hold polls is not hammered.
pub const MIN_IDLE_POLL: Duration = Duration::from_millis(500);
/// Timeout of the best-effort disconnect on shutdown.
pub const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the client reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// A message on a subscribed topic.
    Message { channel: String, data: Value },
    /// A message on a subscribed topic, its data as the server wrote it: what a client made
    /// with [`Client::deliver_payloads`] sends instead of `Message`.
    Payload {
        channel: String,
        data: message::Payload,
    },
    /// Subscribed and polling. `first` is true only once; later ones follow a re-handshake or
    /// a connect that succeeded after failures: messages may have been missed, catch up.
    Connected { first: bool },
}

/// Why [`Client::run`] stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server advised `reconnect: none`.
    #[error("the CometD server told the client not to reconnect ({reason})")]
    ReconnectNone { reason: String },
}

/// A CometD client for one endpoint and a fixed set of topics.
#[derive(Debug, Clone)]
pub struct Client {
    transport: Arc<dyn Transport>,
    url: String,
    topics: Vec<String>,
    backoff: Backoff,
    /// Set while subscribed and polling successfully, cleared on any failure (readiness).
    link: Flag,
    /// Responses are read as text and messages handed on as [`Notification::Payload`].
    payloads: bool,
}

/// Mutable state of one `run`.
struct Session {
    client_id: Option<String>,
    advice: Advice,
    next_id: u64,
    delays: Delays,
    /// A successful subscribe has been reported once.
    connected_once: bool,
    /// A connect failed since the last report: the next success is a recovery.
    recovering: bool,
    /// HTTP 401 was reported at ERROR since the last success.
    unauthorized_reported: bool,
}

impl Session {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

impl Client {
    /// A client posting to `url` (e.g. `{api}/notifications`) and subscribing to `topics`.
    pub fn new(
        transport: impl Transport + 'static,
        url: String,
        topics: Vec<String>,
        backoff: Backoff,
    ) -> Self {
        Client {
            transport: Arc::new(transport),
            url,
            topics,
            backoff,
            link: Flag::default(),
            payloads: false,
        }
    }

    /// Hand messages on as [`Notification::Payload`], their data unparsed, for a reader that
    /// parses each once into what it needs: no `Value` tree is built for them here.
    pub fn deliver_payloads(mut self) -> Self {
        self.payloads = true;
        self
    }

    /// Report the connection state in `link`: set while subscribed and polling, cleared on
    /// the first failure and when the client stops.
    pub fn report_link(mut self, link: Flag) -> Self {
        self.link = link;
        self
    }

    /// Run until `cancel` fires (then disconnect and return `Ok`), the receiver is dropped
    /// (`Ok`), or the server says `reconnect: none` (`Err`). Every other failure is retried.
    pub async fn run(
        self,
        tx: mpsc::Sender<Notification>,
        cancel: CancellationToken,
    ) -> Result<(), Error> {
        let span = info_span!("cometd", url = %self.url);
        let result = self.run_inner(tx, cancel).instrument(span).await;
        self.link.set(false);
        result
    }

    async fn run_inner(
        &self,
        tx: mpsc::Sender<Notification>,
        cancel: CancellationToken,
    ) -> Result<(), Error> {
        let mut s = Session {
            client_id: None,
            advice: Advice::default(),
            next_id: 0,
            delays: self.backoff.delays(),
            connected_once: false,
            recovering: false,
            unauthorized_reported: false,
        };
        let mut next = Next::Handshake(Wait::Now);
        loop {
            let (phase, wait) = match next {
                Next::Handshake(wait) => (Phase::Handshake, wait),
                Next::Connect(wait) => (Phase::Connect, wait),
                Next::Stop { reason } => {
                    error!(%reason, "CometD server refuses further connections");
                    return Err(Error::ReconnectNone { reason });
                }
            };
            let delay = self.delay(&mut s, wait);
            if !delay.is_zero() {
                debug!(?phase, ?delay, "waiting before the next CometD request");
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            let step = async {
                match phase {
                    Phase::Handshake => self.handshake(&mut s, &tx).await,
                    Phase::Connect => self.connect(&mut s, &tx).await,
                }
            };
            let result = tokio::select! {
                _ = cancel.cancelled() => break,
                result = step => result,
            };
            match result {
                Some(n) => next = n,
                None => {
                    debug!("notification receiver dropped; stopping");
                    return Ok(());
                }
            }
        }
        self.disconnect(&mut s).await;
        Ok(())
    }

    fn delay(&self, s: &mut Session, wait: Wait) -> Duration {
        let interval = Duration::from_millis(s.advice.interval.unwrap_or(0));
        match wait {
            Wait::Now => Duration::ZERO,
            Wait::Advice => interval,
            Wait::Backoff => s.delays.next_delay().max(interval),
            Wait::Long => self.backoff.max().max(interval),
        }
    }

    /// Handshake, then subscribe to every topic. `None` when the receiver is gone.
    async fn handshake(&self, s: &mut Session, tx: &mpsc::Sender<Notification>) -> Option<Next> {
        s.client_id = None;
        self.link.set(false);
        let msg = message::handshake(s.id());
        let mut replies = match self.post(&Value::Array(vec![msg]), META_TIMEOUT).await {
            Ok(replies) => replies,
            Err(err) => return Some(self.failed(s, &err, Phase::Handshake)),
        };
        if !deliver(tx, &mut replies).await {
            return None;
        }
        merge_advice(s, &replies, message::HANDSHAKE);
        let client_id = match decide::after_handshake(&replies) {
            Ok(id) => id,
            Err(next) => {
                let error = replies
                    .iter()
                    .find(|r| r.channel == message::HANDSHAKE)
                    .map_or("no handshake reply".into(), message::Reply::describe);
                warn!(%error, "CometD handshake failed");
                return Some(next);
            }
        };
        let ids: Vec<u64> = self.topics.iter().map(|_| s.id()).collect();
        let msgs = self
            .topics
            .iter()
            .zip(&ids)
            .map(|(topic, id)| message::subscribe(&client_id, topic, *id))
            .collect();
        let sent: Vec<(String, String)> = self
            .topics
            .iter()
            .zip(&ids)
            .map(|(topic, id)| (topic.clone(), id.to_string()))
            .collect();
        let mut replies = match self.post(&Value::Array(msgs), META_TIMEOUT).await {
            Ok(replies) => replies,
            Err(err) => return Some(self.failed(s, &err, Phase::Handshake)),
        };
        if !deliver(tx, &mut replies).await {
            return None;
        }
        if let Err(reason) = decide::check_subscriptions(&replies, &sent) {
            warn!(%reason, "CometD subscribe failed; handshaking again");
            return Some(Next::Handshake(Wait::Backoff));
        }
        let first = !s.connected_once;
        info!(topics = ?self.topics, first, "CometD handshake and subscribe done");
        s.client_id = Some(client_id);
        s.connected_once = true;
        s.recovering = false;
        s.unauthorized_reported = false;
        s.delays.reset();
        self.link.set(true);
        if tx.send(Notification::Connected { first }).await.is_err() {
            return None;
        }
        Some(Next::Connect(Wait::Now))
    }

    /// One long poll. `None` when the receiver is gone.
    async fn connect(&self, s: &mut Session, tx: &mpsc::Sender<Notification>) -> Option<Next> {
        let Some(client_id) = s.client_id.clone() else {
            return Some(Next::Handshake(Wait::Now));
        };
        let msg = message::connect(&client_id, s.id());
        let started = tokio::time::Instant::now();
        let hold = Duration::from_millis(s.advice.timeout.unwrap_or(DEFAULT_ADVICE_TIMEOUT_MS));
        let mut replies = match self
            .post(&Value::Array(vec![msg]), hold + CONNECT_MARGIN)
            .await
        {
            Ok(replies) => replies,
            Err(err) => return Some(self.failed(s, &err, Phase::Connect)),
        };
        if !deliver(tx, &mut replies).await {
            return None;
        }
        merge_advice(s, &replies, message::CONNECT);
        let next = decide::after_connect(&replies);
        let reply = replies.iter().find(|r| r.channel == message::CONNECT);
        if reply.is_some_and(Reply::is_successful) {
            self.link.set(true);
            s.delays.reset();
            s.unauthorized_reported = false;
            if s.recovering {
                s.recovering = false;
                info!("CometD connection recovered");
                if tx
                    .send(Notification::Connected { first: false })
                    .await
                    .is_err()
                {
                    return None;
                }
            }
            let idle = replies.iter().all(Reply::is_meta);
            let elapsed = started.elapsed();
            if idle && elapsed < MIN_IDLE_POLL {
                debug!(?elapsed, "server answered an idle poll at once; pausing");
                tokio::time::sleep(MIN_IDLE_POLL - elapsed).await;
            }
        } else {
            s.recovering = true;
            self.link.set(false);
            let error = reply.map_or("no connect reply".into(), message::Reply::describe);
            warn!(%error, ?next, "CometD connect unsuccessful");
        }
        Some(next)
    }

    /// Log an HTTP-level failure (401 at ERROR once) and decide what next.
    fn failed(&self, s: &mut Session, err: &PostError, phase: Phase) -> Next {
        s.recovering = true;
        self.link.set(false);
        let next = decide::after_http_error(err.failure, phase);
        match err.failure {
            Failure::Unauthorized if !s.unauthorized_reported => {
                s.unauthorized_reported = true;
                error!(error = %err, "CometD request rejected: check the agent's credentials");
            }
            Failure::Unauthorized => debug!(error = %err, "CometD still unauthorized"),
            _ => warn!(error = %err, ?phase, ?next, "CometD request failed"),
        }
        next
    }

    /// POST a message array and parse the reply (403 → `GET me` and one retry is done by the
    /// transport).
    async fn post(&self, body: &Value, timeout: Duration) -> Result<Vec<Reply>, PostError> {
        if self.payloads {
            let text = self.transport.post_text(&self.url, body, timeout).await?;
            return message::parse_response_text(&text).ok_or_else(|| {
                PostError::new(
                    Failure::Other,
                    "could not decode a CometD response (not a message array)",
                )
            });
        }
        let reply = self.transport.post_json(&self.url, body, timeout).await?;
        if !reply.is_array() && !reply.is_object() {
            return Err(PostError::new(
                Failure::Other,
                "could not decode a CometD response (not a message array)",
            ));
        }
        Ok(message::parse_response(reply))
    }

    /// Best-effort `/meta/disconnect` on shutdown.
    async fn disconnect(&self, s: &mut Session) {
        let Some(client_id) = s.client_id.take() else {
            return;
        };
        let msg = message::disconnect(&client_id, s.id());
        match self
            .transport
            .post_json(&self.url, &Value::Array(vec![msg]), DISCONNECT_TIMEOUT)
            .await
        {
            Ok(_) => info!("CometD disconnected"),
            Err(err) => debug!(error = %err, "CometD disconnect failed (ignored)"),
        }
    }
}

/// Merge the advice of the reply on `channel` into the session.
fn merge_advice(s: &mut Session, replies: &[Reply], channel: &str) {
    if let Some(advice) = replies
        .iter()
        .find(|r| r.channel == channel)
        .and_then(|r| r.advice.as_ref())
    {
        s.advice.merge(advice);
    }
}

/// Send every non-meta message with data, in array order; the data is moved out, not copied.
/// False when the receiver is gone.
async fn deliver(tx: &mpsc::Sender<Notification>, replies: &mut [Reply]) -> bool {
    for reply in replies.iter_mut().filter(|r| !r.is_meta()) {
        let channel = reply.channel.clone();
        let n = match (reply.payload.take(), reply.data.take()) {
            (Some(data), _) => Notification::Payload { channel, data },
            (None, Some(data)) => Notification::Message { channel, data },
            (None, None) => {
                debug!(channel = %reply.channel, "CometD message without data ignored");
                continue;
            }
        };
        if tx.send(n).await.is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests;
