//! The Bayeux layer: `code:args:message` error strings and CometD response bodies, and the
//! client's decisions on them. Nothing may panic, and an error string printed and parsed
//! again must come back unchanged (the daemon logs errors in that form).

#![no_main]

use gws_botd::cometd::decide;
use gws_botd::cometd::message::{Advice, BayeuxError, parse_response};
use gws_botd::gws::dialect::notification::{CHANNELS_TOPIC, INTERACTIONS_TOPIC};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
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
    let replies = parse_response(&body);
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
});
