//! Tests of whole rule sets: evaluation semantics, the shipped `rules/` directory and the
//! responder. Load problems are tested in `tests_problems`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::*;
use crate::event::{ChatId, UserData};
use crate::responder::Action;

/// Load one file called `rules/t.toml`, which must be valid.
pub(super) fn set(text: &str) -> RuleSet {
    RuleSet::from_sources(&[(PathBuf::from("rules/t.toml"), text.to_owned())])
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A chat state to evaluate against.
struct Chat {
    id: ChatId,
    customer: Option<&'static str>,
    user_data: UserData,
    turn: u32,
    unanswered: u32,
    fired: HashSet<String>,
    now: jiff::Timestamp,
}

impl Chat {
    fn new() -> Self {
        Chat {
            id: ChatId::from("chat-1"),
            customer: Some("Kim"),
            user_data: UserData::new(),
            turn: 1,
            unanswered: 0,
            fired: HashSet::new(),
            now: "2026-11-24T10:00:00+01:00".parse().unwrap(),
        }
    }

    fn view(&self) -> ChatView<'_> {
        ChatView {
            id: &self.id,
            message_id: None,
            recent: &[],
            customer: self.customer,
            bot: "Ava",
            user_data: &self.user_data,
            turn: self.turn,
            unanswered: self.unanswered,
            fired: &self.fired,
            awaiting: None,
            now: self.now,
        }
    }

    fn say(&self, rules: &RuleSet, text: &str) -> Outcome {
        rules.evaluate(&self.view(), &Trigger::Message { text: text.into() })
    }
}

fn acted(outcome: &Outcome) -> Vec<&str> {
    match outcome {
        Outcome::Pass => Vec::new(),
        Outcome::Act(response) => response.acted.iter().map(String::as_str).collect(),
    }
}

fn response(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Act(response) => response,
        Outcome::Pass => panic!("expected the rules to act"),
    }
}

const BASIC: &str = r#"
[team.billing]
agents = ["agent-101"]

[[rule]]
name = "tag-vip"
on = "message"
match.keywords = ["vip"]
attach = { Segment = "VIP" }
continue = true

[[rule]]
name = "hours"
on = "message"
match.keywords = ["open"]
reply = "We open at 8."

[[rule]]
name = "hours-again"
on = "message"
match.keywords = ["open", "hours"]
reply = "Still 8."

[[rule]]
name = "angry"
on = "message"
match.regex = '(?i)\bangry\b'
typing = "500ms"
reply = ["Sorry, {customer}.", "Subject: {user_data.Subject}"]
then = { escalate = "billing" }

[[rule]]
name = "promo"
on = "message"
match.keywords = ["promo"]
once = true
reply = "10% off!"

[[rule]]
name = "rephrase"
on = "no_match"
when.unanswered = { max = 1 }
reply = "Sorry?"

[[rule]]
name = "hand-over"
on = "no_match"
reply = "Getting a colleague."
then = { transfer = "General" }
"#;

#[test]
fn first_matching_rule_wins() {
    let rules = set(BASIC);
    let chat = Chat::new();
    assert_eq!(acted(&chat.say(&rules, "Are you open?")), ["hours"]);
    assert_eq!(acted(&chat.say(&rules, "opening hours")), ["hours-again"]);
    let r = response(chat.say(&rules, "open"));
    assert_eq!(r.actions, [Action::Reply("We open at 8.".into())]);
    assert!(r.matched);
    assert_eq!(r.then, Then::Stay);
}

#[test]
fn continue_lets_the_search_go_on() {
    let rules = set(BASIC);
    let r = response(Chat::new().say(&rules, "VIP here, are you open?"));
    assert_eq!(r.acted, ["tag-vip", "hours"]);
    let segment = UserData::from([("Segment".to_owned(), "VIP".into())]);
    assert_eq!(
        r.actions,
        [
            Action::Attach(segment),
            Action::Reply("We open at 8.".into())
        ]
    );
    // A `continue` rule alone still counts as a match: no `no_match` rule acts.
    let alone = response(Chat::new().say(&rules, "vip"));
    assert_eq!(alone.acted, ["tag-vip"]);
    assert!(alone.matched);
}

#[test]
fn once_rules_act_once_per_chat() {
    let rules = set(BASIC);
    let mut chat = Chat::new();
    assert_eq!(acted(&chat.say(&rules, "promo?")), ["promo"]);
    chat.fired.insert("promo".into());
    assert_eq!(acted(&chat.say(&rules, "promo?")), ["rephrase"]);
}

#[test]
fn no_match_rules_count_the_current_message_as_unanswered() {
    let rules = set(BASIC);
    let mut chat = Chat::new();
    let first = response(chat.say(&rules, "hello"));
    assert_eq!(first.acted, ["rephrase"]);
    assert!(!first.matched);
    chat.unanswered = 1;
    let second = response(chat.say(&rules, "hello again"));
    assert_eq!(second.acted, ["hand-over"]);
    assert_eq!(second.then, Then::Transfer("General".into()));
}

#[test]
fn turn_bounds_and_user_data_conditions_must_hold() {
    let rules = set(r#"
[[rule]]
name = "early"
on = "message"
match.keywords = ["hi"]
when.turn = { min = 2, max = 3 }
when.user_data = { Lang = "de", Subject = { regex = "^Inv" } }
reply = "Hallo"
"#);
    let mut chat = Chat::new();
    chat.user_data.insert("Lang".into(), "de".into());
    chat.user_data.insert("Subject".into(), "Invoice".into());
    assert_eq!(chat.say(&rules, "hi"), Outcome::Pass, "turn 1 is below min");
    chat.turn = 2;
    assert_eq!(acted(&chat.say(&rules, "hi")), ["early"]);
    chat.turn = 4;
    assert_eq!(chat.say(&rules, "hi"), Outcome::Pass, "turn 4 is above max");
    chat.turn = 3;
    chat.user_data.insert("Subject".into(), "Order".into());
    assert_eq!(
        chat.say(&rules, "hi"),
        Outcome::Pass,
        "regex condition fails"
    );
}

#[test]
fn keywords_are_whole_word_and_accent_insensitive() {
    let rules = set(r#"
[[rule]]
name = "cafe"
on = "message"
match.keywords = ["Café crème", "open"]
reply = "Yes"
"#);
    let chat = Chat::new();
    assert_eq!(acted(&chat.say(&rules, "un CAFE CREME, svp")), ["cafe"]);
    assert_eq!(acted(&chat.say(&rules, "Are you OPEN?")), ["cafe"]);
    assert_eq!(chat.say(&rules, "opening hours"), Outcome::Pass);
    assert_eq!(chat.say(&rules, "cafés"), Outcome::Pass);
}

#[test]
fn a_conference_team_keeps_its_mode_and_resume() {
    let rules = set(
        "[team.desk]\nagents = [\"a-1\"]\nmode = \"conference\"\nresume = true\n\
         [[rule]]\nname = \"r\"\non = \"accept\"\nthen = { escalate = \"desk\" }\n",
    );
    let desk = rules.team("desk").unwrap();
    assert_eq!(desk.mode, crate::responder::TeamMode::Conference);
    assert!(desk.resume);
}

#[test]
fn placeholders_typing_and_escalation_build_the_response() {
    let rules = set(BASIC);
    let mut chat = Chat::new();
    chat.user_data.insert("Subject".into(), "Invoice".into());
    let r = response(chat.say(&rules, "I am ANGRY"));
    assert_eq!(
        r.actions,
        [
            Action::Typing(Duration::from_millis(500)),
            Action::Reply("Sorry, Kim.".into()),
            Action::Reply("Subject: Invoice".into()),
        ]
    );
    let billing = rules.team("billing").unwrap().clone();
    assert_eq!(billing.mode, crate::responder::TeamMode::Transfer);
    assert!(!billing.resume);
    assert_eq!(r.then, Then::Escalate(billing));
    chat.customer = None;
    chat.user_data.clear();
    let r = response(chat.say(&rules, "angry"));
    assert_eq!(
        r.actions[1..],
        [
            Action::Reply("Sorry.".into()),
            Action::Reply("Subject: ".into())
        ]
    );
}

#[test]
fn last_non_stay_then_wins_and_nothing_acting_passes() {
    let rules = set(r#"
[[rule]]
name = "a"
on = "accept"
then = "close"
continue = true
[[rule]]
name = "b"
on = "accept"
reply = "Hi"
"#);
    let chat = Chat::new();
    let r = response(rules.evaluate(&chat.view(), &Trigger::Accepted));
    assert_eq!(r.acted, ["a", "b"]);
    assert_eq!(r.then, Then::Close);
    assert!(!r.matched);
    assert_eq!(chat.say(&rules, "anything"), Outcome::Pass);
}

#[test]
fn shipped_rules_load_and_behave() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules");
    let rules =
        RuleSet::load_dir(&dir).unwrap_or_else(|e| panic!("shipped rules do not load:\n{e}"));
    assert_eq!(
        rules.summary().to_string(),
        "4 files, 17 rules, 3 teams, 1 schedule, 13 tests passed"
    );
    let orders = rules.team("orders").unwrap();
    assert_eq!(
        (orders.mode, orders.resume),
        (crate::responder::TeamMode::Conference, true)
    );
    let billing = rules.team("billing").unwrap();
    assert_eq!(billing.agents, ["agent-101", "agent-102"]);
    assert_eq!(
        (billing.skill.as_deref(), billing.wait),
        (Some("Billing"), Duration::from_secs(20))
    );

    let mut chat = Chat::new();
    chat.customer = None;
    let greeting = response(rules.evaluate(&chat.view(), &Trigger::Accepted));
    assert_eq!(greeting.acted, ["greeting"]);
    assert_eq!(
        greeting.actions,
        [
            Action::Typing(Duration::from_secs(1)),
            Action::Reply("Hi there, I'm Ava, the virtual assistant. How can I help?".into())
        ]
    );
    assert_eq!(acted(&chat.say(&rules, "hello")), ["rephrase"]);
    chat.unanswered = 1;
    let refund = response(chat.say(&rules, "I want my money back"));
    assert_eq!(refund.acted, ["refund"]);
    assert_eq!(refund.then, Then::Escalate(billing.clone()));
    assert_eq!(acted(&chat.say(&rules, "nothing fits")), ["hand-over"]);
    assert_eq!(response(chat.say(&rules, "thanks, bye")).then, Then::Close);
}

#[tokio::test]
async fn responder_uses_the_current_set() {
    let shared = Arc::new(ArcSwap::from_pointee(set(BASIC)));
    let responder = RulesResponder::new(shared.clone());
    assert_eq!(responder.name(), "rules");
    let chat = Chat::new();
    let open = Trigger::Message {
        text: "open?".into(),
    };
    let outcome = responder.respond(&chat.view(), &open).await.unwrap();
    assert_eq!(acted(&outcome), ["hours"]);
    shared.store(Arc::new(set(
        "[[rule]]\nname = \"other\"\non = \"message\"\nmatch.keywords = [\"open\"]\n",
    )));
    let outcome = responder.respond(&chat.view(), &open).await.unwrap();
    assert_eq!(acted(&outcome), ["other"]);
}

#[test]
fn summary_counts_and_pluralises() {
    let summary = set("[[rule]]\nname = \"a\"\non = \"accept\"\n").summary();
    assert_eq!(
        summary,
        Summary {
            files: 1,
            rules: 1,
            teams: 0,
            schedules: 0,
            tests: 0,
            tested: true,
        }
    );
    assert_eq!(
        summary.to_string(),
        "1 file, 1 rule, 0 teams, 0 schedules, 0 tests passed"
    );
}
