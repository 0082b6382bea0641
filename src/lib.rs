//! gws-botd: a bot agent for Genesys Web Services chat.
//!
//! The layers, one folder each, from the wire up (each module's doc says what it owns and what
//! it may call):
//! - [`gws`] is the REST client (Basic auth, cookies, CSRF, retries, pacing, typed errors); its
//!   `dialect` module owns every wire detail of the API dialects, including parsing
//!   notifications into events.
//! - [`cometd`] is the Bayeux long-polling client; it yields raw notifications, knows nothing
//!   about chats, and of GWS only the HTTP transport trait it posts through.
//! - [`event`] holds the dialect-free domain events the rest of the daemon works with.
//! - [`runtime`] runs the daemon: login and re-login, the notification pump (the one way in for
//!   events, fetched transcripts included), `runtime::dispatch` (one task per chat),
//!   Ready/NotReady, signals, drain and shutdown.
//! - [`chat`] is one chat's state machine: accept, converse, escalate
//!   (`chat::escalation`: consultation → transfer or conference → skill fallback), stay silent
//!   in a conference, resume after a restart (`chat::resume`), finish.
//! - [`responder`] is the chain of plugins (rules, …) that decide what the bot says and does.
//! - [`schedule`] evaluates opening hours, holidays and the next opening in IANA time zones,
//!   and the emergency "closed until …" override (`schedule::overrides`).
//! - [`store`] keeps per-chat state on disk so a restart continues chats where they stopped, and
//!   the decision log of what the bot decided and why.
//! - [`telemetry`] is logging, counters and Prometheus metrics, readiness, the operator's HTTP
//!   endpoint and systemd notifications.
//! - [`config`] loads and validates the daemon's configuration.
//! - [`backoff`] computes retry delays with jitter (GWS requests and CometD reconnects).
//! - [`sim`] is the embedded GWS simulator used by `demo`, the tests and the benchmarks.
//! - [`cli`] is the commands behind `main.rs` (run, check, reload, demo, sim, simulate, explain,
//!   override, state, coverage, schedule, generate) and the command-line definition, also
//!   used for man pages and completions.

pub mod backoff;
pub mod chat;
pub mod cli;
pub mod cometd;
pub mod config;
pub mod event;
pub mod gws;
pub mod responder;
pub mod runtime;
pub mod schedule;
pub mod sim;
pub mod store;
pub mod telemetry;
