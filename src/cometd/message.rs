//! Bayeux 1.0 messages: building the client's meta messages and parsing the server's replies
//! tolerantly (unknown fields ignored, malformed entries skipped, `code:args:message` errors
//! taken apart generically).

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Value, json};

/// Meta channel: handshake.
pub const HANDSHAKE: &str = "/meta/handshake";
/// Meta channel: subscribe.
pub const SUBSCRIBE: &str = "/meta/subscribe";
/// Meta channel: connect (the long poll).
pub const CONNECT: &str = "/meta/connect";
/// Meta channel: disconnect.
pub const DISCONNECT: &str = "/meta/disconnect";
/// The only transport GWS 8.5 offers.
pub const LONG_POLLING: &str = "long-polling";

/// What the server advises after a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconnect {
    /// Connect again (after `interval`).
    Retry,
    /// Handshake again, then subscribe again.
    Handshake,
    /// Give up.
    None,
    /// A value this client does not know; treated like `Retry`.
    Other(String),
}

/// The `advice` field. Absent members keep their previous value (see [`Advice::merge`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advice {
    pub reconnect: Option<Reconnect>,
    /// Milliseconds to wait before the next connect.
    pub interval: Option<u64>,
    /// Milliseconds the server may hold a connect.
    pub timeout: Option<u64>,
}

impl Advice {
    /// Parse an `advice` object; `None` when it is not an object.
    pub fn from_value(v: &Value) -> Option<Advice> {
        let obj = v.as_object()?;
        let reconnect = obj
            .get("reconnect")
            .and_then(Value::as_str)
            .map(|s| match s {
                "retry" => Reconnect::Retry,
                "handshake" => Reconnect::Handshake,
                "none" => Reconnect::None,
                other => Reconnect::Other(other.to_owned()),
            });
        Some(Advice {
            reconnect,
            interval: obj.get("interval").and_then(millis),
            timeout: obj.get("timeout").and_then(millis),
        })
    }

    /// Take every member `newer` sets.
    pub fn merge(&mut self, newer: &Advice) {
        if newer.reconnect.is_some() {
            self.reconnect.clone_from(&newer.reconnect);
        }
        if newer.interval.is_some() {
            self.interval = newer.interval;
        }
        if newer.timeout.is_some() {
            self.timeout = newer.timeout;
        }
    }
}

/// A non-negative millisecond count given as an integer or a float.
fn millis(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// A Bayeux error string `code:args:message`, e.g. `402::Unknown client`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BayeuxError {
    pub code: Option<u16>,
    pub args: Vec<String>,
    pub message: String,
}

impl BayeuxError {
    /// Parse an error string; anything not in `code:args:message` form is all message.
    pub fn parse(s: &str) -> BayeuxError {
        let mut parts = s.splitn(3, ':');
        if let (Some(code), Some(args), Some(message)) = (parts.next(), parts.next(), parts.next())
        {
            if let Ok(code) = code.trim().parse::<u16>() {
                return BayeuxError {
                    code: Some(code),
                    args: args
                        .split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    message: message.trim().to_owned(),
                };
            }
        }
        BayeuxError {
            code: None,
            args: Vec::new(),
            message: s.trim().to_owned(),
        }
    }

    /// The server no longer knows this client id: handshake again.
    pub fn is_unknown_client(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        self.code == Some(402)
            || m.contains("unknown client")
            || m.contains("session_unknown")
            || m.contains("unknown session")
    }
}

impl std::fmt::Display for BayeuxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "{code}:{}:{}", self.args.join(","), self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// One message from the server (a meta reply or a data message).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub channel: String,
    pub successful: Option<bool>,
    pub client_id: Option<String>,
    pub id: Option<String>,
    pub subscription: Option<String>,
    pub advice: Option<Advice>,
    pub error: Option<BayeuxError>,
    pub data: Option<Value>,
    /// The `data` as the server wrote it, when the response was parsed from its text
    /// ([`parse_response_text`]; `data` is then `None`).
    pub payload: Option<Payload>,
}

/// A message's `data` as the server wrote it: JSON text, not parsed further here (the reader
/// parses it once, into what it needs).
#[derive(Debug, Clone)]
pub struct Payload(Box<RawValue>);

impl Payload {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The JSON text of `value`.
    pub fn from_value(value: &Value) -> Payload {
        Payload(serde_json::value::to_raw_value(value).expect("a Value serialises"))
    }

    /// Parsed into a `Value` (`null` if it somehow is not JSON).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.as_str()).unwrap_or(Value::Null)
    }
}

/// The same JSON, whatever its spacing and member order.
impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
    }
}

impl std::fmt::Display for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Reply {
    /// What went wrong, for a log line: the server's error, else whether it was successful.
    pub fn describe(&self) -> String {
        match (&self.error, self.successful) {
            (Some(error), _) => error.to_string(),
            (None, Some(false)) => "unsuccessful, without an error".into(),
            (None, Some(true)) => "successful".into(),
            (None, None) => "no `successful` field".into(),
        }
    }

    /// Parse one message; `None` unless it is an object with a string `channel`. The `data`
    /// is moved out of `v`, not copied.
    pub fn from_value(mut v: Value) -> Option<Reply> {
        let channel = v.get("channel")?.as_str()?.to_owned();
        let text = |k: &str| match v.get(k)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let mut reply = Reply {
            channel,
            successful: v.get("successful").and_then(Value::as_bool),
            client_id: text("clientId"),
            id: text("id"),
            subscription: text("subscription"),
            advice: v.get("advice").and_then(Advice::from_value),
            error: v
                .get("error")
                .and_then(Value::as_str)
                .map(BayeuxError::parse),
            data: None,
            payload: None,
        };
        reply.data = v.as_object_mut().and_then(|o| o.remove("data"));
        Some(reply)
    }

    /// Meta replies are on `/meta/*`; everything else is a notification.
    pub fn is_meta(&self) -> bool {
        self.channel.starts_with("/meta/")
    }

    /// `successful: true`.
    pub fn is_successful(&self) -> bool {
        self.successful == Some(true)
    }
}

/// All messages of a response body (an array, or a single object), in order. Entries that are
/// not messages are skipped.
pub fn parse_response(body: Value) -> Vec<Reply> {
    match body {
        Value::Array(items) => items.into_iter().filter_map(Reply::from_value).collect(),
        Value::Object(_) => Reply::from_value(body).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// [`parse_response`] from the body's text, each message's `data` kept as its text
/// ([`Reply::payload`]) rather than built into a `Value`. `None` when the text is not JSON, or
/// neither an array nor an object.
pub fn parse_response_text(text: &str) -> Option<Vec<Reply>> {
    let text = text.trim_start();
    let entries: Vec<&RawValue> = match text.as_bytes().first() {
        Some(b'[') => serde_json::from_str(text).ok()?,
        Some(b'{') => vec![serde_json::from_str(text).ok()?],
        _ => return None,
    };
    Some(entries.into_iter().filter_map(reply_of_text).collect())
}

/// One message of [`parse_response_text`]: every member but `data` parsed as
/// [`Reply::from_value`] parses it, `data` kept as text.
fn reply_of_text(entry: &RawValue) -> Option<Reply> {
    // Not an object: skipped, as `from_value` skips it. Of duplicate keys the last counts.
    let members: Vec<(Cow<'_, str>, &RawValue)> =
        serde_json::from_str::<Members<'_>>(entry.get()).ok()?.0;
    let mut meta = serde_json::Map::new();
    let mut payload = None;
    for (key, raw) in members {
        if key == "data" {
            payload = Some(raw);
        } else {
            meta.insert(key.into_owned(), serde_json::from_str(raw.get()).ok()?);
        }
    }
    let mut reply = Reply::from_value(Value::Object(meta))?;
    reply.payload = payload.map(|raw| Payload(raw.to_owned()));
    Some(reply)
}

/// An object's members in order, values unparsed.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members<'a>, A::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<Key<'a>>()? {
                    members.push((key.0, map.next_value::<&'a RawValue>()?));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// An object key, borrowed from the text unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Key<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(Visit(std::marker::PhantomData))
    }
}

/// `/meta/handshake` for long-polling.
pub fn handshake(id: u64) -> Value {
    json!({
        "channel": HANDSHAKE,
        "version": "1.0",
        "minimumVersion": "1.0",
        "supportedConnectionTypes": [LONG_POLLING],
        "id": id.to_string(),
    })
}

/// `/meta/subscribe` to one topic.
pub fn subscribe(client_id: &str, topic: &str, id: u64) -> Value {
    json!({"channel": SUBSCRIBE, "clientId": client_id, "subscription": topic, "id": id.to_string()})
}

/// `/meta/connect` (the long poll).
pub fn connect(client_id: &str, id: u64) -> Value {
    json!({"channel": CONNECT, "clientId": client_id, "connectionType": LONG_POLLING,
           "id": id.to_string()})
}

/// `/meta/disconnect`.
pub fn disconnect(client_id: &str, id: u64) -> Value {
    json!({"channel": DISCONNECT, "clientId": client_id, "id": id.to_string()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_strings() {
        let e = BayeuxError::parse("402::Unknown client");
        assert_eq!(e.code, Some(402));
        assert!(e.args.is_empty());
        assert_eq!(e.message, "Unknown client");
        assert!(e.is_unknown_client());
        assert_eq!(e.to_string(), "402::Unknown client");

        let e = BayeuxError::parse("401:abc123,x:Unknown client");
        assert_eq!(e.code, Some(401));
        assert_eq!(e.args, ["abc123", "x"]);
        assert!(e.is_unknown_client(), "by message");

        assert!(BayeuxError::parse("402::session_unknown").is_unknown_client());
        let e = BayeuxError::parse("403::Handshake denied");
        assert!(!e.is_unknown_client());
        let e = BayeuxError::parse("something: went wrong");
        assert_eq!(e.code, None);
        assert_eq!(e.message, "something: went wrong");
        assert!(!e.is_unknown_client());
    }

    #[test]
    fn advice_parsing_and_merging() {
        let a =
            Advice::from_value(&json!({"reconnect":"handshake","interval":500.0,"x":1})).unwrap();
        assert_eq!(a.reconnect, Some(Reconnect::Handshake));
        assert_eq!(a.interval, Some(500));
        assert_eq!(a.timeout, None);
        assert_eq!(Advice::from_value(&json!("retry")), None);
        let odd = Advice::from_value(&json!({"reconnect":"later","interval":-5})).unwrap();
        assert_eq!(odd.reconnect, Some(Reconnect::Other("later".into())));
        assert_eq!(odd.interval, None);

        let mut current = Advice {
            reconnect: Some(Reconnect::Retry),
            interval: Some(0),
            timeout: Some(30_000),
        };
        current.merge(&Advice {
            reconnect: None,
            interval: Some(2000),
            timeout: None,
        });
        assert_eq!(current.reconnect, Some(Reconnect::Retry));
        assert_eq!(current.interval, Some(2000));
        assert_eq!(current.timeout, Some(30_000));
    }

    #[test]
    fn responses_are_parsed_tolerantly() {
        let body = json!([
            {"channel":"/v2/me/interactions","data":{"a":1},"extra":true},
            {"channel":"/meta/connect","successful":true,"id":7,"advice":{"timeout":60000}},
            {"no":"channel"},
            17,
            {"channel":"/meta/subscribe","successful":false,"subscription":"/x","error":"403::denied"}
        ]);
        let replies = parse_response(body);
        assert_eq!(replies.len(), 3);
        assert!(!replies[0].is_meta());
        assert_eq!(replies[0].data, Some(json!({"a":1})));
        assert!(replies[1].is_meta() && replies[1].is_successful());
        assert_eq!(replies[1].id.as_deref(), Some("7"));
        assert_eq!(replies[1].advice.as_ref().unwrap().timeout, Some(60_000));
        assert!(!replies[2].is_successful());
        assert_eq!(replies[2].error.as_ref().unwrap().code, Some(403));

        assert_eq!(
            parse_response(json!({"channel":"/meta/handshake"})).len(),
            1
        );
        assert!(parse_response(json!("<html>")).is_empty());
        assert!(parse_response(Value::Null).is_empty());
    }

    #[test]
    fn outgoing_messages() {
        let h = handshake(1);
        assert_eq!(h["channel"], "/meta/handshake");
        assert_eq!(h["version"], "1.0");
        assert_eq!(h["supportedConnectionTypes"], json!(["long-polling"]));
        let s = subscribe("c1", "/v2/me/interactions", 2);
        assert_eq!(s["clientId"], "c1");
        assert_eq!(s["subscription"], "/v2/me/interactions");
        let c = connect("c1", 3);
        assert_eq!(c["connectionType"], "long-polling");
        assert_eq!(c["id"], "3");
        assert_eq!(disconnect("c1", 4)["channel"], "/meta/disconnect");
    }
}
