//! Sending with retries: a POST under the session it started in, and the retry loop every
//! request goes through (back-off, the rate ceiling, the observer, what may be repeated).

use std::future::Future;

use serde_json::Value;
use tracing::{debug, warn};

use super::{Client, Recheck};
use crate::gws::error::Error;
use crate::gws::reply::{Ack, parse_reply};

impl Client {
    pub(super) async fn post(
        &self,
        operation: &'static str,
        url: &str,
        body: &Value,
        idempotent: bool,
        still_valid: &mut dyn Recheck,
    ) -> Result<Ack, Error> {
        debug!(body = %body, "GWS request");
        let timeout = self.inner.request_timeout;
        let session = self.inner.transport.sessions();
        self.retrying(operation, idempotent, still_valid, || async {
            // A retry after GWS opened a new session (a server restart, a re-login meanwhile)
            // is not sent blindly: the chat may be only an invitation again. The caller
            // re-syncs with the new session first.
            if self.inner.transport.sessions() != session {
                warn!(
                    operation,
                    "GWS opened a new session since the first attempt; not repeating the request"
                );
                return Err(Error::NotAuthenticated);
            }
            let reply = self.inner.transport.post_json(url, body, timeout).await?;
            debug!(reply = %reply, "GWS reply");
            parse_reply(operation, &reply)
        })
        .await
    }

    /// Run `attempt` until it succeeds, fails finally, or the attempts are used up. Transient
    /// errors back off; `statusCode` 4 and 9 are retried at most once; ambiguous failures are
    /// retried only when `idempotent`. Every attempt waits for the rate ceiling.
    pub(super) async fn retrying<T, F, Fut>(
        &self,
        operation: &'static str,
        idempotent: bool,
        still_valid: &mut dyn Recheck,
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut delays = self.inner.retry.delays();
        let mut status_retried = false;
        let mut tried = 1;
        loop {
            if let Some(pacer) = &self.inner.pacer {
                pacer.wait().await;
            }
            let started = tokio::time::Instant::now();
            let result = attempt().await;
            if let Some(observer) = &self.inner.observer {
                observer.request_done(operation, started.elapsed(), result.as_ref().err());
            }
            let err = match result {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let again = tried < self.inner.retry_attempts
                && err.is_transient()
                && (idempotent || !err.is_ambiguous())
                && match err {
                    Error::Status { .. } => !std::mem::replace(&mut status_retried, true),
                    _ => true,
                };
            // `gws_status_code` / `http_status` become journald fields (GWS_STATUS_CODE=…).
            let (gws_status_code, http_status) = match &err {
                Error::Status { code, .. } => (Some(*code), None),
                Error::Http { status, .. } => (None, Some(*status)),
                _ => (None, None),
            };
            if !again {
                if gws_status_code.is_some() || http_status.is_some() {
                    warn!(operation, gws_status_code, http_status, error = %err,
                        "GWS refused the request");
                }
                return Err(err);
            }
            let delay = delays.next_delay();
            warn!(operation, attempt = tried, gws_status_code, http_status, error = %err,
                delay = ?delay, "GWS request failed, retrying");
            tokio::time::sleep(delay).await;
            if !still_valid.still_valid().await {
                debug!(
                    operation,
                    "not retrying: the request no longer fits the chat"
                );
                return Err(err);
            }
            tried += 1;
        }
    }
}
