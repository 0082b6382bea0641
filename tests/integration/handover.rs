//! Hand-overs as real servers show them: opaque participant ids, participants described with or
//! without the user they are (`minimal` / `named`), joins announced in any order, the bot listed
//! among the agents, agents who were not consulted looking in — and the conference mode.
//!
//! Each test runs per dialect × participant form (`per_reading!`). A team that waits a minute
//! makes a join the daemon fails to notice fail the test (every wait here gives up after
//! [`WAIT`]), without asserting on wall-clock time.

use std::time::Duration;

use gws_botd::config::EscalationTexts;
use gws_botd::sim::{
    ChatOutcome, ChatSnapshot, JoinNotices, ParticipantForm, SimAgent, SimConfig, SimDialect,
};

use crate::support::*;

const RULES: &str = r#"
[team.desk]
agents = ["agent-101"]
skill = "Billing"
wait = "60s"

[team.silent]
agents = ["agent-201"]
skill = "Billing"
wait = "400ms"

[team.orders]
agents = ["agent-101"]
skill = "Billing"
wait = "60s"
mode = "conference"
resume = true

[team.orders-once]
agents = ["agent-101"]
skill = "Billing"
wait = "60s"
mode = "conference"

[[rule]]
name = "greeting"
on = "accept"
reply = "Hi {customer}!"

[[rule]]
name = "refund"
on = "message"
match.keywords = ["refund"]
reply = "Let me get a colleague."
then = { escalate = "desk" }

[[rule]]
name = "nobody"
on = "message"
match.keywords = ["complaint"]
reply = "Let me get a colleague."
then = { escalate = "silent" }

[[rule]]
name = "order"
on = "message"
match.keywords = ["where is my order"]
reply = "Let me ask the orders desk."
then = { escalate = "orders" }

[[rule]]
name = "order-once"
on = "message"
match.keywords = ["parcel"]
reply = "Let me ask the orders desk."
then = { escalate = "orders-once" }

[[rule]]
name = "hours"
on = "message"
match.keywords = ["when are you open"]
reply = "We're open 8 to 18."

[[rule]]
name = "fallback"
on = "no_match"
reply = "Sorry?"
"#;

/// The simulator in `d` describing participants in `form`; agent-101 joins after `join_ms`.
fn sim(d: SimDialect, form: ParticipantForm, join_ms: u64) -> SimConfig {
    let mut config = sim_config_in(d);
    config.participants = form;
    config.agents = vec![
        SimAgent {
            id: "agent-101".into(),
            nickname: "Sam".into(),
            join_after: Some(Duration::from_millis(join_ms)),
        },
        SimAgent {
            id: "agent-201".into(),
            nickname: "Lee".into(),
            join_after: None,
        },
        SimAgent {
            id: "agent-901".into(),
            nickname: "Sue".into(),
            join_after: None,
        },
    ];
    config
}

async fn start(d: SimDialect, form: ParticipantForm, join_ms: u64) -> Harness {
    Harness::start_with(sim(d, form, join_ms), RULES, |_| {}).await
}

/// A chat with Pat, greeted.
async fn greeted(h: &Harness) -> String {
    let id = h.chat("Pat", vec![]);
    h.wait_chat(&id, "greeting", |c| !h.bot_texts_in(c).is_empty())
        .await;
    id
}

/// When (since the simulator started) the join of `nickname` was delivered to the bot.
fn joined_at(h: &Harness, nickname: &str) -> Option<Duration> {
    h.control
        .deliveries()
        .into_iter()
        .find(|d| d.data.to_string().contains(&format!("\"{nickname}\"")))
        .map(|d| d.at)
}

async fn a_consulted_agent_who_joins_gets_the_chat(d: SimDialect, form: ParticipantForm) {
    let h = start(d, form, 200).await;
    let id = greeted(&h).await;
    h.control.customer_says(&id, "I want a refund").unwrap();
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToAgent("agent-101".into()))
    );
    // Exactly one consultation, and the hand-over names the consulted user.
    assert_eq!(h.count(h.wire("StartChatConsultation")), 1);
    let done = h.request(h.wire("CompleteTransfer"));
    if d == SimDialect::Chats {
        let agent = format!("{}/users/agent-101", h.config.gws.api_url);
        assert_eq!(done.body["targetUri"], agent.as_str());
    }
    let joined = joined_at(&h, "Sam").expect("the join was delivered");
    eprintln!(
        "{d} {form:?}: join delivered → {} sent in {:?}",
        h.wire("CompleteTransfer"),
        done.at.saturating_sub(joined)
    );
    let texts = EscalationTexts::default();
    assert_eq!(
        h.bot_texts(&id),
        [
            "Hi Pat!".to_string(),
            "Let me get a colleague.".into(),
            texts.consulting,
            texts.connected
        ]
    );
}

async fn an_agent_who_was_not_consulted_changes_nothing(d: SimDialect, form: ParticipantForm) {
    let h = start(d, form, 1500).await;
    let id = greeted(&h).await;
    // A supervisor looking in before the hand-over began never counts.
    h.control.agent_joins(&id, "agent-901").unwrap();
    h.control.customer_says(&id, "I want a refund").unwrap();
    h.wait_for_request("consultation", |r| {
        r.operation.as_deref() == Some(h.wire("StartChatConsultation"))
    })
    .await;
    // Another agent who was not consulted joins during the consultation.
    h.control.agent_joins(&id, "agent-201").unwrap();
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToAgent("agent-101".into()))
    );
    assert_eq!(h.count(h.wire("StartChatConsultation")), 1);
    if form == ParticipantForm::Named {
        // Users are named: nothing is tried before the consulted agent is there.
        let joined = joined_at(&h, "Sam").expect("the join was delivered");
        let early: Vec<_> = h
            .control
            .requests()
            .into_iter()
            .filter(|r| r.operation.as_deref() == Some(h.wire("CompleteTransfer")))
            .filter(|r| r.at < joined)
            .collect();
        assert!(early.is_empty(), "{early:?}");
        assert_eq!(h.count(h.wire("CompleteTransfer")), 1);
    }
    assert!(
        h.control.violations().is_empty(),
        "{:?}",
        h.control.violations()
    );
}

async fn the_bots_own_participant_never_counts(d: SimDialect, form: ParticipantForm) {
    let h = start(d, form, 200).await;
    let id = greeted(&h).await;
    // The bot is listed as an agent; the consulted agent never joins.
    let listed = h.control.chat(&id).unwrap();
    assert!(listed.owner.is_some());
    h.control.customer_says(&id, "I have a complaint").unwrap();
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToSkill("Billing".into()))
    );
    assert_eq!(
        h.count(h.wire("CompleteTransfer")) - skill_transfers(&h, d),
        0
    );
}

/// `Transfer` to a queue counts as `CompleteTransfer`'s wire name in `chats`.
fn skill_transfers(h: &Harness, d: SimDialect) -> usize {
    match d {
        SimDialect::Interactions => 0,
        SimDialect::Chats => h
            .control
            .requests()
            .iter()
            .filter(|r| {
                r.operation.as_deref() == Some("Transfer") && r.body.get("queueName").is_some()
            })
            .count(),
    }
}

async fn every_join_notice_order_is_understood(d: SimDialect, form: ParticipantForm) {
    for notices in [
        JoinNotices::ParticipantsFirst,
        JoinNotices::EntryFirst,
        JoinNotices::ParticipantsOnly,
        JoinNotices::EntryOnly,
    ] {
        let mut config = sim(d, form, 200);
        config.join_notices = notices;
        let h = Harness::start_with(config, RULES, |_| {}).await;
        let id = greeted(&h).await;
        h.control.customer_says(&id, "I want a refund").unwrap();
        let chat = h.wait_outcome(&id).await;
        assert_eq!(
            chat.outcome,
            Some(ChatOutcome::TransferredToAgent("agent-101".into())),
            "{notices:?}"
        );
        assert_eq!(h.count(h.wire("StartChatConsultation")), 1, "{notices:?}");
    }
}

/// Bot texts of a snapshot (the human agent writes as an `Agent` too).
trait BotTexts {
    fn bot_texts_in(&self, chat: &ChatSnapshot) -> Vec<String>;
}

impl BotTexts for Harness {
    fn bot_texts_in(&self, chat: &ChatSnapshot) -> Vec<String> {
        texts_from(chat, "Agent")
            .into_iter()
            .filter(|(nick, _)| nick == &self.config.bot.nickname)
            .map(|(_, t)| t)
            .collect()
    }
}

/// Wait until the chat has `n` bot texts.
async fn bot_says(h: &Harness, id: &str, n: usize) {
    h.wait_chat(id, &format!("{n} bot texts"), |c| {
        h.bot_texts_in(c).len() >= n
    })
    .await;
}

/// Into a conference with agent-101 (Sam); returns the chat id.
async fn conferenced(h: &Harness, ask: &str) -> String {
    let id = greeted(h).await;
    h.control.customer_says(&id, ask).unwrap();
    h.wait_chat(&id, "the conference", |c| c.conference.is_some())
        .await;
    id
}

async fn a_conference_keeps_the_bot_silent_and_resumes_after_the_agent(
    d: SimDialect,
    form: ParticipantForm,
) {
    let h = start(d, form, 200).await;
    let id = conferenced(&h, "where is my order").await;
    let snapshot = h.control.chat(&id).unwrap();
    assert_eq!(snapshot.conference.as_deref(), Some("agent-101"));
    assert_eq!(snapshot.outcome, None, "the bot is still in the chat");
    match d {
        SimDialect::Interactions => {
            // The seed's CompleteConference body.
            let done = h.request("LeaveChatConsultation");
            assert_eq!(
                done.body,
                serde_json::json!({"operationName": "LeaveChatConsultation"})
            );
        }
        SimDialect::Chats => {
            let agent = format!("{}/users/agent-101", h.config.gws.api_url);
            assert_eq!(h.request("Invite").body["targetUri"], agent.as_str());
            // The agent got a hand-over summary only agents see.
            let note = h.request("SendCustomNoticeToAgents");
            let text = note.body["noticeText"].as_str().unwrap();
            assert!(
                text.contains("Pat") && text.contains("team orders"),
                "{text}"
            );
        }
    }
    // The agent and the customer talk; the bot says nothing, not even to a question it knows.
    h.control
        .agent_says(&id, "agent-101", "Hi Pat, Sam here.")
        .unwrap();
    h.control.customer_says(&id, "when are you open").unwrap();
    h.control
        .agent_says(&id, "agent-101", "We open at 8.")
        .unwrap();
    h.control.agent_leaves(&id, "agent-101").unwrap();
    // With `resume = true` the bot answers again, but only what is said after.
    h.control.customer_says(&id, "when are you open").unwrap();
    bot_says(&h, &id, 5).await;
    h.control.customer_leaves(&id).unwrap();
    let chat = h.wait_outcome(&id).await;
    let texts = EscalationTexts::default();
    assert_eq!(
        h.bot_texts_in(&chat),
        [
            "Hi Pat!".to_string(),
            "Let me ask the orders desk.".into(),
            texts.consulting,
            texts.connected,
            "We're open 8 to 18.".into(),
        ]
    );
    assert!(
        h.control.violations().is_empty(),
        "{:?}",
        h.control.violations()
    );
}

async fn a_conference_without_resume_closes_politely_after_the_agent(
    d: SimDialect,
    form: ParticipantForm,
) {
    let h = start(d, form, 200).await;
    let id = conferenced(&h, "my parcel").await;
    h.control.customer_says(&id, "thanks").unwrap();
    h.control.agent_leaves(&id, "agent-101").unwrap();
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::Conference("agent-101".into()))
    );
    let texts = EscalationTexts::default();
    assert_eq!(h.bot_texts_in(&chat).last(), Some(&texts.conference_ended));
    assert_eq!(
        h.bot_texts_in(&chat).len(),
        5,
        "{:?}",
        h.bot_texts_in(&chat)
    );
}

async fn a_conference_finished_by_others_ends_the_bots_part(d: SimDialect, form: ParticipantForm) {
    let h = start(d, form, 200).await;
    let id = conferenced(&h, "where is my order").await;
    let before = h.operations(&id).len();
    h.control.close_chat(&id).unwrap();
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::Conference("agent-101".into()))
    );
    // Nothing is said after the conference.
    assert_eq!(h.bot_texts_in(&chat).len(), 4);
    wait_until("the chat's end is counted", || {
        (h.stats.snapshot().escalations_ended.get("conference") == Some(&1)).then_some(())
    })
    .await;
    let after: Vec<String> = h.operations(&id)[before..].to_vec();
    assert!(!after.iter().any(|op| op == "SendMessage"), "{after:?}");
}

async fn a_hand_over_cut_by_a_restart_after_the_join_is_finished(
    d: SimDialect,
    form: ParticipantForm,
) {
    let mut h = start(d, form, 800).await;
    let id = greeted(&h).await;
    h.control.customer_says(&id, "I want a refund").unwrap();
    h.wait_for_request("consultation", |r| {
        r.operation.as_deref() == Some(h.wire("StartChatConsultation"))
    })
    .await;
    h.kill().await;
    // The agent joins while the bot is away; a colleague who was not consulted looks in too.
    h.wait_chat(&id, "the agent joined", |c| {
        c.agents_present.iter().any(|a| a == "agent-101")
    })
    .await;
    h.control.agent_joins(&id, "agent-201").unwrap();
    h.restart();
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToAgent("agent-101".into()))
    );
    assert_eq!(h.count(h.wire("StartChatConsultation")), 1);
    // Nothing the customer was told is told again.
    let texts = EscalationTexts::default();
    assert_eq!(
        h.bot_texts(&id),
        [
            "Hi Pat!".to_string(),
            "Let me get a colleague.".into(),
            texts.consulting,
            texts.connected
        ]
    );
}

/// The bot's texts of a conference with the orders desk that resumed and answered once more.
fn resumed_texts() -> Vec<String> {
    let texts = EscalationTexts::default();
    vec![
        "Hi Pat!".to_string(),
        "Let me ask the orders desk.".into(),
        texts.consulting,
        texts.connected,
        "We're open 8 to 18.".into(),
    ]
}

/// The bot answered once more after the conference; then the customer leaves and the bot's
/// part ends as a conference's.
async fn resumed_and_answered(h: &Harness, id: &str) {
    bot_says(h, id, 5).await;
    h.control.customer_leaves(id).unwrap();
    let chat = h.wait_outcome(id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::Conference("agent-101".into()))
    );
    assert_eq!(h.bot_texts_in(&chat), resumed_texts());
}

/// After a restart, once the daemon has caught up with the chats it adopted.
async fn restarted_and_caught_up(h: &mut Harness) {
    let asked = h.history_requests().len();
    h.restart();
    wait_until("the restarted daemon asks for history", || {
        (h.history_requests().len() > asked).then_some(())
    })
    .await;
}

async fn a_conference_cut_by_a_restart_stays_silent_until_the_agent_leaves(
    d: SimDialect,
    form: ParticipantForm,
) {
    let mut h = start(d, form, 200).await;
    let id = conferenced(&h, "where is my order").await;
    h.kill().await;
    // The agent and the customer talk while the bot is away.
    h.control
        .agent_says(&id, "agent-101", "Hi Pat, Sam here.")
        .unwrap();
    h.control.customer_says(&id, "when are you open").unwrap();
    restarted_and_caught_up(&mut h).await;
    // Still in the conference: what the customer says to the agent is not the bot's to answer.
    h.control.customer_says(&id, "when are you open?").unwrap();
    h.control
        .agent_says(&id, "agent-101", "We open at 8.")
        .unwrap();
    h.control.agent_leaves(&id, "agent-101").unwrap();
    h.control.customer_says(&id, "when are you open").unwrap();
    resumed_and_answered(&h, &id).await;
    assert_eq!(h.count(h.wire("StartChatConsultation")), 1);
    // One conference: a request repeated after the restart, if the kill came between the
    // conference and its saved mark, is refused and taken as the proof it was made.
    let conferences = h
        .control
        .requests()
        .into_iter()
        .filter(|r| r.operation.as_deref() == Some(h.wire("LeaveChatConsultation")))
        .filter(|r| r.status_code == Some(0))
        .count();
    assert_eq!(conferences, 1);
    assert!(
        h.control.violations().is_empty(),
        "{:?}",
        h.control.violations()
    );
}

async fn a_conference_made_just_before_a_crash_is_recognised_after_the_restart(
    d: SimDialect,
    form: ParticipantForm,
) {
    let mut h = start(d, form, 200).await;
    let op = h.wire("LeaveChatConsultation");
    // The conference is made at once, but its answer comes too late: the daemon dies first.
    h.control.slow_reply(op, 1, Duration::from_secs(30));
    let id = greeted(&h).await;
    h.control.customer_says(&id, "where is my order").unwrap();
    h.wait_chat(&id, "the conference", |c| c.conference.is_some())
        .await;
    h.kill().await;
    restarted_and_caught_up(&mut h).await;
    // Back, the bot finds the consultation gone (a repeated request is refused), takes that as
    // the conference it made, and stays silent while the agent is there.
    h.wait_for_request("the repeated conference request", |r| {
        r.operation.as_deref() == Some(op) && r.status_code.is_some_and(|c| c != 0)
    })
    .await;
    h.control.customer_says(&id, "when are you open?").unwrap();
    h.control.agent_leaves(&id, "agent-101").unwrap();
    h.control.customer_says(&id, "when are you open").unwrap();
    resumed_and_answered(&h, &id).await;
    // No second consultation, and never a skill transfer behind the agent's back.
    assert_eq!(h.count(h.wire("StartChatConsultation")), 1);
    assert_eq!(h.count(h.wire("CompleteTransfer")), 0);
}

async fn a_conference_whose_agent_left_while_the_bot_was_away_resumes_after_a_restart(
    d: SimDialect,
    form: ParticipantForm,
) {
    let mut h = start(d, form, 200).await;
    let id = conferenced(&h, "where is my order").await;
    h.kill().await;
    h.control.customer_says(&id, "when are you open").unwrap();
    h.control
        .agent_says(&id, "agent-101", "We open at 8. Bye!")
        .unwrap();
    h.control.agent_leaves(&id, "agent-101").unwrap();
    // Written after the agent left: the bot, back with `resume = true`, answers it.
    h.control.customer_says(&id, "when are you open?").unwrap();
    h.restart();
    resumed_and_answered(&h, &id).await;
    assert!(
        h.control.violations().is_empty(),
        "{:?}",
        h.control.violations()
    );
}

per_reading!(
    a_consulted_agent_who_joins_gets_the_chat,
    an_agent_who_was_not_consulted_changes_nothing,
    the_bots_own_participant_never_counts,
    every_join_notice_order_is_understood,
    a_conference_keeps_the_bot_silent_and_resumes_after_the_agent,
    a_conference_without_resume_closes_politely_after_the_agent,
    a_conference_finished_by_others_ends_the_bots_part,
    a_hand_over_cut_by_a_restart_after_the_join_is_finished,
    a_conference_cut_by_a_restart_stays_silent_until_the_agent_leaves,
    a_conference_whose_agent_left_while_the_bot_was_away_resumes_after_a_restart,
    a_conference_made_just_before_a_crash_is_recognised_after_the_restart,
);
