//! Tests of `explain`'s stories.

use super::*;

fn record(ts: &str, decision: Decision) -> Record {
    Record {
        ts: ts.into(),
        chat_id: "c-1".into(),
        decision,
    }
}

#[test]
fn a_story_reads_like_one() {
    let found = Found {
        records: vec![
            record(
                "2025-03-01T10:00:00.000Z",
                Decision::Offered {
                    customer: Some("Alex".into()),
                },
            ),
            record("2025-03-01T10:00:00.100Z", Decision::Accepted),
            record(
                "2025-03-01T10:00:02.000Z",
                Decision::CustomerSaid {
                    turn: 1,
                    message_id: Some("e-17".into()),
                    chars: 18,
                    text: None,
                },
            ),
            record(
                "2025-03-01T10:00:02.010Z",
                Decision::Responded {
                    trigger: "message".into(),
                    responder: "rules".into(),
                    message_id: Some("e-17".into()),
                    rules: vec!["refund".into()],
                    matched: true,
                    replies: vec!["Let me get billing.".into()],
                    reply_chars: vec![],
                    attached: vec![],
                    then: "escalate to team billing".into(),
                },
            ),
            record(
                "2025-03-01T10:00:02.300Z",
                Decision::Escalation {
                    team: "billing".into(),
                    step: "joined".into(),
                    detail: Some("agent-101".into()),
                },
            ),
            record(
                "2025-03-01T10:00:02.400Z",
                Decision::Gws {
                    operation: "send_message".into(),
                    error: None,
                },
            ),
            record(
                "2025-03-01T10:00:02.500Z",
                Decision::Ended {
                    outcome: "handed_over".into(),
                    detail: Some("agent agent-101".into()),
                },
            ),
        ],
        files: vec![],
        unreadable: 0,
    };
    let story = render("c-1", &found);
    let expected = "\
Chat c-1 with customer Alex — 2025-03-01 (times in UTC)
  10:00:00.000  offered to the bot; the bot takes it
  10:00:00.100  accepted the chat
  10:00:02.000  customer wrote message 1 [e-17] (18 characters; text not recorded)
  10:00:02.010  rule \"refund\" matched message 1 [e-17]
                  bot says: \"Let me get billing.\"
                  then: escalate to team billing
  10:00:02.300  team billing: agent joined: agent-101
  10:00:02.500  chat ended: handed over to agent agent-101
";
    assert_eq!(story, expected);
}

/// Without customer text the story names the rules and the lengths of their replies.
#[test]
fn a_story_without_customer_data_names_rules_and_lengths() {
    let found = Found {
        records: vec![
            record(
                "2025-03-01T10:00:00.000Z",
                Decision::Offered { customer: None },
            ),
            record(
                "2025-03-01T10:00:00.010Z",
                Decision::Responded {
                    trigger: "accepted".into(),
                    responder: "rules".into(),
                    message_id: None,
                    rules: vec!["greeting".into()],
                    matched: false,
                    replies: vec![],
                    reply_chars: vec![27],
                    attached: vec![],
                    then: "stay".into(),
                },
            ),
        ],
        files: vec![],
        unreadable: 0,
    };
    let story = render("c-1", &found);
    let expected = "\
Chat c-1 — 2025-03-01 (times in UTC)
  10:00:00.000  offered to the bot; the bot takes it
  10:00:00.010  on accepting, rule \"greeting\" acted
                  bot says a reply of 27 characters (from the rule's template; text not recorded)
                  then: stays in the chat
";
    assert_eq!(story, expected);
}

fn said(turn: u32, id: Option<&str>, text: Option<&str>) -> Decision {
    Decision::CustomerSaid {
        turn,
        message_id: id.map(Into::into),
        chars: 5,
        text: text.map(Into::into),
    }
}

fn answered(id: Option<&str>, matched: bool) -> Decision {
    Decision::Responded {
        trigger: "message".into(),
        responder: "rules".into(),
        message_id: id.map(Into::into),
        rules: vec![if matched { "hours" } else { "rephrase" }.into()],
        matched,
        replies: vec![],
        reply_chars: vec![20],
        attached: vec![],
        then: "stay".into(),
    }
}

/// Every message and every answer names its transcript id, so that a second answer to one
/// message (here after a restart that saw it again) shows in the story; a silence names
/// its message too. Records from before ids were kept read as they did.
#[test]
fn answers_name_their_message_and_a_second_answer_stands_out() {
    let found = Found {
        records: vec![
            record(
                "2025-03-01T10:00:01.000Z",
                said(1, Some("e-3"), Some("hello")),
            ),
            record("2025-03-01T10:00:01.010Z", answered(Some("e-3"), false)),
            record("2025-03-01T10:00:02.000Z", said(2, Some("7"), None)),
            record(
                "2025-03-01T10:00:02.010Z",
                Decision::NoAnswer {
                    trigger: "message".into(),
                    responder: String::new(),
                    message_id: Some("7".into()),
                },
            ),
            record("2025-03-01T10:00:05.000Z", said(3, Some("e-3"), None)),
            record("2025-03-01T10:00:05.010Z", answered(Some("e-3"), false)),
            record("2025-03-01T10:00:06.000Z", answered(Some("e-9"), true)),
            record("2025-03-01T10:00:07.000Z", said(4, None, None)),
            record("2025-03-01T10:00:07.010Z", answered(None, true)),
        ],
        files: vec![],
        unreadable: 0,
    };
    let story = render("c-1", &found);
    let expected = "\
Chat c-1 — 2025-03-01 (times in UTC)
  10:00:01.000  customer wrote message 1 [e-3] (5 characters): \"hello\"
  10:00:01.010  no message rule matched message 1 [e-3]; \"rephrase\" answered
                  bot says a reply of 20 characters (from the rule's template; text not recorded)
                  then: stays in the chat
  10:00:02.000  customer wrote message 2 [7] (5 characters; text not recorded)
  10:00:02.010  no rule acted on message 2 [7]; the bot stayed silent
  10:00:05.000  customer wrote message 3 [e-3] (5 characters; text not recorded)
                  the same transcript entry as message 1: seen again
  10:00:05.010  no message rule matched message 3 [e-3]; \"rephrase\" answered
                  a second answer to message 3 [e-3]: it was answered at 10:00:01.010 already
                  bot says a reply of 20 characters (from the rule's template; text not recorded)
                  then: stays in the chat
  10:00:06.000  rule \"hours\" matched message [e-9]
                  bot says a reply of 20 characters (from the rule's template; text not recorded)
                  then: stays in the chat
  10:00:07.000  customer wrote message 4 (5 characters; text not recorded)
  10:00:07.010  rule \"hours\" matched the message
                  bot says a reply of 20 characters (from the rule's template; text not recorded)
                  then: stays in the chat
";
    assert_eq!(story, expected);
}

fn shadow(id: Option<&str>, rules: &[&str], agrees: bool) -> Decision {
    Decision::Shadow {
        trigger: if id.is_some() { "message" } else { "accepted" }.into(),
        message_id: id.map(Into::into),
        rules: rules.iter().map(|r| (*r).to_owned()).collect(),
        matched: !rules.is_empty(),
        replies: vec![],
        reply_chars: if rules.is_empty() { vec![] } else { vec![31] },
        then: if rules.is_empty() { "none" } else { "stay" }.into(),
        agrees,
    }
}

/// Each shadow record is told under the live decision about the same trigger, even when
/// other records came in between, and a disagreement stands out with what the shadow
/// would have done.
#[test]
fn shadow_decisions_are_told_under_the_live_ones() {
    let found = Found {
        records: vec![
            record(
                "2025-03-01T10:00:00.010Z",
                Decision::NoAnswer {
                    trigger: "accepted".into(),
                    responder: String::new(),
                    message_id: None,
                },
            ),
            record("2025-03-01T10:00:00.011Z", shadow(None, &[], true)),
            record("2025-03-01T10:00:01.000Z", said(1, Some("e-3"), None)),
            record("2025-03-01T10:00:01.010Z", answered(Some("e-3"), true)),
            record(
                "2025-03-01T10:00:01.020Z",
                Decision::Gws {
                    operation: "fetch".into(),
                    error: Some("HTTP 500".into()),
                },
            ),
            record(
                "2025-03-01T10:00:01.030Z",
                shadow(Some("e-3"), &["hours-v2"], false),
            ),
            record("2025-03-01T10:00:02.000Z", said(2, Some("e-5"), None)),
            record("2025-03-01T10:00:02.010Z", answered(Some("e-5"), false)),
            record("2025-03-01T10:00:02.011Z", shadow(Some("e-5"), &[], false)),
            record(
                "2025-03-01T10:00:03.000Z",
                shadow(Some("e-9"), &["x"], true),
            ),
        ],
        files: vec![],
        unreadable: 0,
    };
    let story = render("c-1", &found);
    let expected = "\
Chat c-1 — 2025-03-01 (times in UTC)
  10:00:00.010  no rule acted on accepting (no greeting)
                  shadow: agrees (no shadow rule would act either)
  10:00:01.000  customer wrote message 1 [e-3] (5 characters; text not recorded)
  10:00:01.010  rule \"hours\" matched message 1 [e-3]
                  bot says a reply of 20 characters (from the rule's template; text not recorded)
                  then: stays in the chat
                  shadow: DISAGREES: rule \"hours-v2\" would act
                    would say a reply of 31 characters (text not recorded)
                    then: would stay in the chat
  10:00:01.020  GWS refused fetch: HTTP 500
  10:00:02.000  customer wrote message 2 [e-5] (5 characters; text not recorded)
  10:00:02.010  no message rule matched message 2 [e-5]; \"rephrase\" answered
                  bot says a reply of 20 characters (from the rule's template; text not recorded)
                  then: stays in the chat
                  shadow: DISAGREES: no shadow rule would act
  10:00:03.000  shadow rules on message:
                  shadow: agrees (rule \"x\")
";
    assert_eq!(story, expected);
}

#[test]
fn an_unknown_chat_says_where_it_looked() {
    let dir = std::env::temp_dir().join(format!("gws-botd-ex-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = story(&dir, "nope").unwrap_err();
    assert!(err.contains("no decisions recorded for chat nope"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
    let err = story(&dir, "nope").unwrap_err();
    assert!(err.contains("cannot read the decision log"), "{err}");
}
