//! The embedded GWS simulator: a strict referee of either dialect of the chat API in
//! `docs/gws-protocol.md` (§2, §6, §7 and §12) — `interactions` (the seed's
//! `/me/interactions/{id}`) or `chats` (released GWS's `/me/chats/{id}`), chosen by
//! [`SimConfig::dialect`] — used in-process by the demo, the integration tests and the
//! benchmarks, and standalone by `gws-botd sim`. It is written from those notes, never from
//! the daemon: where the notes allow several readings, `readings` lets a test pick each.
//!
//! Participants carry opaque `participantId`s (16 upper-case hex digits, random, one per
//! person per chat, never a user id), in `participants[]` and in entries' `from` alike. By
//! default they are described in the `minimal` form (`type`, `nickname`, `participantId`:
//! older servers, and the harder case for a client); [`ParticipantForm::Named`] adds an
//! agent's `uri` and `path`. Joining agents are announced `participants_first` by default
//! ([`JoinNotices`]).
//!
//! A consultation turned into a conference keeps the bot in: the agent joins the customer's
//! conversation next to it, and the bot finishes its own part later (or others finish the
//! chat); that ends as [`ChatOutcome::Conference`].
//!
//! From the bottom up (each module calls only those above it):
//! - `types`: the public data types (config, chat specs, snapshots, records, events).
//! - `readings`: the switches between readings the notes allow.
//! - `clock`: wall-clock timestamps for transcript entries.
//! - `topics`: the CometD topics and the REST collection of each dialect.
//! - `model`: one chat's data, the same model in both dialects.
//! - `state`: the shared state behind one mutex: sessions, users, CometD clients, chats.
//! - `effect`: an operation's answer and the work it leaves (timers, scripts, late errors).
//! - `wire`: what the bot sees of a chat in each dialect (chat objects, entries,
//!   notifications).
//! - `chats`: creating, offering (round-robin routing) and changing a chat.
//! - `response`: a response before it becomes HTTP.
//! - `agents`: human agents joining, writing, leaving, conferences, chats closed by others.
//! - `ops`: the operations shared by both dialects, and each dialect's names and state rules.
//! - `customer`: customers speaking and leaving, scripts, consultation timers.
//! - `bayeux`: the CometD long-polling server at `/api/v2/notifications`.
//! - `http`: `/api/v2/*` — Basic auth, `JSESSIONID`, CSRF, faults, the REST routes per dialect.
//! - `control`: the [`Control`] handle and the unauthenticated `/sim` HTTP control API.
//!
//! The control API, scripted customers, snapshots and records are the same in both dialects
//! (a snapshot entry's `event_id` holds the dialect's cursor as a string).
//!
//! All delays use `tokio::time`, so tests may run with paused time.

mod agents;
mod bayeux;
mod chats;
mod clock;
mod control;
mod customer;
mod effect;
mod http;
mod model;
mod ops;
mod readings;
mod response;
mod state;
mod topics;
mod types;
mod wire;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::any;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use control::Control;
pub use readings::{
    CapabilityOrder, EventIds, HandedOverState, HistoryStart, JoinNotices, Layout, Notices,
    ParticipantForm, Readings, StatusForm,
};
pub use types::{
    AgentStep, ChatOutcome, ChatSnapshot, ChatSpec, ChatState, Corruption, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_QUEUE_LIMIT, Delivery, Entry, Fault, RecordedRequest, SimAgent, SimConfig, SimDialect,
    SimError, SimEvent, SimUser, Step, duration_ms,
};

use state::Shared;

/// Request bodies up to this size are accepted (a 1 MB customer message fits, escaped).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How long [`Sim::shutdown`] waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running simulator. Dropping it stops serving, like [`Sim::shutdown`] without waiting.
pub struct Sim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Sim {
    /// Binds `addr` (e.g. `127.0.0.1:0`) and starts serving.
    pub async fn start(config: SimConfig, addr: SocketAddr) -> std::io::Result<Sim> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config, api_url(addr)));
        let app = Router::new()
            .route("/api/v2/{*rest}", any(http::api))
            .merge(control::routes())
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(Arc::clone(&shared));
        let stop = shared.shutdown.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
        tracing::info!(%addr, "GWS simulator listening");
        Ok(Sim {
            addr,
            shared,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API root, e.g. `http://127.0.0.1:8090/api/v2`.
    pub fn api_url(&self) -> String {
        api_url(self.addr)
    }

    /// The chat API dialect it speaks.
    pub fn dialect(&self) -> SimDialect {
        self.shared.config.dialect
    }

    /// A handle to drive and inspect the simulator.
    pub fn control(&self) -> Control {
        Control {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Stops serving; held connects are released at once.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
        tracing::info!(addr = %self.addr, "GWS simulator stopped");
    }
}

/// The API root for a bound address (an unspecified address is reached through localhost).
fn api_url(mut addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        addr.set_ip(Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}/api/v2")
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}
