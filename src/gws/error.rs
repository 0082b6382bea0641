//! Typed errors of the GWS REST client, shaped by what callers do about them: log in again,
//! retry, back off, or report.
//!
//! No variant carries credentials, the Authorization header or a CSRF token; raw response
//! bodies go to DEBUG logs, and only a truncated body is kept for plain HTTP errors.

use super::status::Status;

/// How many characters of an error response body [`Error::Http`] keeps.
pub const MAX_ERROR_BODY_CHARS: usize = 300;

/// A failed GWS request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// HTTP 401: the server rejected the credentials. Retrying in a loop will not help.
    #[error("HTTP 401 Unauthorized: GWS rejected the username or password")]
    Unauthorized,
    /// HTTP 403 even after fetching a fresh CSRF token and retrying once.
    #[error("HTTP 403: GWS rejected the CSRF token even after refreshing it (session lost?)")]
    Csrf,
    /// `statusCode` 20: the HTTP session is not (or no longer) authenticated.
    #[error("statusCode 20 (not authenticated): log in again")]
    NotAuthenticated,
    /// GWS answered with `statusCode` ≠ 0; nothing changed in the contact centre.
    #[error("{operation} failed: statusCode {code} ({meaning}){sep}{message}",
        meaning = status_meaning(*code),
        sep = if message.is_empty() { "" } else { ": " })]
    Status {
        operation: &'static str,
        code: i64,
        message: String,
    },
    /// An HTTP status the client has no better name for (5xx, 404, 429, …).
    #[error("HTTP {status}: {body}")]
    Http {
        status: u16,
        /// The response body, truncated to `MAX_ERROR_BODY_CHARS`.
        body: String,
    },
    /// The request did not complete: reset, timeout, broken answer. The server may or may not
    /// have carried it out.
    #[error("transport error: {0}")]
    Transport(String),
    /// No connection could be made (refused, unreachable, TLS handshake): the request was
    /// certainly not carried out.
    #[error("cannot connect: {0}")]
    Unsent(String),
    /// A 2xx response whose body could not be understood; the body is logged at DEBUG.
    #[error("could not decode {what}")]
    Decode { what: String },
    /// The response body was larger than `gws.max_response_size`; it was not read further.
    /// The server may have carried the request out.
    #[error("the response is larger than gws.max_response_size ({limit} bytes); not read")]
    TooLarge { limit: u64 },
    /// The request was not sent: its URL would not reach what it names (a chat id `.` or
    /// `..` as a path segment, which URL normalisation removes).
    #[error("not sent: {0}")]
    Refused(String),
    /// The HTTP client could not be built (unreadable CA file, TLS backend).
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

impl Error {
    /// Worth retrying after a back-off: HTTP 5xx and 429, transport failures, and `statusCode`
    /// 4 (internal error) and 9 (processing incomplete).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Http { status, .. } => *status >= 500 || *status == 429,
            Error::Transport(_) | Error::Unsent(_) => true,
            Error::Status { code, .. } => Status::from_code(*code).is_transient(),
            _ => false,
        }
    }

    /// The server may have carried the request out although it failed (timeout, reset):
    /// repeating a non-idempotent operation could do it twice.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Error::Transport(_))
    }

    /// The HTTP session is gone: the caller must run the login sequence again (`GET me`,
    /// handshake, `StartContactCenterSession`). HTTP 401 is *not* such a case: it means bad
    /// credentials, and logging in again would only repeat it.
    pub fn needs_login(&self) -> bool {
        matches!(self, Error::NotAuthenticated | Error::Csrf)
            || self.status() == Some(Status::NotAuthenticated)
    }

    /// The `statusCode` GWS refused the request with, if that is what happened.
    pub fn status(&self) -> Option<Status> {
        match self {
            Error::Status { code, .. } => Some(Status::from_code(*code)),
            _ => None,
        }
    }

    /// Build an [`Error::Http`], truncating the body.
    pub fn http(status: u16, body: &str) -> Self {
        Error::Http {
            status,
            body: truncate(body, MAX_ERROR_BODY_CHARS),
        }
    }
}

/// Keep at most `max` characters of `s` (on a char boundary), marking the cut with `…`.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// What a GWS `statusCode` means (`docs/gws-protocol.md` §9).
pub fn status_meaning(code: i64) -> &'static str {
    Status::from_code(code).meaning()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_display_names_the_meaning() {
        let e = Error::Status {
            operation: "accept",
            code: 2,
            message: "Interaction is not in Invited state".into(),
        };
        assert_eq!(
            e.to_string(),
            "accept failed: statusCode 2 (parameter not valid for the current state): \
             Interaction is not in Invited state"
        );
        let bare = Error::Status {
            operation: "ready",
            code: 77,
            message: String::new(),
        };
        assert_eq!(
            bare.to_string(),
            "ready failed: statusCode 77 (unknown status code)"
        );
    }

    #[test]
    fn classification() {
        let status = |code| Error::Status {
            operation: "x",
            code,
            message: String::new(),
        };
        assert!(Error::http(503, "busy").is_transient());
        assert!(Error::http(429, "slow down").is_transient());
        assert!(!Error::http(404, "nope").is_transient());
        assert!(Error::Transport("reset".into()).is_transient());
        assert!(Error::Transport("reset".into()).is_ambiguous());
        assert!(Error::Unsent("refused".into()).is_transient());
        assert!(!Error::Unsent("refused".into()).is_ambiguous());
        assert!(!Error::http(503, "busy").is_ambiguous());
        assert!(status(4).is_transient());
        assert!(status(9).is_transient());
        assert!(!status(2).is_transient());
        assert!(!Error::Unauthorized.is_transient());

        assert!(
            !Error::Unauthorized.needs_login(),
            "401 means bad credentials"
        );
        assert!(Error::NotAuthenticated.needs_login());
        assert!(Error::Csrf.needs_login());
        assert!(status(20).needs_login());
        assert!(!status(4).needs_login());
    }

    #[test]
    fn http_bodies_are_truncated_on_char_boundaries() {
        let body = "é".repeat(MAX_ERROR_BODY_CHARS + 50);
        let Error::Http { body: kept, .. } = Error::http(500, &body) else {
            panic!("not an Http error");
        };
        assert_eq!(kept.chars().count(), MAX_ERROR_BODY_CHARS + 1);
        assert!(kept.ends_with('…'));
        assert_eq!(truncate("  short  ", 10), "short");
    }

    #[test]
    fn every_documented_code_has_a_meaning() {
        for code in 0..=20 {
            assert_ne!(status_meaning(code), "unknown status code", "code {code}");
        }
        assert_eq!(status_meaning(21), "unknown status code");
    }
}
