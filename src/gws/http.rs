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
    credentials: Arc<Credentials>,
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
        Ok(Transport {
            client,
            api_url: api_url.trim_end_matches('/').into(),
            credentials: Arc::new(credentials),
            csrf: Arc::new(RwLock::new(None)),
            sessions: Arc::new(AtomicU64::new(0)),
            me_timeout,
            max_response_size: crate::config::DEFAULT_MAX_RESPONSE_SIZE,
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
        super::client::parse_reply("get_me", &body)?;
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
        parse_body(&format!("the response to {method} {url}"), &text)
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
        let mut req = self
            .client
            .request(method.clone(), url)
            .timeout(timeout)
            .basic_auth(
                &self.credentials.username,
                Some(self.credentials.password.expose_secret()),
            );
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
        // As reqwest's `Response::text()` without the `charset` feature: lossy UTF-8.
        Ok((status, headers, String::from_utf8_lossy(&body).into_owned()))
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

/// The first path segment of `url` that is `.` or `..` (also percent-encoded), which URL
/// normalisation would remove: the request would reach another resource than it names.
fn dot_segment(url: &str) -> Option<&'static str> {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.split('/').find_map(|segment| {
        match segment.to_ascii_lowercase().replace("%2e", ".").as_str() {
            "." => Some("."),
            ".." => Some(".."),
            _ => None,
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

/// Decode a GWS response body as every response is decoded: empty is `null`, escaped lone
/// UTF-16 surrogates become U+FFFD, anything else that is not JSON is [`Error::Decode`].
/// Public for the fuzz targets, which feed it arbitrary bytes.
pub fn decode_body(text: &str) -> Result<Value, Error> {
    parse_body("a GWS response body", text)
}

/// Parse a response body as JSON; an empty body is `null`.
fn parse_body(what: &str, text: &str) -> Result<Value, Error> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let first = match serde_json::from_str(text) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    // Java servers may escape lone UTF-16 surrogates (`\ud800`), which JSON parsers in Rust
    // refuse. Replace them with U+FFFD rather than lose the whole response.
    if let Some(repaired) = replace_lone_surrogates(text)
        && let Ok(value) = serde_json::from_str(&repaired)
    {
        warn!(
            what,
            "GWS body had invalid \\u escapes; replaced them with U+FFFD"
        );
        return Ok(value);
    }
    debug!(body = %truncate(text, MAX_LOGGED_BODY_CHARS), error = %first, "undecodable GWS body");
    Err(Error::Decode { what: what.into() })
}

/// `text` with every `\u` escape (four hex digits) of a lone UTF-16 surrogate replaced by `\ufffd`;
/// `None` when there is none.
fn replace_lone_surrogates(text: &str) -> Option<String> {
    fn escape_at(b: &[u8], i: usize) -> Option<u16> {
        if b.get(i) != Some(&b'\\') || b.get(i + 1) != Some(&b'u') {
            return None;
        }
        let hex = std::str::from_utf8(b.get(i + 2..i + 6)?).ok()?;
        u16::from_str_radix(hex, 16).ok()
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        match escape_at(b, i) {
            // A high surrogate followed by a low one is a valid pair: keep both.
            Some(0xD800..=0xDBFF)
                if escape_at(b, i + 6).is_some_and(|lo| (0xDC00..=0xDFFF).contains(&lo)) =>
            {
                i += 12;
            }
            Some(0xD800..=0xDFFF) => {
                out.push_str(&text[copied..i]);
                out.push_str("\\ufffd");
                changed = true;
                i += 6;
                copied = i;
            }
            // Any other escape (including `\\`): skip both characters so an escaped
            // backslash is never mistaken for the start of an escape.
            _ => i += 2,
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
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

#[cfg(test)]
mod tests {
    #[test]
    fn lone_surrogate_escapes_are_replaced_and_pairs_kept() {
        let body = r#"{"t":"a\ud800b","p":"\ud83d\ude00","e":"\\ud800"}"#;
        let fixed = super::replace_lone_surrogates(body).unwrap();
        let v: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(v["t"], "a\u{fffd}b");
        assert_eq!(v["p"], "\u{1f600}");
        assert_eq!(v["e"], "\\ud800", "an escaped backslash is not an escape");
        assert_eq!(
            super::replace_lone_surrogates(r#"{"t":"fine \u00e9"}"#),
            None
        );
        let low_only = super::parse_body("test", r#"["\udc00"]"#).unwrap();
        assert_eq!(low_only[0], "\u{fffd}");
    }

    use super::*;
    use crate::gws::fake::{Fake, Reply};
    use serde_json::json;

    fn creds() -> Credentials {
        Credentials {
            username: "bot1".into(),
            password: SecretString::from("hunter2".to_owned()),
        }
    }

    fn transport(url: &str) -> Transport {
        Transport::new(url, creds(), &TlsOptions::default(), Duration::from_secs(5)).unwrap()
    }

    fn me_reply() -> Reply {
        Reply::json(
            200,
            json!({"statusCode":0,"user":{"id":"u-7","userName":"bot1"}}),
        )
        .header("X-CSRF-HEADER", "X-Token-Name")
        .header("X-CSRF-TOKEN", "tok-1")
    }

    #[test]
    fn debug_output_hides_the_password() {
        let text = format!("{:?}", creds());
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("bot1"));
        let t = transport("http://127.0.0.1:1/api/v2/");
        let text = format!("{t:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(t.api_url(), "http://127.0.0.1:1/api/v2");
    }

    #[test]
    fn me_parsing_is_tolerant() {
        let me = parse_me(&json!({"user":{"id":42,"userName":"x"}})).unwrap();
        assert_eq!(me.id, "42");
        assert_eq!(parse_me(&json!({"user":{"userName":"x"}})), None);
        assert_eq!(parse_me(&json!([])), None);
    }

    #[tokio::test]
    async fn get_me_stores_csrf_and_posts_send_it_with_basic_auth() {
        let fake = Fake::start(|req| match req.path.as_str() {
            "/api/v2/me" => me_reply(),
            _ => Reply::json(200, json!({"statusCode":0})),
        })
        .await;
        let t = transport(&fake.api_url());
        let me = t.get_me().await.unwrap();
        assert_eq!(
            me,
            Me {
                id: "u-7".into(),
                user_name: "bot1".into()
            }
        );
        assert_eq!(t.csrf_header_name().as_deref(), Some("x-token-name"));
        let url = format!("{}/me/channels/chat", fake.api_url());
        let got = t
            .post_json(
                &url,
                &json!({"operationName":"Ready"}),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(got, json!({"statusCode":0}));

        let seen = fake.requests();
        assert_eq!(seen.len(), 2);
        for r in &seen {
            // "bot1:hunter2" in base64.
            assert_eq!(r.header("authorization"), Some("Basic Ym90MTpodW50ZXIy"));
        }
        assert_eq!(seen[0].header("x-token-name"), None, "GET carries no token");
        assert_eq!(seen[1].header("x-token-name"), Some("tok-1"));
        assert_eq!(seen[1].json(), json!({"operationName":"Ready"}));
    }

    #[tokio::test]
    async fn forbidden_post_refreshes_the_token_and_retries_once() {
        let fake = Fake::start(|req| match req.path.as_str() {
            "/api/v2/me" => me_reply(),
            _ if req.header("x-token-name") == Some("tok-1") => {
                Reply::json(200, json!({"statusCode":0}))
            }
            _ => Reply::text(403, "Missing or invalid Csrf token"),
        })
        .await;
        let t = transport(&fake.api_url());
        let url = format!("{}/me/channels/chat", fake.api_url());
        let got = t
            .post_json(&url, &json!({}), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(got["statusCode"], 0);
        let methods: Vec<_> = fake.requests().iter().map(|r| r.method.clone()).collect();
        assert_eq!(methods, ["POST", "GET", "POST"]);
    }

    #[tokio::test]
    async fn a_request_is_not_repeated_under_a_session_opened_since_it_was_sent() {
        use std::sync::atomic::AtomicUsize;
        // The first GET me opens a new session (a fresh JSESSIONID); later ones keep it.
        let gets = Arc::new(AtomicUsize::new(0));
        let fake = Fake::start({
            let gets = gets.clone();
            move |req| match req.method.as_str() {
                "GET" if gets.fetch_add(1, Ordering::SeqCst) == 0 => {
                    me_reply().header("Set-Cookie", "JSESSIONID=s2; Path=/")
                }
                "GET" => me_reply(),
                _ => Reply::text(403, "Missing or invalid Csrf token")
                    .after(Duration::from_millis(300)),
            }
        })
        .await;
        let t = transport(&fake.api_url());
        let url = format!("{}/me/interactions/c1", fake.api_url());
        let post = tokio::spawn({
            let t = t.clone();
            async move { t.post_json(&url, &json!({}), Duration::from_secs(5)).await }
        });
        // Another task logs in again while the POST is in flight (GWS restarted).
        fake.received(1).await;
        t.get_me().await.unwrap();
        let err = post.await.unwrap().unwrap_err();
        assert!(matches!(err, Error::NotAuthenticated), "{err:?}");
        let methods: Vec<_> = fake.requests().iter().map(|r| r.method.clone()).collect();
        assert_eq!(methods, ["POST", "GET", "GET"], "the POST is not repeated");
    }

    #[tokio::test]
    async fn second_forbidden_is_a_csrf_error() {
        let fake = Fake::start(|req| match req.method.as_str() {
            "GET" => me_reply(),
            _ => Reply::text(403, "Missing or invalid Csrf token"),
        })
        .await;
        let t = transport(&fake.api_url());
        let url = format!("{}/me", fake.api_url());
        let err = t
            .post_json(&url, &json!({}), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Csrf), "{err:?}");
        assert_eq!(fake.requests().len(), 3, "exactly one retry");
    }

    #[tokio::test]
    async fn status_codes_map_to_errors() {
        let fake = Fake::start(|req| match req.path.as_str() {
            "/api/v2/a" => Reply::text(401, "no"),
            "/api/v2/b" => Reply::text(503, "down for maintenance"),
            "/api/v2/c" => Reply::text(200, "<html>not json</html>"),
            "/api/v2/d" => Reply::text(200, ""),
            _ => Reply::text(404, "?"),
        })
        .await;
        let t = transport(&fake.api_url());
        let api = fake.api_url();
        let get = |p: &str| {
            let url = format!("{api}/{p}");
            let t = t.clone();
            async move { t.get_json(&url, Duration::from_secs(5)).await }
        };
        assert!(matches!(get("a").await, Err(Error::Unauthorized)));
        assert!(
            matches!(get("b").await, Err(Error::Http { status: 503, body }) if body == "down for maintenance")
        );
        assert!(matches!(get("c").await, Err(Error::Decode { .. })));
        assert_eq!(get("d").await.unwrap(), Value::Null);
        let err = get("zz").await.unwrap_err();
        assert!(matches!(err, Error::Http { status: 404, .. }), "{err:?}");
    }

    /// A body over the limit fails its request alone, whatever its status: the next request
    /// works, and an error status keeps its meaning (a 503 stays retryable).
    #[tokio::test]
    async fn bodies_over_the_limit_fail_their_request_only() {
        let big = "x".repeat(300_000);
        let fake = Fake::start(move |req| match req.path.as_str() {
            "/api/v2/big" => Reply::json(200, json!({ "blob": big.clone() })),
            "/api/v2/big503" => Reply::text(503, &big),
            _ => Reply::json(200, json!({"statusCode": 0})),
        })
        .await;
        let t = transport(&fake.api_url()).with_max_response_size(100_000);
        let get = |p: &str| {
            let url = format!("{}/{p}", fake.api_url());
            let t = t.clone();
            async move { t.get_json(&url, Duration::from_secs(5)).await }
        };
        let err = get("big").await.unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit: 100_000 }), "{err:?}");
        assert!(!err.is_transient());
        assert!(
            matches!(get("big503").await, Err(Error::Http { status: 503, body }) if body.is_empty())
        );
        assert_eq!(get("small").await.unwrap(), json!({"statusCode": 0}));
        let t = transport(&fake.api_url());
        let url = format!("{}/big", fake.api_url());
        assert!(
            t.get_json(&url, Duration::from_secs(5)).await.is_ok(),
            "the default limit is 16 MiB"
        );
    }

    /// A chat id `.` or `..` would be removed from the URL by normalisation (and `%2E%2E` too),
    /// so the request would reach the parent resource: it is not sent.
    #[tokio::test]
    async fn dot_segments_are_never_sent() {
        let fake = Fake::start(|_| Reply::json(200, json!({"statusCode": 0}))).await;
        let t = transport(&fake.api_url());
        for id in ["..", ".", "%2E%2e", "%2e"] {
            let url = format!("{}/me/interactions/{id}", fake.api_url());
            let err = t
                .post_json(&url, &json!({}), Duration::from_secs(5))
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Refused(_)), "{id}: {err:?}");
        }
        assert!(fake.requests().is_empty(), "{:?}", fake.requests());
        assert_eq!(dot_segment("http://h/api/v2/me/chats/..?x=1"), Some(".."));
        assert_eq!(dot_segment("http://h/api/v2/me/chats/a..b"), None);
        assert_eq!(dot_segment("http://h/api/v2/me/chats/%2E%2E%2E"), None);
    }

    #[tokio::test]
    async fn connection_refused_is_an_unsent_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let t = transport(&format!("http://{addr}/api/v2"));
        let err = t.get_me().await.unwrap_err();
        assert!(matches!(err, Error::Unsent(_)), "{err:?}");
        assert!(err.is_transient() && !err.is_ambiguous());
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn api_urls_are_checked_without_echoing_secrets() {
        let opts = TlsOptions::default();
        let new = |url: &str| Transport::new(url, creds(), &opts, Duration::from_secs(1));
        assert!(matches!(new("gws.example/api/v2"), Err(Error::Setup(_))));
        assert!(matches!(
            new("ftp://gws.example/api/v2"),
            Err(Error::Setup(_))
        ));
        let err = new("http://bot:s3cret@gws.example/api/v2").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(new("https://gws.example/api/v2").is_ok());
    }

    #[test]
    fn unreadable_ca_file_is_a_setup_error() {
        let tls = TlsOptions {
            extra_ca: Some("/nonexistent/ca.pem".into()),
            danger_accept_invalid_certs: false,
        };
        let err = Transport::new("http://x", creds(), &tls, Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
