use std::collections::HashSet;
use std::path::PathBuf;

use serde_json::json;

use super::*;
use crate::event::{ChatId, UserData};
use crate::responder::{Action, Line, Speaker, Then};

const RULES: &str = r#"
[team.billing]
agents = ["agent-101"]
skill = "Billing"
wait = "20s"

[[rule]]
name = "hi"
on = "accept"
reply = "Hello"
"#;

fn rules() -> RuleSet {
    RuleSet::from_sources(&[(PathBuf::from("rules/t.toml"), RULES.to_owned())])
        .unwrap_or_else(|e| panic!("{e}"))
}

fn act(outcome: Outcome) -> crate::responder::Response {
    match outcome {
        Outcome::Act(response) => response,
        Outcome::Pass => panic!("passed"),
    }
}

#[test]
fn rasa_items_are_carried_out_in_order() {
    let answer = json!([
        {"recipient_id": "c-1", "custom": {"typing": "1s"}},
        {"recipient_id": "c-1", "text": "Hello {customer}"},
        {"recipient_id": "c-1", "custom": {"attach": {"Intent": "billing"}}},
        {"recipient_id": "c-1", "text": "Passing you to billing."},
        {"recipient_id": "c-1", "custom": {"handover": "billing"}},
        {"recipient_id": "c-1", "image": "https://x/y.png"},
        {"recipient_id": "c-1", "custom": {"widget": "carousel"}},
    ]);
    let response = act(rasa::answer(answer, &rules()).unwrap());
    let mut data = UserData::new();
    data.insert("Intent".into(), json!("billing"));
    assert_eq!(
        response.actions,
        vec![
            Action::Typing(Duration::from_secs(1)),
            // Sent literally: no placeholder expansion.
            Action::Reply("Hello {customer}".into()),
            Action::Attach(data),
            Action::Reply("Passing you to billing.".into()),
        ]
    );
    assert!(matches!(&response.then, Then::Escalate(team) if team.name == "billing"));
    assert!(response.matched && response.acted.is_empty());
}

#[test]
fn rasa_ends_and_passes() {
    let rules = rules();
    assert_eq!(rasa::answer(json!([]), &rules).unwrap(), Outcome::Pass);
    let only_foreign = json!([{"recipient_id": "c", "custom": {"carousel": []}}]);
    assert_eq!(rasa::answer(only_foreign, &rules).unwrap(), Outcome::Pass);
    let close = act(rasa::answer(json!([{"custom": {"close": true}}]), &rules).unwrap());
    assert_eq!(close.then, Then::Close);
    let transfer = act(rasa::answer(json!([{"custom": {"transfer": "Sales"}}]), &rules).unwrap());
    assert_eq!(transfer.then, Then::Transfer("Sales".into()));
    for (bad, why) in [
        (json!({"text": "hi"}), "not a JSON array"),
        (json!(["hi"]), "not an object"),
        (json!([{"text": 3}]), "`text` is not a string"),
        (
            json!([{"custom": {"handover": "nobody"}}]),
            "team \"nobody\"",
        ),
        (
            json!([{"custom": {"handover": "billing", "clsoe": true}}]),
            "custom.clsoe: unknown",
        ),
        (
            json!([{"custom": {"close": true}}, {"custom": {"transfer": "Sales"}}]),
            "two different ends",
        ),
        (json!([{"custom": {"typing": "2h"}}]), "longer than"),
        (json!([{"custom": {"typing": "soon"}}]), "typing \"soon\""),
        (json!([{"custom": {"transfer": ""}}]), "not a skill name"),
    ] {
        let e = rasa::answer(bad.clone(), &rules).unwrap_err();
        assert!(format!("{e:#}").contains(why), "{bad}: {e:#}");
    }
}

fn view_parts() -> (ChatId, UserData, HashSet<String>, Vec<Line>) {
    let mut data = UserData::new();
    data.insert("Segment".into(), json!("gold"));
    let recent = vec![
        Line {
            from: Speaker::Bot,
            text: "Hello".into(),
        },
        Line {
            from: Speaker::Customer,
            text: "my invoice".into(),
        },
    ];
    (ChatId("c-7".into()), data, HashSet::new(), recent)
}

#[test]
fn requests_carry_the_chat_view() {
    let (id, data, fired, recent) = view_parts();
    let chat = ChatView {
        id: &id,
        message_id: Some("e-4"),
        recent: &recent,
        customer: Some("Kim"),
        bot: "Ava",
        user_data: &data,
        turn: 1,
        unanswered: 0,
        fired: &fired,
        awaiting: None,
        now: "2026-12-03T10:00:00Z".parse().unwrap(),
    };
    let message = Trigger::Message {
        text: "my invoice".into(),
    };
    assert_eq!(
        rasa::request(&chat, &message).unwrap(),
        json!({"sender": "c-7", "message": "my invoice", "metadata": {"Segment": "gold"}})
    );
    assert_eq!(rasa::request(&chat, &Trigger::Accepted), None);
    let native = native::request(&chat, &message);
    assert_eq!(native["version"], 1);
    assert_eq!(
        native["trigger"],
        json!({"type": "message", "text": "my invoice"})
    );
    assert_eq!(native["chat"]["message_id"], "e-4");
    assert_eq!(native["chat"]["user_data"]["Segment"], "gold");
    assert_eq!(
        native["chat"]["recent"],
        json!([{"from": "bot", "text": "Hello"}, {"from": "customer", "text": "my invoice"}])
    );
    let idle = native::request(
        &chat,
        &Trigger::Idle {
            silent: Duration::from_secs(90),
        },
    );
    assert_eq!(
        idle["trigger"],
        json!({"type": "idle", "silent_seconds": 90.0})
    );
}

#[test]
fn native_answers() {
    let rules = rules();
    let answer = json!({
        "version": 1,
        "actions": [{"typing": "500ms"}, {"reply": "Sure."}, {"attach": {"Topic": "invoice"}}],
        "then": {"escalate": "billing"},
        "awaiting": "invoice_number"
    });
    let response = act(native::answer(answer, &rules).unwrap());
    assert_eq!(response.actions.len(), 3);
    assert!(matches!(&response.then, Then::Escalate(t) if t.name == "billing"));
    assert_eq!(response.awaiting.as_deref(), Some("invoice_number"));
    let closed = act(native::answer(json!({"version": 1, "then": "close"}), &rules).unwrap());
    assert_eq!(closed.then, Then::Close);
    let pass = json!({"version": 1, "pass": true});
    assert_eq!(native::answer(pass, &rules).unwrap(), Outcome::Pass);
    for (bad, why) in [
        (json!({"version": 2, "pass": true}), "version 2"),
        (json!({"pass": true}), "missing field `version`"),
        (
            json!({"version": 1, "pass": true, "actions": [{"reply": "x"}]}),
            "both passes and acts",
        ),
        (
            json!({"version": 1, "actions": [{"shout": "x"}]}),
            "unknown variant `shout`",
        ),
        (
            json!({"version": 1, "then": {"escalate": "nobody"}}),
            "team \"nobody\"",
        ),
        (
            json!({"version": 1, "then": {"transfer": " "}}),
            "empty skill",
        ),
        (json!({"version": 1, "extra": 1}), "unknown field `extra`"),
    ] {
        let e = native::answer(bad.clone(), &rules).unwrap_err();
        assert!(format!("{e:#}").contains(why), "{bad}: {e:#}");
    }
}

#[test]
fn the_token_never_shows_and_the_query_is_not_logged() {
    let dir = std::env::temp_dir().join(format!("gws-botd-webhook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, "tok-SECRET-123\n").unwrap();
    let config = WebhookConfig {
        url: "http://127.0.0.1:9/hook?token=q-SECRET-9".into(),
        format: Format::Rasa,
        bearer_token_file: Some(path),
        idle: Vec::new(),
    };
    let hook = Webhook::new(&config, Arc::new(ArcSwap::from_pointee(rules()))).unwrap();
    let shown = format!("{hook:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("http://127.0.0.1:9/hook"), "{shown}");
    std::fs::remove_dir_all(&dir).ok();
}
