//! Hand-over: consultation → CompleteTransfer, skill fallback, and failure.

use gws_botd::config::EscalationTexts;
use gws_botd::sim::{ChatOutcome, Step};

use gws_botd::sim::SimDialect;

use crate::support::*;

async fn a_refund_goes_to_the_agent_who_joins(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let id = h.chat("Alex", vec![Step::AwaitReply, say(0, "I need a refund")]);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToAgent("agent-101".into()))
    );
    let texts = EscalationTexts::default();
    assert_eq!(
        h.bot_texts(&id)[1..],
        [
            "Let me get billing.".to_string(),
            texts.consulting,
            texts.connected
        ]
    );
    let ops = h.operations(&id);
    let tail: Vec<&str> = ops.iter().rev().take(2).rev().map(String::as_str).collect();
    assert_eq!(tail, ["SendMessage", h.wire("CompleteTransfer")], "{ops:?}");
    let consult = h.request(h.wire("StartChatConsultation"));
    match d {
        SimDialect::Interactions => assert_eq!(consult.body["agentId"], "agent-101"),
        SimDialect::Chats => {
            let agent = format!("{}/users/agent-101", h.config.gws.api_url);
            assert_eq!(consult.body["targetUri"], agent.as_str());
            assert_eq!(h.request("Transfer").body["targetUri"], agent.as_str());
        }
    }
    // The simulator records the outcome before the daemon's own bookkeeping finishes.
    wait_until("escalation counted", || {
        (h.stats.snapshot().escalations_ended.get("agent") == Some(&1)).then_some(())
    })
    .await;
}

async fn nobody_joins_so_the_chat_goes_to_the_skill(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let id = h.chat("Sam", vec![Step::AwaitReply, say(0, "I want to buy")]);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToSkill("Billing".into()))
    );
    let transfer = h.request("Transfer");
    let skill_field = match d {
        SimDialect::Interactions => "skill",
        SimDialect::Chats => "queueName",
    };
    assert_eq!(transfer.body[skill_field], "Billing");
    assert!(
        h.bot_texts(&id)
            .contains(&EscalationTexts::default().queued)
    );
}

async fn when_the_skill_transfer_fails_too_the_customer_is_told_and_the_chat_closed(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let id = h.chat("Max", vec![Step::AwaitReply, say(0, "I have a complaint")]);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    assert_eq!(
        h.bot_texts(&id).last(),
        Some(&EscalationTexts::default().failed)
    );
    // The chat's end is counted right after the close the simulator has already seen.
    let failed = wait_until("the failed escalation is counted", || {
        h.stats.snapshot().escalations_ended.get("failed").copied()
    })
    .await;
    assert_eq!(failed, 1);
}

async fn a_transfer_rule_goes_straight_to_the_skill(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let id = h.chat("Quinn", vec![Step::AwaitReply, say(0, "please queue me")]);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToSkill("Support".into()))
    );
}

/// GWS accepts the transfer, then reports in an `Error` notification (same `referenceId`) that
/// it failed: the failure is counted under the operation, and the bot takes the chat back and
/// hands it over again.
async fn a_transfer_that_fails_after_it_was_accepted_is_taken_back(d: SimDialect) {
    let h = Harness::start_in(d).await;
    h.control
        .fail_operation_async("Transfer", 1, "Queue Support is closed");
    let id = h.chat("Ash", vec![Step::AwaitReply, say(0, "please queue me")]);
    let chat = h.wait_outcome(&id).await;
    assert_eq!(
        chat.outcome,
        Some(ChatOutcome::TransferredToSkill("Support".into()))
    );
    assert_eq!(h.count("Transfer"), 2, "transferred again once taken back");
    let errors = h.stats.snapshot().gws_errors;
    assert_eq!(
        errors.get(&("transfer_skill".to_owned(), "async_error".to_owned())),
        Some(&1),
        "{errors:?}"
    );
}

async fn a_customer_leaving_during_the_wait_ends_the_escalation(d: SimDialect) {
    let h = Harness::start_in(d).await;
    let id = h.chat(
        "Lou",
        vec![
            Step::AwaitReply,
            say(0, "buy"),
            Step::Leave {
                after: std::time::Duration::from_millis(100),
            },
        ],
    );
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    assert!(!h.operations(&id).iter().any(|op| op == "Transfer"));
}

per_dialect!(
    a_transfer_that_fails_after_it_was_accepted_is_taken_back,
    a_refund_goes_to_the_agent_who_joins,
    nobody_joins_so_the_chat_goes_to_the_skill,
    when_the_skill_transfer_fails_too_the_customer_is_told_and_the_chat_closed,
    a_transfer_rule_goes_straight_to_the_skill,
    a_customer_leaving_during_the_wait_ends_the_escalation,
);
