//! Rules that ask and await the answer, in the running daemon: the awaited answer goes to the
//! `when.awaiting` rule first, `{match.NAME}` repeats what the customer wrote, and what the
//! bot awaits survives a restart of the daemon.

use gws_botd::sim::{ChatOutcome, SimDialect};

use crate::support::*;

const RULES: &str = r#"
[[rule]]
name = "greeting"
on = "accept"
reply = "Hi {customer}!"

[[rule]]
name = "ask"
on = "message"
match.keywords = ["where is my order"]
reply = "What is your order number?"
await = "order-number"

[[rule]]
name = "order-number"
on = "message"
when.awaiting = "order-number"
match.regex = '(?P<order>\d{5,})'
reply = "Looking up order {match.order}."

[[rule]]
name = "number"
on = "message"
match.regex = '\d+'
reply = "That's a number."

[[rule]]
name = "bye"
on = "message"
match.keywords = ["bye"]
reply = "Goodbye!"
then = "close"
"#;

async fn wait_texts(h: &Harness, id: &str, n: usize) {
    h.wait_chat(id, &format!("{n} bot texts"), |c| {
        texts_from(c, "Agent").len() >= n
    })
    .await;
}

async fn the_awaited_answer_goes_first_and_only_once(d: SimDialect) {
    let h = Harness::start_with(sim_config_in(d), RULES, |_| {}).await;
    let id = h.chat("Kim", vec![]);
    wait_texts(&h, &id, 1).await;
    for (n, said) in [(2, "where is my order?"), (3, "it's 4455667"), (4, "12345")] {
        h.control.customer_says(&id, said).unwrap();
        wait_texts(&h, &id, n).await;
    }
    h.control.customer_says(&id, "bye").unwrap();
    let chat = h.wait_outcome(&id).await;
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByBot));
    assert_eq!(
        h.bot_texts(&id),
        [
            "Hi Kim!",
            "What is your order number?",
            "Looking up order 4455667.",
            "That's a number.",
            "Goodbye!",
        ]
    );
}

/// The daemon is killed after asking; the answer arrives while it is down. The restarted
/// daemon still knows what it asked for.
async fn what_the_bot_awaits_survives_a_restart(d: SimDialect) {
    let mut h = Harness::start_with(sim_config_in(d), RULES, |_| {}).await;
    let id = h.chat("Kim", vec![]);
    wait_texts(&h, &id, 1).await;
    h.control.customer_says(&id, "where is my order").unwrap();
    wait_texts(&h, &id, 2).await;
    h.kill().await;
    h.control.customer_says(&id, "4455667").unwrap();
    h.restart();
    wait_texts(&h, &id, 3).await;
    h.control.customer_says(&id, "bye").unwrap();
    h.wait_outcome(&id).await;
    assert_eq!(
        h.bot_texts(&id),
        [
            "Hi Kim!",
            "What is your order number?",
            "Looking up order 4455667.",
            "Goodbye!",
        ]
    );
}

per_dialect!(
    the_awaited_answer_goes_first_and_only_once,
    what_the_bot_awaits_survives_a_restart
);
