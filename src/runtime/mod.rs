//! The running daemon: start-up in order, the session with GWS and re-login, the notification
//! pump, routing chat events to their tasks, and process signals.
//!
//! Owns: [`daemon`] (start-up as a numbered sequence, drain and shutdown), `login` (login,
//! the contact-centre session, recovery, re-login, keeping CometD running), `pump` (the one
//! way in for events: notifications and fetched transcripts), `dispatch` (one task per
//! chat), `agent` (the dispatcher's handle on the session: Ready/NotReady, reject, finish),
//! `signal` (SIGTERM/SIGINT/SIGHUP as requests), `trim` (giving freed memory back after many chats ended), `tuning` (the knobs tests shorten). May call `gws`, `cometd`, `chat`,
//! `responder`, `store` and `telemetry`; only `cli` calls it.

pub(crate) mod agent;
pub mod daemon;
pub(crate) mod dispatch;
pub(crate) mod login;
pub(crate) mod pump;
pub(crate) mod signal;
pub(crate) mod trim;
pub(crate) mod tuning;
