//! What the Bayeux client needs from HTTP: POST a JSON body to a URL within a timeout and get
//! the JSON answer back (parsed, or as text), and for a failure, whether the server refused
//! the credentials or answered with another status. Cookies, authentication and CSRF are the
//! transport's business.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// How a POST failed, as far as the client's decisions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 401: the credentials are refused; a quick retry cannot help.
    Unauthorized,
    /// The server answered with this other non-success HTTP status.
    Status(u16),
    /// No usable answer: a timeout, a reset, a body that is not JSON, a refused token.
    Other,
}

/// A failed POST: its kind and a description for the log (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PostError {
    pub failure: Failure,
    pub message: String,
}

impl PostError {
    /// A failure of `kind` described by `message`.
    pub fn new(failure: Failure, message: impl Into<String>) -> Self {
        PostError {
            failure,
            message: message.into(),
        }
    }
}

/// An HTTP transport the CometD client posts its messages through.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    /// POST `body` as JSON to `url` and decode the JSON answer (an empty body is `null`).
    async fn post_json(
        &self,
        url: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, PostError>;

    /// POST `body` as JSON to `url` and return the answer's text, JSON as the server wrote it
    /// (an empty body is `null`), for a reader that parses only what it needs. By default the
    /// answer of [`Transport::post_json`], written out again.
    async fn post_text(
        &self,
        url: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<String, PostError> {
        self.post_json(url, body, timeout)
            .await
            .map(|v| v.to_string())
    }
}
