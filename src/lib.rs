//! gws-botd: a bot agent for Genesys Web Services chat.
//!
//! How data flows, one line per module:
//! - [`gws`] is the REST client (Basic auth, cookies, CSRF, typed errors); its `dialect` module
//!   owns every wire detail of the API dialects, including parsing notifications into events.
//! - [`cometd`] is the Bayeux long-polling client; it yields raw notifications and knows nothing
//!   about chats.
//! - [`event`] holds the dialect-free domain events the rest of the daemon works with.
//! - [`dispatch`] routes chat events by interaction id to one task per chat over bounded channels.
//! - [`chat`] is one chat's state machine: accept, converse, escalate, stay silent in a
//!   conference, finish.
//! - [`responder`] is the chain of plugins (rules, …) that decide what the bot says and does.
//! - [`schedule`] evaluates opening hours, holidays and the next opening in IANA time zones.
//! - [`overrides`] is the emergency "closed until …" switch kept in the state directory.
//! - [`escalation`] runs consultation → transfer or conference → skill fallback for a chat; who
//!   has joined is read as real servers show it (opaque participant ids).
//! - [`daemon`] wires it together: login, notifications, Ready/NotReady, shutdown.
//! - [`config`] loads and validates the daemon's configuration.
//! - [`stats`] counts what happened, for reports and metrics; [`health`] holds what readiness
//!   is made of (logged in, CometD connected, Ready).
//! - [`metrics`] exposes the stats in Prometheus format; [`http_server`] serves `/metrics`,
//!   `/healthz` and `/readyz`.
//! - [`decision_log`] records what the bot decided in each chat and why; [`explain`] tells one
//!   chat's story from it.
//! - [`logging`] sets up tracing: pretty, JSON or journald.
//! - [`resume`] decides where a resumed chat picks up: what is answered, whether it greeted.
//! - [`state`] keeps per-chat state on disk so a restart continues chats where they stopped.
//! - [`session`] links chats that hit a lost session to the daemon that logs in again.
//! - [`backoff`] computes retry delays with jitter.
//! - [`notify`] tells systemd (`Type=notify`) about readiness, reloads, status and the watchdog.
//! - [`signal`] turns process signals into shutdown and reload requests.
//! - [`sim`] is the embedded GWS simulator used by `demo`, the tests and the benchmarks.
//! - [`chaos`] kills and restarts the real binary against the simulator and checks no chat is lost.
//! - [`demo`] runs the simulator and the daemon together with scripted customers.
//! - [`app`] holds the CLI commands behind `main.rs`; [`simulate`] and [`override_cli`] are
//!   the `simulate` and `override` commands.
//! - [`cli`] is the command-line definition, also used to generate man pages and completions.

pub mod app;
pub mod backoff;
pub mod chaos;
pub mod chat;
pub mod cli;
pub mod cometd;
pub mod config;
pub mod daemon;
pub mod decision_log;
pub mod demo;
pub mod dispatch;
pub mod escalation;
pub mod event;
pub mod explain;
pub mod gws;
pub mod health;
pub mod http_server;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod override_cli;
pub mod overrides;
pub mod responder;
pub mod resume;
pub mod schedule;
pub mod session;
pub mod signal;
pub mod sim;
pub mod simulate;
pub mod state;
pub mod stats;
