//! The bodies of the fuzz targets, one function per target, shared by the libFuzzer binaries
//! under `fuzz_targets/` (nightly, `cargo fuzz`) and by the main crate's stable test suite
//! (`tests/integration/fuzz_corpus.rs` includes this file), which runs every seed under
//! `corpus/<target>/` and every kept crash under `regressions/<target>/` through them. A
//! change that breaks a target's build or makes a kept input panic fails `cargo test`.
//!
//! Only `gws_botd`, `serde_json` and `jiff` may be used here (the main crate depends on all three):
//! the test suite compiles this file as a module of its own crate.

use std::collections::HashSet;
use std::path::PathBuf;

use gws_botd::cometd::decide;
use gws_botd::cometd::message::{Advice, BayeuxError, parse_response, parse_response_text};
use gws_botd::event::{ChatId, UserData};
use gws_botd::gws::Dialect;
use gws_botd::gws::dialect::notification::{
    CHANNELS_TOPIC, CHATS_TOPIC, INTERACTIONS_TOPIC, LEGACY_INTERACTIONS_TOPIC,
};
use gws_botd::gws::http::decode_body;
use gws_botd::responder::rules::RuleSet;
use gws_botd::responder::{ChatView, Trigger};
use serde_json::Value;

/// A target's body: takes any bytes, panics on a bug.
pub type Target = fn(&[u8]);

/// The targets by name (the directory names under `corpus/` and `regressions/`).
pub const TARGETS: [(&str, Target); 3] = [
    ("bayeux", bayeux),
    ("notification", notification),
    ("rules", rules),
];

/// The Bayeux layer: `code:args:message` error strings and CometD response bodies, and the
/// client's decisions on them. Nothing may panic, and an error string printed and parsed
/// again must come back unchanged (the daemon logs errors in that form).
pub fn bayeux(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let error = BayeuxError::parse(&text);
    let _ = error.is_unknown_client();
    let printed = error.to_string();
    assert_eq!(
        BayeuxError::parse(&printed),
        error,
        "printing and parsing {printed:?} changed the error"
    );

    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let replies = parse_response(body.clone());
    let mut advice = Advice::default();
    for reply in &replies {
        let _ = (reply.is_meta(), reply.is_successful());
        if let Some(newer) = &reply.advice {
            advice.merge(newer);
        }
        if let Some(error) = &reply.error {
            let _ = error.is_unknown_client();
            let _ = error.to_string();
        }
    }
    let _ = decide::after_handshake(&replies);
    let _ = decide::after_connect(&replies);
    let sent = [
        (INTERACTIONS_TOPIC.to_owned(), "2".to_owned()),
        (CHANNELS_TOPIC.to_owned(), "3".to_owned()),
    ];
    let _ = decide::check_subscriptions(&replies, &sent);
}

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

/// Notification parsing, as untrusted bytes from GWS reach it. The input is used twice: as
/// the JSON payload of one notification on every channel the bot subscribes to (and as a chat
/// listing), and as a raw CometD response body decoded the way the transport decodes every
/// body (lossy UTF-8, tolerant JSON), whose messages then go through the dialect as the
/// CometD client hands them on. Nothing may panic.
pub fn notification(data: &[u8]) {
    let chat = ChatId::from("c1");
    let payload = serde_json::from_slice::<Value>(data).ok();
    // reqwest's `Response::text()` without the `charset` feature is lossy UTF-8.
    let text = String::from_utf8_lossy(data);
    let body = decode_body(&text).ok();
    for dialect in DIALECTS {
        for channel in CHANNELS {
            // The daemon's own path: the payload read from its text, borrowing from it. Where
            // the text is JSON it must read exactly as the `Value` path reads it.
            let from_text = format!("{:?}", dialect.parse_notification_text(channel, &text));
            if let Some(payload) = &payload {
                let parsed = format!("{:?}", dialect.parse_notification(channel, payload));
                assert_eq!(
                    from_text, parsed,
                    "text and Value read {channel} differently"
                );
            }
        }
        if let Some(payload) = &payload {
            let _ = dialect.parse_listing(payload);
            let _ = dialect.parse_transcript(&chat, payload);
        }
        // The CometD client's own path: messages split from the body's text, `data` kept as text.
        for reply in parse_response_text(&text).unwrap_or_default() {
            let _ = (reply.is_meta(), reply.is_successful());
            if let Some(payload) = &reply.payload {
                let parsed = dialect.parse_notification_text(&reply.channel, payload.as_str());
                let _ = format!("{parsed:?}");
            }
        }
        if let Some(body) = &body {
            for reply in parse_response(body.clone()) {
                if let Some(payload) = &reply.data {
                    let parsed = dialect.parse_notification(&reply.channel, payload);
                    let _ = format!("{parsed:?}");
                }
            }
            let _ = dialect.parse_listing(body);
            let _ = dialect.parse_transcript(&chat, body);
        }
    }
}

/// The rule-file parser and validator, with the input as the text of one rule file (as
/// supervisors write them, so anything goes). Every problem report must render (it points at
/// lines and columns of the text), and a set that loads must evaluate an accepted chat and a
/// customer message (the input itself) without panicking.
pub fn rules(data: &[u8]) {
    // Files that are not UTF-8 are refused before parsing; the parser only ever sees text.
    let text = String::from_utf8_lossy(data).into_owned();
    let files = [(PathBuf::from("rules/50-fuzz.toml"), text.clone())];
    let rules = match RuleSet::from_sources(&files) {
        Ok(rules) => rules,
        Err(problems) => {
            let _ = problems.to_string();
            return;
        }
    };
    let _ = rules.summary().to_string();
    let id = ChatId("00000F9E5A1A0D44".into());
    let mut user_data = UserData::new();
    user_data.insert("Segment".into(), "VIP".into());
    user_data.insert("Count".into(), 3.into());
    let fired = HashSet::new();
    // A fixed instant (a Monday, 10:00 UTC), so schedules evaluate the same in every run.
    let now = jiff::Timestamp::from_second(1_717_408_800).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let chat = ChatView {
        id: &id,
        message_id: None,
        recent: &[],
        customer: Some("Alex"),
        bot: "Ava",
        user_data: &user_data,
        turn: 1,
        unanswered: 0,
        fired: &fired,
        awaiting: None,
        now,
    };
    let _ = format!("{:?}", rules.evaluate(&chat, &Trigger::Accepted));
    let message = Trigger::Message { text };
    let _ = format!("{:?}", rules.evaluate(&chat, &message));
}
