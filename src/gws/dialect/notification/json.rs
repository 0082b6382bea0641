//! The read-only view of JSON the notification parsers walk ([`Json`]), for `serde_json::Value`
//! and for [`Node`], a tree that borrows its strings from the text it was parsed from.
//!
//! Notifications are parsed once per customer message, and most of what they carry (the whole
//! chat object, every participant, the user data) is looked at and dropped: as a `Value` every
//! key and string is an allocation and every object a B-tree. A `Node` borrows keys and
//! strings without escapes from the CometD response text and keeps objects as vectors, so the
//! same tolerant parsers run with a fraction of the allocations. Lookups follow `Value`'s
//! semantics: of duplicate keys the last one counts.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

/// What the parsers read of a JSON value.
pub(crate) trait Json: Sized {
    /// The member `key` of an object.
    fn get(&self, key: &str) -> Option<&Self>;
    fn as_str(&self) -> Option<&str>;
    fn as_array(&self) -> Option<&[Self]>;
    fn is_object(&self) -> bool;
    fn as_number(&self) -> Option<&Number>;
    /// An object's members, each key once (the last of duplicates), as a `Value` map would.
    fn to_members(&self) -> Option<BTreeMap<String, Value>>;
}

impl Json for Value {
    fn get(&self, key: &str) -> Option<&Self> {
        Value::get(self, key)
    }
    fn as_str(&self) -> Option<&str> {
        Value::as_str(self)
    }
    fn as_array(&self) -> Option<&[Self]> {
        Value::as_array(self).map(Vec::as_slice)
    }
    fn is_object(&self) -> bool {
        Value::is_object(self)
    }
    fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }
    fn to_members(&self) -> Option<BTreeMap<String, Value>> {
        let map = self.as_object()?;
        Some(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

/// A JSON value whose strings borrow from the parsed text where they have no escapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    /// Members in document order, duplicates kept (lookups take the last).
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// Parse `text`; `None` when it is not JSON.
    pub(crate) fn parse(text: &'a str) -> Option<Node<'a>> {
        serde_json::from_str(text).ok()
    }

    /// The same value as a `serde_json::Value`.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::Str(s) => Value::String(s.clone().into_owned()),
            Node::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone().into_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

impl Json for Node<'_> {
    fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Node::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }
    fn as_array(&self) -> Option<&[Self]> {
        match self {
            Node::Array(items) => Some(items),
            _ => None,
        }
    }
    fn is_object(&self) -> bool {
        matches!(self, Node::Object(_))
    }
    fn as_number(&self) -> Option<&Number> {
        match self {
            Node::Number(n) => Some(n),
            _ => None,
        }
    }
    fn to_members(&self) -> Option<BTreeMap<String, Value>> {
        match self {
            // In document order: of duplicate keys the last one stays.
            Node::Object(members) => Some(
                members
                    .iter()
                    .map(|(k, v)| (k.clone().into_owned(), v.to_value()))
                    .collect(),
            ),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Node<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor(std::marker::PhantomData))
    }
}

struct NodeVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for NodeVisitor<'a> {
    type Value = Node<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node<'a>, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node<'a>, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Node<'a>, E> {
        Ok(Node::Bool(b))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Node<'a>, E> {
        Ok(Node::Number(n.into()))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Node<'a>, E> {
        Ok(Node::Number(n.into()))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Node<'a>, E> {
        // As `Value` does: a float JSON cannot hold becomes null.
        Ok(Number::from_f64(f).map_or(Node::Null, Node::Number))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node<'a>, E> {
        Ok(Node::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Node<'a>, E> {
        Ok(Node::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Node<'a>, E> {
        Ok(Node::Str(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'a>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'a>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<Node<'a>>()? {
            let Node::Str(key) = key else {
                return Err(de::Error::custom("an object key that is not a string"));
            };
            members.push((key, map.next_value()?));
        }
        Ok(Node::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_node_reads_as_the_value_of_the_same_text() {
        let text = r#"{"a":"x","a":"last","n":-1.5,"e":"caf\u00e9","l":[1,null,true,{"k":2}],
            "u":18446744073709551615}"#;
        let node = Node::parse(text).unwrap();
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(node.to_value(), value);
        assert_eq!(Json::get(&node, "a").and_then(Json::as_str), Some("last"));
        assert!(matches!(
            Json::get(&node, "a"),
            Some(Node::Str(Cow::Borrowed(_)))
        ));
        assert!(matches!(
            Json::get(&node, "e"),
            Some(Node::Str(Cow::Owned(_)))
        ));
        assert_eq!(Json::get(&node, "e").and_then(Json::as_str), Some("café"));
        assert_eq!(
            Json::get(&node, "l")
                .and_then(Json::as_array)
                .map(<[_]>::len),
            Some(4)
        );
        assert_eq!(node.to_members().unwrap().len(), 5, "duplicates once");
        assert_eq!(Node::parse("{\"a\":").as_ref(), None);
        assert_eq!(Node::parse("[]").unwrap().to_value(), json!([]));
    }

    /// Payloads the parsers must read alike from a `Value` and from text: the fuzz corpus
    /// (CometD responses and payloads) and a few odd shapes.
    fn samples() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/notification");
        let mut texts: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect();
        assert!(!texts.is_empty(), "the fuzz corpus is there");
        texts.extend(
            [
                r#"{"messageType":"InteractionStateMessage","notificationType":"NewMessages",
                   "interaction":{"id":7.5,"channel":"CHAT","userData":{"b":1,"a":[{"x":null}],"a":2},
                   "participants":[{"type":"customer","nickname":"P\u00e4t","userId":12},"x",
                   {"participantType":"Agent","uri":"http://g/api/v2/users/u%41","id":3}]},
                   "messages":[{"index":4,"type":"PushUrl","url":"u","visibility":"public"},
                   {"eventId":" ","messageType":"Notice","noticeText":"n"}],"referenceId":"18"}"#,
                r#"{"messageTypeName":"InteractionStateMessage","notificationType":"Error",
                   "interactionId":"c9","errorMessage":"no","referenceId":-1}"#,
                r#"{"messageType":"ChatStateChangeMessage","chat":{"chatId":5,"capabilities":"x"},
                   "statusMessage":"s"}"#,
                r#"{"messageType":"MessageLogUpdated","chatUri":"http://g/chats/a%2Fb/",
                   "messages":[{"index":1,"type":"Text","text":"hi","from":{"type":"Customer"}}]}"#,
                r#"{"channels":[{"userState":{"displayName":"Ready"}}]}"#,
                r#"{"messageType":"Whatever"}"#,
                r#"[1,2]"#,
                r#""text""#,
                r#"{"notificationType":"StatusChange","id":"x","messages":{}}"#,
            ]
            .map(str::to_owned),
        );
        texts
    }

    #[test]
    fn payloads_parse_alike_from_text_and_from_a_value() {
        use crate::gws::dialect::Dialect;
        use crate::gws::dialect::notification::{
            CHANNELS_TOPIC, CHATS_TOPIC, INTERACTIONS_TOPIC, LEGACY_INTERACTIONS_TOPIC,
        };
        let channels = [
            INTERACTIONS_TOPIC,
            LEGACY_INTERACTIONS_TOPIC,
            CHATS_TOPIC,
            CHANNELS_TOPIC,
            "/x",
        ];
        let mut compared = 0;
        for text in samples() {
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            // The text as a payload, and each message of it as a CometD response.
            let mut payloads = vec![(text.clone(), value.clone())];
            let replies = crate::cometd::message::parse_response(value.clone());
            let texts = crate::cometd::message::parse_response_text(&text).unwrap_or_default();
            assert_eq!(replies.len(), texts.len(), "{text}");
            for (r, t) in replies.iter().zip(&texts) {
                assert_eq!(
                    (&r.channel, r.successful, &r.id),
                    (&t.channel, t.successful, &t.id)
                );
                assert_eq!(
                    (&r.advice, &r.error, &r.client_id),
                    (&t.advice, &t.error, &t.client_id)
                );
                assert_eq!(r.data.is_some(), t.payload.is_some(), "{text}");
                if let (Some(v), Some(p)) = (&r.data, &t.payload) {
                    payloads.push((p.as_str().to_owned(), v.clone()));
                }
            }
            for (text, value) in &payloads {
                for dialect in [Dialect::Interactions, Dialect::Chats] {
                    for channel in channels {
                        assert_eq!(
                            dialect.parse_notification_text(channel, text),
                            dialect.parse_notification(channel, value),
                            "{dialect:?} {channel} {text}"
                        );
                        compared += 1;
                    }
                    assert_eq!(
                        dialect.parse_listing(value),
                        match dialect {
                            Dialect::Interactions => super::super::interactions::parse_listing(
                                &Node::parse(text).unwrap(),
                                "interactions"
                            ),
                            Dialect::Chats => {
                                super::super::chats::parse_listing(&Node::parse(text).unwrap())
                            }
                        }
                    );
                }
            }
        }
        assert!(compared > 100, "{compared}");
    }
}
