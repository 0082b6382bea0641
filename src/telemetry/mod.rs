//! What the daemon tells the people and programs watching it: log set-up ([`logging`]), the
//! Prometheus metric families registered once ([`metrics`]) and the counting API every layer
//! calls on them ([`stats`]), readiness ([`health`]), the operator's HTTP endpoint
//! ([`http_server`]) and systemd notifications ([`notify`]).
//!
//! Calls nothing of the daemon's logic; every other layer may call it.

pub mod health;
pub mod http_server;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod stats;
