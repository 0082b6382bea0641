//! The CometD (Bayeux 1.0, long-polling) server at `POST /api/v2/notifications`: handshake,
//! subscribe, held `/meta/connect`, disconnect. Notifications are queued per client in `state`
//! and handed out by the next connect, whose own reply sits at a random place in the array.

use std::sync::Arc;

use axum::http::StatusCode;
use rand::Rng;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::response::Reply;
use super::state::{Client, Held, Release, Shared, State};
use super::types::{Corruption, Delivery};
use super::wire;

type Message = Map<String, Value>;

/// Serves one CometD POST (an array of messages, or a single message object).
pub(crate) async fn handle(shared: &Arc<Shared>, user: &str, body: Option<Value>) -> Reply {
    let messages = match body {
        Some(Value::Array(a)) => a,
        Some(object @ Value::Object(_)) => vec![object],
        _ => return Reply::text(StatusCode::BAD_REQUEST, "invalid Bayeux message"),
    };
    let mut out = Vec::new();
    for message in messages {
        let Some(m) = message.as_object() else {
            out.push(json!({"successful": false, "error": "400::not a Bayeux message"}));
            continue;
        };
        match m.get("channel").and_then(Value::as_str).unwrap_or("") {
            "/meta/handshake" => out.push(handshake(shared, user, m)),
            "/meta/subscribe" => out.push(subscribe(shared, user, m, true)),
            "/meta/unsubscribe" => out.push(subscribe(shared, user, m, false)),
            "/meta/connect" => out.extend(connect(shared, user, m).await),
            "/meta/disconnect" => out.push(disconnect(shared, user, m)),
            other => {
                let mut r = base(m, other);
                r["successful"] = json!(false);
                r["error"] = json!("403::Publish denied");
                out.push(r);
            }
        }
    }
    let carries_notifications = out.iter().any(|m| {
        m.get("data").is_some() && !m["channel"].as_str().unwrap_or("").starts_with("/meta/")
    });
    if carries_notifications && let Some(corruption) = shared.lock().corrupt_next.take() {
        let body = match corruption {
            Corruption::Body(text) => text,
            Corruption::Replace { from, to } => Value::Array(out).to_string().replace(&from, &to),
        };
        return Reply::text(StatusCode::OK, body);
    }
    Reply::json(Value::Array(out))
}

/// A reply skeleton echoing `id` and `clientId`.
fn base(m: &Message, channel: &str) -> Value {
    let mut r = json!({ "channel": channel });
    for key in ["id", "clientId"] {
        if let Some(v) = m.get(key) {
            r[key] = v.clone();
        }
    }
    r
}

fn unknown_client(m: &Message, channel: &str) -> Value {
    let mut r = base(m, channel);
    r["successful"] = json!(false);
    r["error"] = json!("402::Unknown client");
    r["advice"] = json!({"reconnect": "handshake", "interval": 0});
    r
}

fn advice(shared: &Shared) -> Value {
    let timeout = u64::try_from(shared.config.connect_timeout.as_millis()).unwrap_or(u64::MAX);
    json!({"reconnect": "retry", "interval": 0, "timeout": timeout})
}

/// The client named by `clientId` if it belongs to `user`. Records a violation when the id
/// was never handed out (the client skipped the handshake).
fn known_client<'a>(
    st: &'a mut State,
    user: &str,
    m: &Message,
    what: &str,
) -> Option<&'a mut Client> {
    let id = m.get("clientId").and_then(Value::as_str).unwrap_or("");
    if !st.was_issued(id) {
        st.violation(format!(
            "{what} before handshake succeeded (clientId {id:?})"
        ));
        return None;
    }
    st.clients.get_mut(id).filter(|c| c.user == user)
}

fn handshake(shared: &Shared, user: &str, m: &Message) -> Value {
    let mut r = base(m, "/meta/handshake");
    r["version"] = json!("1.0");
    r["supportedConnectionTypes"] = json!(["long-polling"]);
    let long_polling = m
        .get("supportedConnectionTypes")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|t| t.as_str() == Some("long-polling")));
    if m.get("version").and_then(Value::as_str).is_none() || !long_polling {
        r["successful"] = json!(false);
        r["error"] = json!("400::version and long-polling connection type required");
        r["advice"] = json!({"reconnect": "none"});
        return r;
    }
    let mut st = shared.lock();
    if st.refuse_handshakes > 0 {
        st.refuse_handshakes -= 1;
        r["successful"] = json!(false);
        r["error"] = json!("403::Handshake denied");
        r["advice"] = json!({"reconnect": "none"});
        return r;
    }
    let id = st.new_client(user, shared.config.connect_timeout);
    r["clientId"] = json!(id);
    r["successful"] = json!(true);
    r["advice"] = advice(shared);
    r
}

fn subscribe(shared: &Shared, user: &str, m: &Message, on: bool) -> Value {
    let channel = if on {
        "/meta/subscribe"
    } else {
        "/meta/unsubscribe"
    };
    let mut st = shared.lock();
    let Some(client) = known_client(&mut st, user, m, channel) else {
        return unknown_client(m, channel);
    };
    let subscription = m.get("subscription").and_then(Value::as_str).unwrap_or("");
    let mut r = base(m, channel);
    r["subscription"] = json!(subscription);
    if !wire::may_subscribe(shared.config.dialect, subscription) {
        r["successful"] = json!(false);
        r["error"] = json!(format!("403:{subscription}:Subscription denied"));
        return r;
    }
    if on {
        client.subscriptions.insert(subscription.to_owned());
    } else {
        client.subscriptions.remove(subscription);
    }
    r["successful"] = json!(true);
    if on {
        super::chats::route(&mut st);
    }
    r
}

fn disconnect(shared: &Shared, user: &str, m: &Message) -> Value {
    let mut st = shared.lock();
    if known_client(&mut st, user, m, "/meta/disconnect").is_none() {
        return unknown_client(m, "/meta/disconnect");
    }
    let id = m.get("clientId").and_then(Value::as_str).unwrap_or("");
    if let Some(mut client) = st.clients.remove(id) {
        if let Some(held) = client.held.take() {
            let _ = held.tx.send(Release::Disconnected);
        }
    }
    let mut r = base(m, "/meta/disconnect");
    r["successful"] = json!(true);
    r
}

/// Hands out the client's queue plus the connect reply, at a random position.
fn drain(shared: &Shared, st: &mut State, id: &str, user: &str, m: &Message) -> Vec<Value> {
    let at = st.now();
    let mut queued: Vec<Value> = st
        .clients
        .get_mut(id)
        .map(|c| {
            c.last_seen = at;
            c.queue.drain(..).collect()
        })
        .unwrap_or_default();
    if !queued.is_empty() && st.duplicate_next > 0 {
        st.duplicate_next -= 1;
        queued = queued.into_iter().flat_map(|m| [m.clone(), m]).collect();
    }
    if queued.len() > 1 && st.reorder_next > 0 {
        st.reorder_next -= 1;
        queued.reverse();
    }
    for message in &queued {
        let channel = message["channel"].as_str().unwrap_or_default().to_owned();
        st.record_delivery(Delivery {
            at,
            user: user.to_owned(),
            channel,
            data: message["data"].clone(),
        });
    }
    let mut reply = base(m, "/meta/connect");
    reply["successful"] = json!(true);
    reply["advice"] = advice(shared);
    let mut out = queued;
    let position = rand::rng().random_range(0..=out.len());
    out.insert(position, reply);
    out
}

async fn connect(shared: &Shared, user: &str, m: &Message) -> Vec<Value> {
    let id = m
        .get("clientId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let (mut rx, held_id) = {
        let mut st = shared.lock();
        let held_id = st.next_number();
        let now = st.now();
        let Some(client) = known_client(&mut st, user, m, "/meta/connect") else {
            return vec![unknown_client(m, "/meta/connect")];
        };
        client.last_seen = now;
        if m.get("connectionType").and_then(Value::as_str) != Some("long-polling") {
            let mut r = base(m, "/meta/connect");
            r["successful"] = json!(false);
            r["error"] = json!("400::connectionType long-polling required");
            return vec![r];
        }
        let superseded = client
            .held
            .take()
            .map(|old| old.tx.send(Release::Superseded))
            .is_some();
        let has_queue = !client.queue.is_empty();
        let (tx, rx) = oneshot::channel();
        if !has_queue {
            client.held = Some(Held { id: held_id, tx });
        }
        if superseded {
            st.violation(format!("concurrent connect for client {id}"));
        }
        if has_queue {
            return drain(shared, &mut st, &id, user, m);
        }
        (rx, held_id)
    };
    let mut released = tokio::select! {
        r = &mut rx => Some(r.unwrap_or(Release::Dropped)),
        () = tokio::time::sleep(shared.config.connect_timeout) => None,
        () = shared.shutdown.cancelled() => None,
    };
    let mut st = shared.lock();
    if released.is_none() {
        // Timed out (or shutting down): take our hold back unless someone already released it.
        match st.clients.get_mut(&id) {
            Some(c) if c.held.as_ref().is_some_and(|h| h.id == held_id) => c.held = None,
            _ => released = Some(rx.try_recv().unwrap_or(Release::Dropped)),
        }
    }
    match released {
        None | Some(Release::Wake) if st.clients.contains_key(&id) => {
            drain(shared, &mut st, &id, user, m)
        }
        None | Some(Release::Wake) | Some(Release::Dropped) => {
            vec![unknown_client(m, "/meta/connect")]
        }
        Some(Release::Superseded) => {
            let mut r = base(m, "/meta/connect");
            r["successful"] = json!(true);
            r["advice"] = advice(shared);
            vec![r]
        }
        Some(Release::Disconnected) => {
            let mut r = base(m, "/meta/connect");
            r["successful"] = json!(true);
            r["advice"] = json!({"reconnect": "none", "interval": 0});
            vec![r]
        }
    }
}
