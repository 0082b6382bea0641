//! The running daemon: start-up in order, the session with GWS and re-login, the notification
//! pump, routing chat events to their tasks, and process signals.
//!
//! Owns: [`daemon`] (login, CometD, Ready/NotReady, drain and shutdown), [`dispatch`] (one task
//! per chat), [`session`] (chats that lost the session ask for a new login), [`signal`]
//! (SIGTERM/SIGINT/SIGHUP as requests). May call `gws`, `cometd`, `chat`, `responder`, `store`
//! and `telemetry`; only `cli` calls it.

pub mod daemon;
pub mod dispatch;
pub mod session;
pub mod signal;
