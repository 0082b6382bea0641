//! Only rules that certainly never act are reported.

use std::path::PathBuf;

use super::super::super::RuleSet;

fn set(text: &str) -> RuleSet {
    RuleSet::from_sources(&[(PathBuf::from("rules/10.toml"), text.to_owned())])
        .unwrap_or_else(|p| panic!("{p}"))
}

fn never(text: &str) -> Vec<(String, &'static str)> {
    set(text)
        .never_act()
        .into_iter()
        .map(|n| (n.name, n.on))
        .collect()
}

const ORDER: &str = r#"
[[rule]]
name = "greeting"
on = "accept"
reply = "Hi"

[[rule]]
name = "ask-order"
on = "message"
match.keywords = ["order"]
reply = "Your order number?"
await = "order-number"

[[rule]]
name = "order-number"
on = "message"
when.awaiting = "order-number"
match.regex = '\d+'
reply = "Thanks"

[[rule]]
name = "rephrase"
on = "no_match"
reply = "Sorry?"
"#;

#[test]
fn a_sound_set_has_none() {
    assert_eq!(never(ORDER), []);
    let names: Vec<_> = set(ORDER).rule_names().into_iter().map(|r| r.on).collect();
    assert_eq!(names, ["accept", "message", "message", "no_match"]);
}

#[test]
fn a_catch_all_hides_later_message_rules_no_match_and_their_topics() {
    let text = ORDER.replacen(
        "[[rule]]\nname = \"ask-order\"",
        "[[rule]]\nname = \"anything\"\non = \"message\"\nmatch.regex = '.*'\nreply = \"Hm\"\n\n[[rule]]\nname = \"ask-order\"",
        1,
    );
    assert_eq!(
        never(&text),
        [
            ("ask-order".to_owned(), "message"),
            ("rephrase".to_owned(), "no_match"),
            // Awaiting rules are tried before the catch-all, but nothing asks for its topic.
            ("order-number".to_owned(), "message"),
        ]
    );
    let why = set(&text).never_act()[0].why.clone();
    assert!(why.contains("\"anything\" matches every message"), "{why}");
}

#[test]
fn a_catch_all_that_may_not_act_hides_nothing() {
    for catch_all in [
        "match.regex = '.*'\nwhen.turn = { min = 2 }",
        "match.regex = '.*'\nonce = true",
        "match.regex = '.*'\ncontinue = true",
        "match.regex = '^'",
        "match.regex = '.+'",
    ] {
        let text = ORDER.replacen(
            "[[rule]]\nname = \"ask-order\"",
            &format!(
                "[[rule]]\nname = \"anything\"\non = \"message\"\n{catch_all}\nreply = \"Hm\"\n\n[[rule]]\nname = \"ask-order\""
            ),
            1,
        );
        assert_eq!(never(&text), [], "{catch_all}");
    }
}

#[test]
fn a_regex_that_matches_nothing_never_acts() {
    let text = ORDER.replace(r"match.regex = '\d+'", r"match.regex = '[^\s\S]'");
    assert_eq!(never(&text), [("order-number".to_owned(), "message")]);
}

#[test]
fn counters_no_message_can_have_never_act() {
    let text = ORDER
        .replace(
            "name = \"rephrase\"\non = \"no_match\"",
            "name = \"rephrase\"\non = \"no_match\"\nwhen.unanswered = { max = 0 }",
        )
        .replace(
            "name = \"ask-order\"\non = \"message\"",
            "name = \"ask-order\"\non = \"message\"\nwhen.turn = { max = 0 }",
        );
    assert_eq!(
        never(&text),
        [
            ("ask-order".to_owned(), "message"),
            ("rephrase".to_owned(), "no_match"),
            ("order-number".to_owned(), "message"),
        ]
    );
    // Turn 1 and one unanswered message are possible.
    let text = text.replace("max = 0", "max = 1");
    assert_eq!(never(&text), []);
}

/// The rules reported never act in simulated chats: every message of a small corpus, said in
/// turn in one chat and each at the start of its own.
#[test]
fn reported_rules_never_act_in_conversations() {
    use std::collections::HashSet;

    use super::super::super::conversation::{Conversation, Line};

    let text = ORDER
        .replacen(
            "[[rule]]\nname = \"ask-order\"",
            "[[rule]]\nname = \"anything\"\non = \"message\"\nmatch.regex = '(?s).*'\nreply = \"Hm\"\n\n[[rule]]\nname = \"ask-order\"",
            1,
        )
        .replace("\\d+'", "[^\\s\\S]'");
    let rules = set(&text);
    let never: HashSet<String> = rules.never_act().into_iter().map(|n| n.name).collect();
    assert_eq!(never.len(), 3, "{never:?}");
    let corpus = [
        "",
        " ",
        "order",
        "refund 123",
        "héllo\nworld",
        "42",
        "ORDER 7",
    ];
    let mut acted = HashSet::new();
    let mut chat = |lines: &[&str]| {
        let mut c = Conversation::new(&rules, jiff::Timestamp::UNIX_EPOCH, Default::default());
        acted.extend(c.accept().acted);
        for line in lines {
            acted.extend(c.line(&Line::Say((*line).to_owned())).acted);
        }
    };
    chat(&corpus);
    for line in corpus {
        chat(&[line]);
    }
    assert!(acted.contains("anything"), "{acted:?}");
    assert!(acted.is_disjoint(&never), "{acted:?} ∩ {never:?}");
}
