//! Notification parsing, as untrusted bytes from GWS reach it.
//!
//! The input is used twice: as the JSON payload of one notification on every channel the bot
//! subscribes to (and as a chat listing), and as a raw CometD response body decoded the way
//! the transport decodes every body (lossy UTF-8, tolerant JSON), whose messages then go
//! through the dialect as the CometD client hands them on. Nothing may panic.

#![no_main]

use gws_botd::cometd::message::parse_response;
use gws_botd::gws::Dialect;
use gws_botd::event::ChatId;
use gws_botd::gws::dialect::notification::{
    CHANNELS_TOPIC, CHATS_TOPIC, INTERACTIONS_TOPIC, LEGACY_INTERACTIONS_TOPIC,
};
use gws_botd::gws::http::decode_body;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Channels a notification may arrive on: the subscribed topics and one the bot never asked for.
const CHANNELS: [&str; 5] = [
    INTERACTIONS_TOPIC,
    LEGACY_INTERACTIONS_TOPIC,
    CHATS_TOPIC,
    CHANNELS_TOPIC,
    "/v2/me/unexpected",
];

/// Both dialects parse whatever arrives (a server may speak the other one).
const DIALECTS: [Dialect; 2] = [Dialect::Interactions, Dialect::Chats];

fuzz_target!(|data: &[u8]| {
    let chat = ChatId::from("c1");
    let payload = serde_json::from_slice::<Value>(data).ok();
    // reqwest's `Response::text()` without the `charset` feature is lossy UTF-8.
    let text = String::from_utf8_lossy(data);
    let body = decode_body(&text).ok();
    for dialect in DIALECTS {
        if let Some(payload) = &payload {
            for channel in CHANNELS {
                let parsed = dialect.parse_notification(channel, payload);
                let _ = format!("{parsed:?}");
            }
            let _ = dialect.parse_listing(payload);
            let _ = dialect.parse_transcript(&chat, payload);
        }
        if let Some(body) = &body {
            for reply in parse_response(body) {
                if let Some(payload) = &reply.data {
                    let parsed = dialect.parse_notification(&reply.channel, payload);
                    let _ = format!("{parsed:?}");
                }
            }
            let _ = dialect.parse_listing(body);
            let _ = dialect.parse_transcript(&chat, body);
        }
    }
});
