//! The daemon against every reading of the protocol the simulator can produce where the notes
//! allow more than one (`docs/gws-protocol.md` §13; `gws_botd::sim::Readings`): `eventId`
//! forms, where history starts, the `ChatHistory` push after Accept, how a customer's leaving is
//! announced, capability order, the older flat `interactions` layout, the seed's reply forms and
//! the state of the bot's copy after a hand-over.
//!
//! Each reading runs one [`journey`] through what it touches: a greeting and an answer, the
//! customer leaving, a hand-over to a consulted agent, and a restart with a message written while
//! the daemon was away (the catch-up by cursor). Readings that exist in one dialect only run
//! there; the others run in both, and every switch at once closes the list.

use gws_botd::config::EscalationTexts;
use gws_botd::sim::{
    CapabilityOrder, ChatOutcome, EventIds, HandedOverState, HistoryStart, Layout, Notices,
    Readings, SimDialect, StatusForm,
};

use crate::support::*;

const RULES: &str = r#"
[team.desk]
agents = ["agent-101"]
skill = "Billing"
wait = "60s"

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
name = "hours"
on = "message"
match.keywords = ["when are you open"]
reply = "We're open 8 to 18."

[[rule]]
name = "fallback"
on = "no_match"
reply = "Sorry?"
"#;

/// Wait until the chat has `n` bot texts.
async fn bot_says(h: &Harness, id: &str, n: usize) {
    h.wait_chat(id, &format!("{n} bot texts"), |c| {
        texts_from(c, "Agent")
            .iter()
            .filter(|(nick, _)| nick == &h.config.bot.nickname)
            .count()
            >= n
    })
    .await;
}

/// Greeted, answered, then the customer leaves: the bot's part ends on purpose.
async fn answered_then_left(h: &Harness) {
    let id = h.chat("Ann", vec![]);
    bot_says(h, &id, 1).await;
    h.control.customer_says(&id, "when are you open?").unwrap();
    bot_says(h, &id, 2).await;
    h.control.customer_leaves(&id).unwrap();
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    assert_eq!(h.bot_texts(&id), ["Hi Ann!", "We're open 8 to 18."]);
}

/// A consulted agent joins and gets the chat.
async fn handed_over(h: &Harness) {
    let id = h.chat("Bo", vec![]);
    bot_says(h, &id, 1).await;
    h.control.customer_says(&id, "I want a refund").unwrap();
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToAgent("agent-101".into()))
    );
    assert_eq!(h.count(h.wire("StartChatConsultation")), 1);
    let texts = EscalationTexts::default();
    assert_eq!(
        h.bot_texts(&id),
        [
            "Hi Bo!".to_string(),
            "Let me get a colleague.".into(),
            texts.consulting,
            texts.connected
        ]
    );
}

/// The customer writes while the daemon is away: after the restart it is answered, once.
async fn caught_up_after_a_restart(h: &mut Harness) {
    let id = h.chat("Cy", vec![]);
    bot_says(h, &id, 1).await;
    h.control.customer_says(&id, "something odd").unwrap();
    bot_says(h, &id, 2).await;
    h.kill().await;
    h.control.customer_says(&id, "when are you open?").unwrap();
    h.restart();
    bot_says(h, &id, 3).await;
    // One more turn after the catch-up: nothing earlier is answered again.
    h.control.customer_says(&id, "refund please").unwrap();
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToAgent("agent-101".into()))
    );
    let texts = EscalationTexts::default();
    assert_eq!(
        h.bot_texts(&id),
        [
            "Hi Cy!".to_string(),
            "Sorry?".into(),
            "We're open 8 to 18.".into(),
            "Let me get a colleague.".into(),
            texts.consulting,
            texts.connected
        ]
    );
}

/// The whole journey against the simulator in `d` producing `readings`.
async fn journey(d: SimDialect, readings: Readings) {
    let mut sim = sim_config_in(d);
    sim.readings = readings.clone();
    let mut h = Harness::start_with(sim, RULES, |_| {}).await;
    answered_then_left(&h).await;
    handed_over(&h).await;
    caught_up_after_a_restart(&mut h).await;
    in_effect(&h, &readings);
    // Every accepted chat ended on purpose, and the daemon never broke the protocol.
    wait_until("three chats ended", || {
        let ended = h.stats.snapshot().chats_ended;
        (ended.values().sum::<u64>() == 3).then_some(ended)
    })
    .await;
    let violations = h.control.violations();
    assert!(violations.is_empty(), "{readings:?}: {violations:?}");
}

/// The readings the journey ran under are the ones asked for, where the wire shows them: a
/// switch the simulator ignored would make the test prove nothing.
fn in_effect(h: &Harness, readings: &Readings) {
    let deliveries = h.control.deliveries();
    let of = |kind: &str| -> Vec<(std::time::Duration, String)> {
        let needle = format!("\"{kind}\"");
        deliveries
            .iter()
            .map(|d| (d.at, d.data.to_string()))
            .filter(|(_, data)| data.contains(&needle))
            .collect()
    };
    if h.dialect == SimDialect::Interactions {
        let flat = readings.layout == Layout::Flat;
        let states = of("InteractionStateMessage");
        assert!(!states.is_empty());
        for (_, data) in &states {
            assert_eq!(data.contains("\"messageTypeName\""), flat, "{data}");
        }
        let sequential = readings.event_ids == EventIds::Sequential;
        assert_eq!(
            !of("e-1").is_empty(),
            sequential,
            "{:?}",
            readings.event_ids
        );
        // Before the daemon first asked for history, a ChatHistory came only as the push.
        let asked = h
            .history_requests()
            .first()
            .map(|r| r.at)
            .unwrap_or_default();
        let pushed = of("ChatHistory").iter().any(|(at, _)| *at < asked);
        assert_eq!(pushed, readings.history_after_accept, "ChatHistory pushed");
    }
    // The catch-up after the restart asked for history from a cursor it had seen.
    assert!(
        h.history_requests().iter().any(|r| r.http_status == 200),
        "{:?}",
        h.history_requests()
    );
    if readings.status_form == StatusForm::Seed {
        let consult = h.request(h.wire("StartChatConsultation"));
        assert_eq!(consult.status_code, Some(0), "{consult:?}");
    }
}

fn with(change: impl FnOnce(&mut Readings)) -> Readings {
    let mut readings = Readings::default();
    change(&mut readings);
    readings
}

async fn the_notes_own_readings(d: SimDialect) {
    journey(d, Readings::default()).await
}

async fn customer_leaving_announced_participants_first(d: SimDialect) {
    journey(d, with(|r| r.customer_leaves = Notices::ParticipantsFirst)).await
}

async fn customer_leaving_announced_by_the_participants_only(d: SimDialect) {
    journey(d, with(|r| r.customer_leaves = Notices::ParticipantsOnly)).await
}

async fn customer_leaving_announced_by_an_entry_only(d: SimDialect) {
    journey(d, with(|r| r.customer_leaves = Notices::EntryOnly)).await
}

async fn capabilities_in_another_order(d: SimDialect) {
    journey(d, with(|r| r.capabilities = CapabilityOrder::Reversed)).await
}

async fn the_seeds_reply_forms(d: SimDialect) {
    journey(d, with(|r| r.status_form = StatusForm::Seed)).await
}

async fn revoked_after_a_hand_over(d: SimDialect) {
    journey(d, with(|r| r.handed_over = HandedOverState::Revoked)).await
}

/// Every switch away from the notes' reading at once (those of the other dialect are ignored
/// by the simulator).
async fn every_other_reading_at_once(d: SimDialect) {
    let readings = Readings {
        event_ids: EventIds::Opaque,
        history_start: HistoryStart::From,
        history_after_accept: false,
        customer_leaves: Notices::ParticipantsOnly,
        capabilities: CapabilityOrder::Reversed,
        layout: Layout::Flat,
        status_form: StatusForm::Seed,
        handed_over: HandedOverState::Revoked,
    };
    journey(d, readings).await
}

per_dialect!(
    the_notes_own_readings,
    customer_leaving_announced_participants_first,
    customer_leaving_announced_by_the_participants_only,
    customer_leaving_announced_by_an_entry_only,
    capabilities_in_another_order,
    the_seeds_reply_forms,
    revoked_after_a_hand_over,
    every_other_reading_at_once,
);

/// Readings of the `interactions` dialect alone.
mod interactions_only {
    use super::*;

    #[tokio::test]
    async fn opaque_event_ids() {
        let readings = with(|r| r.event_ids = EventIds::Opaque);
        journey(SimDialect::Interactions, readings).await
    }

    #[tokio::test]
    async fn history_from_the_cursor_inclusive() {
        let readings = with(|r| r.history_start = HistoryStart::From);
        journey(SimDialect::Interactions, readings).await
    }

    #[tokio::test]
    async fn no_chat_history_pushed_after_accept() {
        let readings = with(|r| r.history_after_accept = false);
        journey(SimDialect::Interactions, readings).await
    }

    #[tokio::test]
    async fn the_older_flat_layout() {
        let readings = with(|r| r.layout = Layout::Flat);
        journey(SimDialect::Interactions, readings).await
    }
}
