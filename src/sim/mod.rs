//! The embedded GWS simulator: a strict referee of the `interactions` dialect of
//! `/work/shared/gws-protocol.md` (sections 4.2, 5 and 9), used in-process by the demo, the
//! integration tests and the benchmarks, and standalone by `gws-botd sim`.
//!
//! - `types`: the public data types (config, chat specs, snapshots, records, events).
//! - `state`: the shared state behind one mutex: sessions, users, CometD clients, routing.
//! - `http`: `/api/v2/*` — Basic auth, `JSESSIONID`, CSRF, faults, the REST routes.
//! - `bayeux`: the CometD long-polling server at `/api/v2/notifications`.
//! - `clock`: ISO-8601 timestamps for transcript entries.
//! - `chats` / `ops`: one chat's data and JSON shapes / the operations on it.
//! - `customer`: customers speaking and leaving, scripts, consultation timers.
//! - `control`: the [`Control`] handle and the unauthenticated `/sim` HTTP control API.
//!
//! All delays use `tokio::time`, so tests may run with paused time.

mod bayeux;
mod chats;
mod clock;
mod control;
mod customer;
mod http;
mod ops;
mod state;
mod types;

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
pub use types::{
    ChatOutcome, ChatSnapshot, ChatSpec, ChatState, Corruption, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_QUEUE_LIMIT, Delivery, Entry, Fault, RecordedRequest, SimAgent, SimConfig, SimError,
    SimEvent, SimUser, Step, duration_ms,
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
        let shared = Arc::new(Shared::new(config));
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
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}/api/v2")
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

impl Drop for Sim {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}
