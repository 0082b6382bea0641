//! gws-botd: a bot agent for Genesys Web Services chat.
//!
//! How data flows:
//! - [`gws`] is the REST client (Basic auth, cookies, CSRF, typed errors); its `dialect` module
//!   owns every wire detail of the API dialects, including parsing notifications into [`event`]s.
//! - [`cometd`] is the Bayeux long-polling client; it yields raw notifications and knows nothing
//!   about chats.
//! - [`event`] holds the dialect-free domain events.
//! - [`dispatch`] routes chat events by interaction id to one task per chat over bounded channels.
//! - [`chat`] is one chat's state machine: accept, converse, escalate, finish.
//! - [`responder`] is the chain of plugins (rules, …) that decide what the bot says and does.
//! - [`escalation`] runs consultation → transfer with fallbacks for a chat.
//! - [`daemon`] wires it together: login, notifications, Ready/NotReady, signals, shutdown.
//! - [`config`] loads and validates the daemon's configuration.
//! - [`sim`] is the embedded GWS simulator used by `demo`, the tests and the benchmarks.
//! - [`demo`] runs the simulator and the daemon together with scripted customers.

pub mod event;
pub mod gws;
pub mod responder;
pub mod sim;
