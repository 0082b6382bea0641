//! The GWS REST client and the API dialects.
//!
//! - [`http`]: one HTTP client (cookies, Basic auth, CSRF) shared with CometD.
//! - [`client`]: login, session and chat operations, with retries.
//! - `reply`: the one place that interprets GWS replies (status codes, `referenceId`).
//! - [`dialect`]: every wire shape — paths, bodies, topics, notification parsing.
//! - `error`: typed errors shaped by what callers do about them.
//! - `operation`: the dialect-free operations.
//! - `pacer`: the per-session request-rate ceiling.
//! - `session`: the link between chats that find the session gone and the daemon that
//!   logs in again.
//! - `references`: which accepted request a later `Error` notification is about.

pub mod client;
pub mod dialect;
pub(crate) mod error;
#[cfg(test)]
#[cfg(test)]
pub(crate) mod fake;
pub mod http;
pub(crate) mod operation;
pub(crate) mod pacer;
pub(crate) mod references;
pub(crate) mod reply;
pub(crate) mod session;
pub(crate) mod status;

pub use client::{Always, Client, ClientConfig, Recheck};
pub use dialect::{Choice, Dialect, OperationNames, Parsed};
pub use error::Error;
pub use http::{Credentials, DEFAULT_MAX_RESPONSE_SIZE, Me, TlsOptions, Transport};
pub use operation::{Operation, SessionOperation};
pub use reply::Ack;
pub use status::{Capability, Status};
