//! Keeping the session with GWS: log in (with separate back-offs for network and credential
//! failures), start the contact-centre session, list and recover the agent's chats, log in
//! again when the session was lost, and keep the CometD client running (posting through the
//! REST client's transport).

use std::time::Duration;

use serde_json::Value;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use super::dispatch::Command;
use super::tuning::Tuning;
use crate::backoff::Backoff;
use crate::cometd::{self, Notification};
use crate::config::Config;
use crate::gws::{self, SessionOperation, session};

/// How long a recovery waits for the dispatcher to take in the listing.
const RECOVERED_WAIT: Duration = Duration::from_secs(5);

/// Keep the CometD client running: when it stops on its own (the server refused the
/// handshake with `reconnect: none`) start it again after a back-off. The fresh client's
/// `Connected` makes the daemon renew the session and recover its chats.
pub(super) async fn listen(
    cometd: cometd::Client,
    tx: mpsc::Sender<Notification>,
    stop: CancellationToken,
    backoff: Backoff,
) {
    let mut delays = backoff.delays();
    loop {
        match cometd.clone().run(tx.clone(), stop.clone()).await {
            Ok(()) => return,
            Err(e) => {
                let delay = delays.next_delay();
                warn!(error = %e, retry_in = ?delay, "notification stream stopped; starting over");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// List the agent's chats and hand them to the dispatcher, which adopts them (and goes Ready
/// when `set_ready`). A failed listing is retried at the next reconcile; the dispatcher still
/// goes Ready. Returns once the dispatcher has handed the chats their inputs (or gave up).
pub(super) async fn recover(
    client: &gws::Client,
    commands: &mpsc::Sender<Command>,
    set_ready: bool,
) {
    let listed_at = Instant::now();
    let (chats, listed) = match client.list_chats().await {
        Ok(chats) => (chats, true),
        Err(e) => {
            warn!(error = %e, "cannot list the agent's chats; trying again later");
            (Vec::new(), false)
        }
    };
    let (done, recovered) = oneshot::channel();
    let sent = commands
        .send(Command::Recover {
            chats,
            listed,
            listed_at,
            set_ready,
            done: Some(done),
        })
        .await;
    if sent.is_ok() {
        // Bounded: the dispatcher may be busy shutting down.
        let _ = tokio::time::timeout(RECOVERED_WAIT, recovered).await;
    }
}

/// The session was lost (or may have been: notifications started over). Fetch `GET me` until
/// it works, start the contact-centre session again, recover the chats, go Ready, and tell the
/// chats waiting for it.
pub(super) async fn relogin(
    client: &gws::Client,
    config: &Config,
    tuning: &Tuning,
    shutdown: &CancellationToken,
    commands: &mpsc::Sender<Command>,
    keeper: &session::Keeper,
) {
    if login(client, tuning, shutdown).await.is_none() {
        return;
    }
    if !start_session(client, config, tuning, shutdown).await {
        return;
    }
    recover(client, commands, true).await;
    keeper.renewed();
}

/// StartContactCenterSession with back-off until it works; false if `shutdown` came first.
pub(super) async fn start_session(
    client: &gws::Client,
    config: &Config,
    tuning: &Tuning,
    shutdown: &CancellationToken,
) -> bool {
    let start = SessionOperation::StartContactCenterSession {
        place: config.gws.place.clone(),
    };
    let mut delays = tuning.login_backoff.delays();
    loop {
        let delay = match client.session(&start).await {
            Ok(()) => return true,
            Err(e) => {
                let d = delays.next_delay();
                warn!(error = %e, retry_in = ?d, "StartContactCenterSession failed");
                d
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Log in with back-off until it works or `shutdown` is cancelled.
pub(super) async fn login(
    client: &gws::Client,
    tuning: &Tuning,
    shutdown: &CancellationToken,
) -> Option<gws::Me> {
    let mut network = tuning.login_backoff.delays();
    let mut auth = tuning.auth_backoff.delays();
    loop {
        let delay = match client.login().await {
            Ok(me) => return Some(me),
            Err(gws::Error::Unauthorized) => {
                let d = auth.next_delay();
                error!(retry_in = ?d, "GWS refused the username or password (HTTP 401); check gws.username and the password");
                d
            }
            Err(e) => {
                let d = network.next_delay();
                warn!(error = %e, retry_in = ?d, "cannot reach GWS to log in");
                d
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// The CometD client posts through this transport, sharing its cookies, login and CSRF pair.
#[async_trait::async_trait]
impl cometd::Transport for gws::Transport {
    async fn post_json(
        &self,
        url: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, cometd::PostError> {
        gws::Transport::post_json(self, url, body, timeout)
            .await
            .map_err(post_error)
    }

    async fn post_text(
        &self,
        url: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<String, cometd::PostError> {
        gws::Transport::post_text(self, url, body, timeout)
            .await
            .map_err(post_error)
    }
}

fn post_error(e: gws::Error) -> cometd::PostError {
    use cometd::{Failure, PostError};
    let failure = match e {
        gws::Error::Unauthorized => Failure::Unauthorized,
        gws::Error::Http { status, .. } => Failure::Status(status),
        _ => Failure::Other,
    };
    PostError::new(failure, e.to_string())
}
