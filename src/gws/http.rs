//! The HTTP layer shared by REST and CometD: one `reqwest::Client` with one cookie jar, Basic
//! auth on every request, the CSRF pair from `GET {api}/me` on every POST, and the mapping of
//! HTTP failures into [`Error`].
//!
//! Nothing here logs the password, the Authorization header or the CSRF token.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tracing::{debug, warn};

use super::error::{Error, truncate};

/// Response header naming the header in which to send the CSRF token.
pub const CSRF_NAME_HEADER: &str = "X-CSRF-HEADER";
/// Response header carrying the CSRF token (and the usual request header name).
pub const CSRF_TOKEN_HEADER: &str = "X-CSRF-TOKEN";
/// Response bodies larger than this many bytes fail their request unless configured otherwise.
pub const DEFAULT_MAX_RESPONSE_SIZE: u64 = 16 * 1024 * 1024;
/// How much of an undecodable body goes into the DEBUG log.
const MAX_LOGGED_BODY_CHARS: usize = 2000;

/// The agent's login. `Debug` never shows the password.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: SecretString,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// TLS settings. Certificate verification is on unless explicitly turned off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// A PEM file with extra CA certificates to trust (e.g. a company CA).
    pub extra_ca: Option<PathBuf>,
    /// Accept any server certificate. For lab set-ups only; logs a loud warning.
    pub danger_accept_invalid_certs: bool,
}

/// The user object of `GET {api}/me`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub id: String,
    pub user_name: String,
}

/// The CSRF pair: header name and token.
type CsrfPair = (HeaderName, HeaderValue);

/// One HTTP client (connection pool and cookie jar) for REST and CometD alike. Cheap to clone:
/// clones share the pool, the jar and the CSRF pair.
#[derive(Clone)]
pub struct Transport {
    client: reqwest::Client,
    api_url: Arc<str>,
    /// `api_url` parsed, for [`Transport::url_of`]; `None` when it has a query or fragment.
    api_base: Option<reqwest::Url>,
    credentials: Arc<Credentials>,
    /// `Basic …` of the credentials, encoded once (marked sensitive: never printed).
    authorization: HeaderValue,
    csrf: Arc<RwLock<Option<CsrfPair>>>,
    /// Counts the HTTP sessions GWS opened for us (any response that set a new `JSESSIONID`):
    /// a request that failed under an older one must not be repeated blindly.
    sessions: Arc<AtomicU64>,
    me_timeout: Duration,
    /// Response bodies larger than this are refused ([`Error::TooLarge`]).
    max_response_size: u64,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("api_url", &self.api_url)
            .field("username", &self.credentials.username)
            .field("csrf", &self.csrf_header_name())
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Build the client. `api_url` is the API root including `/api/v2` (a trailing `/` is
    /// dropped); `me_timeout` bounds `GET {api}/me`. There is no global timeout: every request
    /// passes its own.
    pub fn new(
        api_url: &str,
        credentials: Credentials,
        tls: &TlsOptions,
        me_timeout: Duration,
    ) -> Result<Transport, Error> {
        let parsed = reqwest::Url::parse(api_url)
            .map_err(|e| Error::Setup(format!("GWS API URL `{api_url}` is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Setup(format!(
                "GWS API URL `{api_url}` must start with http:// or https://"
            )));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            // Never echo the URL here: it holds a secret.
            return Err(Error::Setup(
                "the GWS API URL must not contain a username or password; \
                 configure the credentials separately"
                    .into(),
            ));
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .cookie_store(true);
        if let Some(path) = &tls.extra_ca {
            let pem = std::fs::read(path).map_err(|e| {
                Error::Setup(format!("cannot read CA file {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::Setup(format!("CA file {} is not valid PEM: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(Error::Setup(format!(
                    "CA file {} contains no certificate",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if tls.danger_accept_invalid_certs {
            warn!(
                "TLS CERTIFICATE VERIFICATION IS OFF: any server can impersonate GWS and read \
                 the agent password; use this only in a lab"
            );
            builder = builder.danger_accept_invalid_certs(true);
        }
        let client = builder.build().map_err(|e| Error::Setup(error_chain(&e)))?;
        let authorization = basic_authorization(&credentials)?;
        let api_base = (parsed.query().is_none() && parsed.fragment().is_none()).then_some(parsed);
        Ok(Transport {
            client,
            authorization,
            api_base,
            api_url: api_url.trim_end_matches('/').into(),
            credentials: Arc::new(credentials),
            csrf: Arc::new(RwLock::new(None)),
            sessions: Arc::new(AtomicU64::new(0)),
            me_timeout,
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
        })
    }

    /// How many HTTP sessions GWS has opened for us so far.
    pub(crate) fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::SeqCst)
    }

    /// The same transport, refusing response bodies larger than `bytes`.
    pub fn with_max_response_size(mut self, bytes: u64) -> Self {
        self.max_response_size = bytes;
        self
    }

    /// The API root, without a trailing `/`.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The name of the CSRF header currently sent, if any (never the token).
    pub fn csrf_header_name(&self) -> Option<String> {
        let guard = self.csrf.read().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map(|(name, _)| name.as_str().to_owned())
    }

    /// `GET {api}/me`: refreshes the session cookie and the CSRF pair, returns the user.
    pub async fn get_me(&self) -> Result<Me, Error> {
        let url = format!("{}/me", self.api_url);
        let (status, headers, text) = self.send(Method::GET, &url, None, self.me_timeout).await?;
        if status == StatusCode::FORBIDDEN {
            // Not a CSRF problem (GET carries no token): reporting `Csrf` here would send the
            // caller into a log-in loop.
            return Err(Error::http(status.as_u16(), &text));
        }
        check_status(status, &text)?;
        self.store_csrf(&headers);
        let body = parse_body("the GET me response", &text)?;
        super::reply::parse_reply("get_me", &body)?;
        let me = parse_me(&body).ok_or_else(|| {
            debug!(body = %truncate(&text, MAX_LOGGED_BODY_CHARS), "GET me without user.id");
            Error::Decode {
                what: "the GET me response (no user.id)".into(),
            }
        })?;
        Ok(me)
    }

    /// POST a JSON body and parse the JSON answer. On HTTP 403 (CSRF token missing or stale)
    /// it fetches `GET {api}/me` again and retries once; a second 403 is [`Error::Csrf`].
    pub async fn post_json(
        &self,
        url: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, Error> {
        self.request(Method::POST, url, Some(body), timeout).await
    }

    /// [`Transport::post_json`], returning the answer's text for a reader that parses only
    /// what it needs (CometD responses): an empty body is `null`, escaped lone UTF-16
    /// surrogates are repaired; whether it is JSON is for the reader to find out.
    pub async fn post_text(
        &self,
        url: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<String, Error> {
        let text = self
            .request_text(Method::POST, url, Some(body), timeout)
            .await?;
        Ok(body::repair_text("a CometD response", text))
    }

    /// GET a JSON document (same 403 handling as [`Transport::post_json`]).
    pub async fn get_json(&self, url: &str, timeout: Duration) -> Result<Value, Error> {
        self.request(Method::GET, url, None, timeout).await
    }

    async fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, Error> {
        let text = self
            .request_text(method.clone(), url, body, timeout)
            .await?;
        // The description is written only when the body does not simply parse.
        match serde_json::from_str(&text) {
            Ok(value) => Ok(value),
            Err(_) => parse_body(&format!("the response to {method} {url}"), &text),
        }
    }

    /// One request with the 403 handling, the status checked; the body's text.
    async fn request_text(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<String, Error> {
        let session = self.sessions.load(Ordering::SeqCst);
        let (mut status, _, mut text) = self.send(method.clone(), url, body, timeout).await?;
        if status == StatusCode::FORBIDDEN {
            debug!(body = %truncate(&text, MAX_LOGGED_BODY_CHARS), "HTTP 403 body");
            warn!(%method, url, "HTTP 403 (CSRF token rejected?): fetching GET me and retrying once");
            self.get_me().await?;
            if self.sessions.load(Ordering::SeqCst) != session && method != Method::GET {
                // A new session since the request was sent (opened by this GET me or by
                // another task's) means the server lost the old one (a restart, an expiry):
                // what the request assumed may no longer hold, so it is not repeated blindly.
                // The caller logs in again and re-syncs first.
                warn!(%method, url, "GWS opened a new session; not repeating the request");
                return Err(Error::NotAuthenticated);
            }
            (status, _, text) = self.send(method.clone(), url, body, timeout).await?;
        }
        check_status(status, &text)?;
        Ok(text)
    }

    /// One HTTP exchange: Basic auth always, the CSRF header on anything but GET.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<(StatusCode, HeaderMap, String), Error> {
        if let Some(segment) = dot_segment(url) {
            warn!(%method, url, "a path segment is {segment:?}: the request is not sent");
            return Err(Error::Refused(format!(
                "the URL path has a {segment:?} segment (a chat id that cannot be named in a URL)"
            )));
        }
        let builder = match self.url_of(url) {
            Some(parsed) => self.client.request(method.clone(), parsed),
            None => self.client.request(method.clone(), url),
        };
        let mut req = builder
            .timeout(timeout)
            .header(reqwest::header::AUTHORIZATION, self.authorization.clone());
        if method != Method::GET {
            let pair = self.csrf.read().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some((name, value)) = pair {
                req = req.header(name, value);
            }
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let mut resp = req.send().await.map_err(|e| transport_error(&e, timeout))?;
        let status = resp.status();
        let headers = std::mem::take(resp.headers_mut());
        // A fresh `JSESSIONID` on any response (a `GET me`, a CometD handshake after a server
        // restart) means the server opened a new HTTP session: the old one, and the server
        // state tied to it, is gone. The session count moves on.
        if headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .any(|v| v.as_bytes().starts_with(b"JSESSIONID="))
        {
            self.sessions.fetch_add(1, Ordering::SeqCst);
        }
        let limit = self.max_response_size;
        let mut body = Vec::new();
        let mut too_large = resp.content_length().is_some_and(|n| n > limit);
        while !too_large
            && let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| transport_error(&e, timeout))?
        {
            too_large = (body.len() + chunk.len()) as u64 > limit;
            if !too_large {
                body.extend_from_slice(&chunk);
            }
        }
        debug!(%method, url, status = status.as_u16(), "GWS HTTP exchange");
        if too_large {
            warn!(%method, url, status = status.as_u16(), limit,
                "GWS response larger than gws.max_response_size: not read; the request failed");
            if status.is_success() {
                return Err(Error::TooLarge { limit });
            }
            // An error status stays that error (a 503 is retried), without its body.
            body.clear();
        }
        // As reqwest's `Response::text()` without the `charset` feature: lossy UTF-8 (copied
        // only when it is not UTF-8).
        let text = String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Ok((status, headers, text))
    }

    /// `url` as `Url::parse` reads it, made from the parsed API root when `url` is that root
    /// and a plain path (the URLs of every GWS and CometD request): only the path is parsed,
    /// not the host again. `None` for any other URL, which reqwest then parses.
    fn url_of(&self, url: &str) -> Option<reqwest::Url> {
        let base = self.api_base.as_ref()?;
        let rest = url.strip_prefix(&*self.api_url)?;
        let plain = |b: u8| b.is_ascii_alphanumeric() || b"-._~%/!$&'()*+,;=:@".contains(&b);
        if !(rest.is_empty() || rest.starts_with('/')) || !rest.bytes().all(plain) {
            return None;
        }
        let mut parsed = base.clone();
        let path = format!("{}{rest}", base.path().trim_end_matches('/'));
        parsed.set_path(if path.is_empty() { "/" } else { &path });
        Some(parsed)
    }

    fn store_csrf(&self, headers: &HeaderMap) {
        let token = headers.get(CSRF_TOKEN_HEADER).cloned();
        let name = headers
            .get(CSRF_NAME_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok());
        let pair = token.map(|mut value| {
            value.set_sensitive(true);
            (
                name.unwrap_or(HeaderName::from_static("x-csrf-token")),
                value,
            )
        });
        match &pair {
            Some((name, _)) => debug!(header = %name, "CSRF token stored"),
            None => debug!("no CSRF token offered: CSRF protection is off"),
        }
        *self.csrf.write().unwrap_or_else(|e| e.into_inner()) = pair;
    }
}

/// The `Authorization` header of Basic auth, as reqwest's `basic_auth` writes it.
fn basic_authorization(credentials: &Credentials) -> Result<HeaderValue, Error> {
    use base64::Engine as _;
    let pair = format!(
        "{}:{}",
        credentials.username,
        credentials.password.expose_secret()
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
        .map_err(|_| Error::Setup("the credentials cannot be sent in a header".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The first path segment of `url` that is `.` or `..` (also percent-encoded), which URL
/// normalisation would remove: the request would reach another resource than it names.
fn dot_segment(url: &str) -> Option<&'static str> {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    // Without allocating (every request passes here): a segment of one or two dots, each
    // written `.` or `%2e` in either case. Compared as bytes: a segment may split anywhere.
    let dot = |s: &[u8]| s == b"." || s.eq_ignore_ascii_case(b"%2e");
    path.split('/').find_map(|segment| {
        let b = segment.as_bytes();
        if dot(b) {
            Some(".")
        } else if [1, 3]
            .into_iter()
            .any(|i| i < b.len() && dot(&b[..i]) && dot(&b[i..]))
        {
            Some("..")
        } else {
            None
        }
    })
}

/// Map an HTTP status to an error: 401 → `Unauthorized`, 403 → `Csrf`, other non-2xx → `Http`.
fn check_status(status: StatusCode, text: &str) -> Result<(), Error> {
    match status {
        s if s.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED => Err(Error::Unauthorized),
        StatusCode::FORBIDDEN => Err(Error::Csrf),
        s => Err(Error::http(s.as_u16(), text)),
    }
}

fn parse_me(body: &Value) -> Option<Me> {
    let user = body.get("user")?;
    let id = match user.get("id")? {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let user_name = user
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some(Me { id, user_name })
}

fn transport_error(e: &reqwest::Error, timeout: Duration) -> Error {
    if e.is_timeout() {
        return Error::Transport(format!(
            "no answer within {}",
            humantime::format_duration(timeout)
        ));
    }
    let mut chain = error_chain(e);
    if chain.contains("certificate") {
        chain = format!(
            "{chain} (the GWS server's TLS certificate is not trusted: check the host name in \
             gws.api_url, and if GWS uses a private CA, name its PEM file in gws.tls_ca_file)"
        );
    }
    // Nothing reached GWS when the connection could not be made: safe to send again.
    if e.is_connect() {
        return Error::Unsent(chain);
    }
    Error::Transport(chain)
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

mod body;

pub use body::decode_body;
use body::parse_body;

#[cfg(test)]
mod tests;
