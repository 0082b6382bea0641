//! The operator's HTTP endpoints on `[http] listen`: `/metrics` (Prometheus text format),
//! `/healthz` (the process is alive and serving) and `/readyz` (logged in, CometD connected,
//! Ready for chats; 503 with the reasons otherwise).
//!
//! The server only reads [`Stats`]; it is started beside the daemon (`cli::run`, tests), so
//! the daemon knows nothing about it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::telemetry::metrics;
use crate::telemetry::stats::Stats;

/// A bound, not yet serving, metrics and health server.
pub struct Server {
    listener: TcpListener,
    stats: Arc<Stats>,
}

impl Server {
    /// Bind `addr` (port 0 picks a free port; see [`Server::local_addr`]).
    pub async fn bind(addr: SocketAddr, stats: Arc<Stats>) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Server { listener, stats })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let addr = self.listener.local_addr().ok();
        let app = Router::new()
            .route("/metrics", get(metrics_page))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(self.stats);
        info!(addr = ?addr, "metrics and health endpoints listening");
        if let Err(e) = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
        {
            warn!(error = %e, "the metrics and health server stopped");
        }
    }
}

async fn metrics_page(State(stats): State<Arc<Stats>>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::encode(stats.registry()),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(stats): State<Arc<Stats>>) -> Response {
    match stats.health().readiness() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", why.join("; ")),
        )
            .into_response(),
    }
}
