//! Customer scripts against a bot that answers at once.

use std::time::Duration;

use super::*;
use crate::sim::customer::spawn_effects;
use crate::sim::ops;

/// A customer script counts from where the chat stood at Accept, not from when its task
/// first runs: a bot that greets before the task runs (a loaded machine) does not leave the
/// customer waiting for a second answer. (Chaos seed 2 kept such a chat silent until the
/// shutdown handed it over.)
#[tokio::test]
async fn a_script_counts_the_answers_from_the_accept() {
    let sim = start(SimConfig::default()).await;
    let mut bot = Bot::login(&sim).await;
    bot.go_ready().await;
    let id = sim.control().create_chat(ChatSpec {
        customer: "Pat".into(),
        script: vec![
            Step::AwaitReply,
            Step::Say {
                after: Duration::ZERO,
                text: "hello".into(),
            },
        ],
        ..ChatSpec::default()
    });
    // Accept and greet in one go, before the script's task is started.
    let effects = {
        let mut st = sim.shared.lock();
        let op = |name: &str, extra: (&str, &str)| {
            let mut body = serde_json::Map::new();
            body.insert("operationName".into(), json!(name));
            body.insert(extra.0.into(), json!(extra.1));
            body
        };
        let accept = ops::operate(&mut st, USER, &id, &op("Accept", ("nickname", "Botty")));
        assert_eq!(accept.status_code, 0, "{:?}", accept.message);
        let greet = ops::operate(&mut st, USER, &id, &op("SendMessage", ("text", "Hi")));
        assert_eq!(greet.status_code, 0, "{:?}", greet.message);
        accept.effects
    };
    spawn_effects(&sim.shared, effects);
    let control = sim.control();
    let said = tokio::time::timeout(
        Duration::from_secs(10),
        control.wait_for(|c| {
            c.chat(&id)?
                .transcript
                .iter()
                .any(|e| e.from_type == "Customer" && e.text.as_deref() == Some("hello"))
                .then_some(())
        }),
    )
    .await;
    assert!(said.is_ok(), "the customer never spoke after the greeting");
}
