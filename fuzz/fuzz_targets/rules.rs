//! The rule-file parser and validator, with the input as the text of one rule file (as
//! supervisors write them, so anything goes). Every problem report must render (it points at
//! lines and columns of the text), and a set that loads must evaluate an accepted chat and a
//! customer message (the input itself) without panicking.

#![no_main]

use std::collections::HashSet;
use std::path::PathBuf;

use gws_botd::event::{ChatId, UserData};
use gws_botd::responder::rules::RuleSet;
use gws_botd::responder::{ChatView, Trigger};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
    let chat = ChatView {
        id: &id,
        customer: Some("Alex"),
        bot: "Ava",
        user_data: &user_data,
        turn: 1,
        unanswered: 0,
        fired: &fired,
    };
    let _ = format!("{:?}", rules.evaluate(&chat, &Trigger::Accepted));
    let message = Trigger::Message { text };
    let _ = format!("{:?}", rules.evaluate(&chat, &message));
});
