//! The REST side of the simulator: Basic auth, the `JSESSIONID` session, the CSRF pair,
//! request recording, injected faults and delays, and the `/me`, `/me/channels/chat` and chat
//! routes of the simulator's dialect (`/me/interactions…`, or `/me/chats…` with
//! `GET /me/chats/{id}/messages`); the other dialect's paths answer 404, which is what a client's
//! dialect probe (`GET /me/chats`) relies on. `/notifications` is handed to `bayeux`.
//!
//! Requests other than `GET /api/v2/me` need a valid session cookie; without one they get
//! HTTP 403 `Missing or invalid Csrf token` (GET included), which tells a client to fetch
//! `GET /api/v2/me` again.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use serde_json::{Map, Value, json};

use super::bayeux;
use super::customer::spawn_effects;
use super::ops;
use super::readings::StatusForm;
use super::response::{Reply, forbidden};
use super::state::{HttpSession, Shared};
use super::types::{Fault, RecordedRequest, SimDialect, SimUser};
use super::wire;

/// The header that carries the CSRF token (announced in `X-CSRF-HEADER`).
pub(crate) const CSRF_HEADER: &str = "X-CSRF-TOKEN";
const API: &str = "/api/v2";
/// The `interactions` operations whose replies the seed shows as `{"status":0}`.
const SEED_STATUS_OPERATIONS: [&str; 4] = [
    "StartChatConsultation",
    "CompleteTransfer",
    "CompleteConference",
    "LeaveChatConsultation",
];
/// Recorded request bodies keep strings up to this many bytes.
const MAX_RECORDED_STRING: usize = 64 * 1024;

fn random_token() -> String {
    let mut rng = rand::rng();
    format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>())
}

/// The configured user whose Basic credentials the request carries.
fn authenticate<'a>(users: &'a [SimUser], headers: &HeaderMap) -> Option<&'a SimUser> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (name, password) = decoded.split_once(':')?;
    users
        .iter()
        .find(|u| u.username == name && u.password == password)
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("JSESSIONID=").map(str::to_owned))
}

fn shorten(v: &Value) -> Value {
    match v {
        Value::String(s) if s.len() > MAX_RECORDED_STRING => {
            let mut cut = MAX_RECORDED_STRING;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            Value::String(format!("{}…[{} bytes]", &s[..cut], s.len()))
        }
        Value::Array(a) => Value::Array(a.iter().map(shorten).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), shorten(v))).collect()),
        other => other.clone(),
    }
}

fn operation_of(body: Option<&Value>) -> Option<String> {
    match body? {
        Value::Object(o) => o
            .get("operationName")
            .or_else(|| o.get("channel"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        Value::Array(a) => {
            let channels: Vec<&str> = a
                .iter()
                .filter_map(|m| m.get("channel")?.as_str())
                .collect();
            Some(channels.join(","))
        }
        _ => None,
    }
}

/// Every `/api/v2/*` request: recorded, then served.
pub(crate) async fn api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let parsed: Option<Value> = if method == Method::GET {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let user = authenticate(&shared.config.users, &headers).cloned();
    let seq = {
        let mut st = shared.lock();
        let recorded_body = match (&parsed, method == Method::GET) {
            (_, true) => Value::Null,
            (Some(v), false) => shorten(v),
            (None, false) => Value::String(format!("<{} bytes, not JSON>", body.len())),
        };
        let request = RecordedRequest {
            at: st.now(),
            method: method.to_string(),
            path: path.clone(),
            operation: operation_of(parsed.as_ref()),
            body: recorded_body,
            user: user.as_ref().map(|u| u.id.clone()),
            http_status: 0,
            status_code: None,
        };
        st.record_request(request)
    };
    let reply = serve(&shared, &method, &uri, &headers, parsed, user).await;
    shared
        .lock()
        .finish_request(seq, reply.status.as_u16(), reply.status_code());
    reply.into_response()
}

async fn serve(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Option<Value>,
    user: Option<SimUser>,
) -> Reply {
    let path = uri.path();
    let Some(user) = user else {
        return Reply::text(StatusCode::UNAUTHORIZED, "Unauthorized")
            .header(WWW_AUTHENTICATE, "Basic realm=\"gws\"");
    };
    let session = match session_of(shared, headers, &user) {
        Cookie::Session(sid, token) => Some((sid, token)),
        Cookie::None => None,
        Cookie::OtherUser => return Reply::text(StatusCode::UNAUTHORIZED, "Unauthorized"),
    };
    let notifications = path == format!("{API}/notifications");
    if !notifications {
        let delay = shared.lock().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    if *method == Method::GET && path == format!("{API}/me") {
        return me(shared, &user, session.map(|(sid, _)| sid));
    }
    let Some((sid, token)) = session else {
        return forbidden();
    };
    if let Some(refused) = check_csrf(shared, method, path, headers, &token) {
        return refused;
    }
    if notifications && *method == Method::POST {
        return bayeux::handle(shared, &user.id, body).await;
    }
    if *method == Method::POST
        && let Some(fault) = injected_fault(shared, body.as_ref())
    {
        return fault;
    }
    let rest = path.strip_prefix(API).unwrap_or(path);
    let object = body.as_ref().and_then(Value::as_object);
    let empty = Map::new();
    match (method.clone(), route(shared.config.dialect, rest)) {
        (Method::GET, Route::List) => list(shared, &user.id),
        (Method::GET, Route::History(id)) => history(shared, &user.id, id, uri.query()),
        (Method::POST, _) if object.is_none() => {
            Reply::status(1, Some("the request body must be a JSON object".into()))
        }
        (Method::POST, Route::Me) => me_operation(shared, &user.id, &sid, object.unwrap_or(&empty)),
        (Method::POST, Route::Channel) => {
            channel_operation(shared, &user.id, object.unwrap_or(&empty))
        }
        (Method::POST, Route::Operate(id)) => {
            operate(shared, &user.id, id, object.unwrap_or(&empty)).await
        }
        _ => Reply::text(StatusCode::NOT_FOUND, "Not found"),
    }
}

/// What the request's session cookie names.
enum Cookie {
    /// No session (no cookie, or one the simulator does not know).
    None,
    /// The user's session: its id and CSRF token.
    Session(String, String),
    /// A session of another user.
    OtherUser,
}

fn session_of(shared: &Shared, headers: &HeaderMap, user: &SimUser) -> Cookie {
    let cookie = session_cookie(headers);
    let session = {
        let st = shared.lock();
        cookie.and_then(|c| {
            st.sessions
                .get(&c)
                .map(|s| (c, s.user.clone(), s.csrf.clone()))
        })
    };
    match session {
        None => Cookie::None,
        Some((_, owner, _)) if owner != user.id => Cookie::OtherUser,
        Some((sid, _, token)) => Cookie::Session(sid, token),
    }
}

/// A refusal when CSRF protection is on and a request other than GET lacks the session's token.
fn check_csrf(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    token: &str,
) -> Option<Reply> {
    if *method == Method::GET || !shared.config.csrf {
        return None;
    }
    match headers.get(CSRF_HEADER) {
        None => {
            shared
                .lock()
                .violation(format!("{method} {path} without CSRF header"));
            Some(forbidden())
        }
        Some(v) if v.as_bytes() != token.as_bytes() => Some(forbidden()),
        Some(_) => None,
    }
}

/// The fault injected for this POST (for its operation, or for the next request), if any.
fn injected_fault(shared: &Shared, body: Option<&Value>) -> Option<Reply> {
    let named = body
        .and_then(|b| b.get("operationName"))
        .and_then(Value::as_str);
    let fault = {
        let mut st = shared.lock();
        let targeted = named
            .and_then(|n| st.fail_operations.get_mut(n))
            .and_then(VecDeque::pop_front);
        targeted.or_else(|| st.fail_next.pop_front())
    }?;
    Some(match fault {
        Fault::Http(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            Reply::text(
                status,
                status.canonical_reason().unwrap_or("Injected fault"),
            )
        }
        Fault::StatusCode(code, message) => Reply::status(i64::from(code), Some(message)),
    })
}

/// `POST {collection}/{id}`: a chat operation, its effects started, its reply in the form
/// the readings ask for (and delayed when a slow reply was injected).
async fn operate(shared: &Arc<Shared>, user: &str, id: &str, object: &Map<String, Value>) -> Reply {
    let reply = ops::operate(&mut shared.lock(), user, id, object);
    spawn_effects(shared, reply.effects);
    let name = object.get("operationName").and_then(Value::as_str);
    let seed = shared.config.dialect == SimDialect::Interactions
        && shared.config.readings.status_form == StatusForm::Seed
        && name.is_some_and(|n| SEED_STATUS_OPERATIONS.contains(&n));
    let mut out = if seed {
        Reply::seed_status(reply.status_code, reply.message, false)
    } else {
        Reply::status(reply.status_code, reply.message)
    };
    if let (Ok(body), Some(r), false) = (&mut out.body, reply.reference, seed) {
        body["referenceId"] = json!(r);
    }
    // A slow answer to an operation already carried out (the client may give up).
    let slow = name.and_then(|n| {
        shared
            .lock()
            .slow_replies
            .get_mut(n)
            .and_then(VecDeque::pop_front)
    });
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    out
}

/// A REST path under `/api/v2`, as the dialect names it.
enum Route<'a> {
    Me,
    Channel,
    /// `GET {collection}` (any query, e.g. `?fields=*`).
    List,
    /// `POST {collection}/{id}`.
    Operate(&'a str),
    /// `GET /me/chats/{id}/messages` (`chats` only).
    History(&'a str),
    Unknown,
}

fn route(dialect: SimDialect, rest: &str) -> Route<'_> {
    let collection = wire::collection(dialect);
    match rest {
        "/me" => return Route::Me,
        "/me/channels/chat" => return Route::Channel,
        r if r == collection => return Route::List,
        _ => {}
    }
    let Some(tail) = rest
        .strip_prefix(collection)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return Route::Unknown;
    };
    match dialect {
        // The `interactions` dialect has always taken the whole tail as the id.
        SimDialect::Interactions => Route::Operate(tail),
        SimDialect::Chats => match tail.split_once('/') {
            None if !tail.is_empty() => Route::Operate(tail),
            Some((id, "messages")) if !id.is_empty() => Route::History(id),
            _ => Route::Unknown,
        },
    }
}

/// `GET /api/v2/me`: the user, a session (created when missing) and the CSRF pair.
fn me(shared: &Shared, user: &SimUser, sid: Option<String>) -> Reply {
    let mut st = shared.lock();
    let (sid, created) = match sid {
        Some(sid) => (sid, false),
        None => {
            let sid = random_token();
            st.sessions.insert(
                sid.clone(),
                HttpSession {
                    user: user.id.clone(),
                    csrf: random_token(),
                },
            );
            (sid, true)
        }
    };
    let token = st
        .sessions
        .get(&sid)
        .map(|s| s.csrf.clone())
        .unwrap_or_default();
    let mut reply = Reply::json(json!({
        "statusCode": 0,
        "user": { "id": user.id, "userName": user.username, "firstName": user.username, "lastName": "Bot" },
    }));
    if created {
        if let Ok(v) = HeaderValue::from_str(&format!("JSESSIONID={sid}; Path=/")) {
            reply.headers.insert(SET_COOKIE, v);
        }
    }
    if shared.config.csrf {
        reply = reply
            .header(HeaderName::from_static("x-csrf-header"), CSRF_HEADER)
            .header(HeaderName::from_static("x-csrf-token"), &token);
    }
    reply
}

/// `POST /api/v2/me`: start or end the contact-centre session.
fn me_operation(shared: &Shared, user: &str, sid: &str, body: &Map<String, Value>) -> Reply {
    let mut st = shared.lock();
    match body.get("operationName").and_then(Value::as_str) {
        Some("StartContactCenterSession") => {
            let Some(channels) = body.get("channels").and_then(Value::as_array) else {
                return Reply::status(1, Some("channels is required".into()));
            };
            if !channels.iter().any(|c| c.as_str() == Some("chat")) {
                return Reply::status(10, Some("channels must contain \"chat\"".into()));
            }
            st.users.entry(user.to_owned()).or_default().cc_session = true;
            Reply::status(0, None)
        }
        Some("EndContactCenterSession") => {
            st.users.insert(user.to_owned(), Default::default());
            st.sessions.remove(sid);
            st.drop_clients(|c| c.user == user);
            st.requeue(|c| c.owner.as_deref() == Some(user));
            super::chats::route(&mut st);
            Reply::status(0, None)
        }
        Some(other) => Reply::status(1, Some(format!("unknown operationName {other:?}"))),
        None => Reply::status(1, Some("operationName is required".into())),
    }
}

/// `POST /api/v2/me/channels/chat`: Ready / NotReady, answered in the configured form.
fn channel_operation(shared: &Shared, user: &str, body: &Map<String, Value>) -> Reply {
    let (code, message) = change_channel(shared, user, body);
    match shared.config.readings.status_form {
        StatusForm::StatusCode => Reply::status(code, message),
        StatusForm::Seed => Reply::seed_status(code, message, true),
    }
}

fn change_channel(shared: &Shared, user: &str, body: &Map<String, Value>) -> (i64, Option<String>) {
    let mut st = shared.lock();
    let ready = match body.get("operationName").and_then(Value::as_str) {
        Some("Ready") => true,
        Some("NotReady") => false,
        Some(other) => return (1, Some(format!("unknown operationName {other:?}"))),
        None => return (1, Some("operationName is required".into())),
    };
    let user_state = st.users.entry(user.to_owned()).or_default();
    if !user_state.cc_session {
        return (2, Some("no contact-center session was started".into()));
    }
    user_state.ready = ready;
    st.publish_channel_state(user, if ready { "Ready" } else { "NotReady" });
    if ready {
        super::chats::route(&mut st);
    }
    (0, None)
}

/// `GET /api/v2/me/interactions` or `/me/chats`: the user's offers and live chats.
fn list(shared: &Shared, user: &str) -> Reply {
    let st = shared.lock();
    let chats: Vec<Value> = st
        .chat_order
        .iter()
        .filter_map(|id| st.chats.get(id))
        .filter(|c| c.is_with_bot() && c.owner.as_deref() == Some(user))
        .map(|c| wire::chat_json(&st, c))
        .collect();
    let key = match st.dialect {
        SimDialect::Interactions => "interactions",
        SimDialect::Chats => "chats",
    };
    Reply::json(json!({ "statusCode": 0, key: chats }))
}

/// `GET /api/v2/me/chats/{id}/messages[?startIndex=N]`: the entries with `index >= N`, oldest
/// first; the whole transcript without `startIndex`.
fn history(shared: &Shared, user: &str, id: &str, query: Option<&str>) -> Reply {
    let mut st = shared.lock();
    let start = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("startIndex="));
    let start = match start.map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            st.violation(format!("GET messages of chat {id} with a bad startIndex"));
            return Reply::status(10, Some("startIndex must be a non-negative integer".into()));
        }
    };
    let Some(chat) = st
        .chats
        .get(id)
        .filter(|c| c.owner.as_deref() == Some(user))
    else {
        return Reply::status(6, Some(format!("chat {id} not found")));
    };
    let messages: Vec<Value> = chat
        .transcript
        .iter()
        .filter(|e| wire::index(e) >= start)
        .map(|e| wire::entry_json(&st, chat, e))
        .collect();
    Reply::json(json!({ "statusCode": 0, "messages": messages }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_matches_configured_user_only() {
        let users = super::super::SimConfig::default().users;
        let mut h = HeaderMap::new();
        let good = format!("Basic {}", STANDARD.encode("bot01:bot-secret"));
        h.insert(AUTHORIZATION, HeaderValue::from_str(&good).unwrap());
        assert_eq!(
            authenticate(&users, &h).map(|u| u.id.as_str()),
            Some("bot01")
        );
        let bad = format!("Basic {}", STANDARD.encode("bot01:nope"));
        h.insert(AUTHORIZATION, HeaderValue::from_str(&bad).unwrap());
        assert!(authenticate(&users, &h).is_none());
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert!(authenticate(&users, &h).is_none());
    }

    #[test]
    fn recorded_strings_are_shortened() {
        let long = "x".repeat(MAX_RECORDED_STRING + 10);
        let v = shorten(&json!({"text": long, "n": 1}));
        let text = v["text"].as_str().unwrap();
        assert!(text.len() < MAX_RECORDED_STRING + 40 && text.ends_with("bytes]"));
        assert_eq!(v["n"], 1);
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("lb=1; JSESSIONID=abc"));
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
    }
}
