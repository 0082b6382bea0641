//! Every seed operation on the wire, sent by the real GWS client to the simulator, which
//! accepts each only in the right state.

use std::time::Duration;

use gws_botd::backoff::Backoff;
use gws_botd::cometd::{self, Notification};
use gws_botd::event::{ChatId, Event};
use gws_botd::gws::{self, Operation, Parsed, SessionOperation};
use gws_botd::sim::{ChatOutcome, ChatSpec, Sim};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::*;

struct Agent {
    client: gws::Client,
    notifications: mpsc::Receiver<Notification>,
    stop: CancellationToken,
}

impl Agent {
    async fn start(sim: &Sim) -> Agent {
        let config = sim_config();
        let user = &config.users[0];
        let client = gws::Client::new(gws::ClientConfig::new(
            sim.api_url(),
            gws::Credentials {
                username: user.username.clone(),
                password: secrecy::SecretString::from(user.password.clone()),
            },
        ))
        .unwrap();
        client.login().await.unwrap();
        let (tx, mut notifications) = mpsc::channel(256);
        let stop = CancellationToken::new();
        let cometd = cometd::Client::new(
            client.transport().clone(),
            client.notifications_url(),
            client.dialect().topics(),
            Backoff::new(Duration::from_millis(50), Duration::from_millis(200), 0.0),
        );
        tokio::spawn(cometd.run(tx, stop.clone()));
        loop {
            if let Some(Notification::Connected { .. }) = notifications.recv().await {
                break;
            }
        }
        client
            .session(&SessionOperation::StartContactCenterSession { place: None })
            .await
            .unwrap();
        client.session(&SessionOperation::Ready).await.unwrap();
        Agent {
            client,
            notifications,
            stop,
        }
    }

    /// The next chat event matching `pred`.
    async fn event(
        &mut self,
        what: &str,
        pred: impl Fn(&gws_botd::event::ChatUpdate) -> bool,
    ) -> gws_botd::event::ChatUpdate {
        let wait = async {
            loop {
                let Some(Notification::Message { channel, data }) = self.notifications.recv().await
                else {
                    continue;
                };
                if let Parsed::Event(Event::Chat(update)) =
                    self.client.dialect().parse_notification(&channel, &data)
                    && pred(&update)
                {
                    return update;
                }
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .unwrap_or_else(|_| panic!("no {what}"))
    }

    async fn offer(&mut self, sim: &Sim, customer: &str) -> ChatId {
        let id = sim.control().create_chat(ChatSpec {
            customer: customer.into(),
            user_data: serde_json::Map::new(),
            first_message: None,
            script: vec![],
        });
        let wanted = id.clone();
        self.event("offer", move |u| {
            u.id.0 == wanted && u.has_capability("Accept")
        })
        .await;
        ChatId(id)
    }

    async fn accepted(&mut self, sim: &Sim, customer: &str) -> ChatId {
        let id = self.offer(sim, customer).await;
        self.client
            .execute(
                &id,
                &Operation::Accept {
                    nickname: "Ava".into(),
                },
            )
            .await
            .unwrap();
        let wanted = id.clone();
        self.event("history", move |u| {
            u.id == wanted && u.kind == gws_botd::event::UpdateKind::ChatHistory
        })
        .await;
        id
    }
}

fn body_of(sim: &Sim, id: &ChatId, operation: &str) -> Value {
    sim.control()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(&format!("/me/interactions/{id}")))
        .find(|r| r.operation.as_deref() == Some(operation))
        .unwrap_or_else(|| panic!("no {operation} for {id}"))
        .body
}

#[tokio::test]
async fn every_seed_operation_reaches_the_simulator_in_its_documented_form() {
    let sim = Sim::start(sim_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut agent = Agent::start(&sim).await;
    let gws = agent.client.clone();

    // Reject an offer.
    let rejected = agent.offer(&sim, "R").await;
    gws.execute(&rejected, &Operation::Reject).await.unwrap();
    assert_eq!(
        body_of(&sim, &rejected, "Reject"),
        json!({"operationName": "Reject"})
    );
    assert_eq!(
        sim.control().chat(&rejected.0).unwrap().outcome,
        Some(ChatOutcome::Rejected)
    );

    // Accept, talk, type, attach data, read history, consult, complete the transfer.
    let a = agent.accepted(&sim, "A").await;
    assert_eq!(
        body_of(&sim, &a, "Accept"),
        json!({"operationName": "Accept", "nickname": "Ava"})
    );
    gws.execute(&a, &Operation::Typing(true)).await.unwrap();
    gws.execute(
        &a,
        &Operation::SendMessage {
            text: "hello".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        body_of(&sim, &a, "SendMessage"),
        json!({"operationName": "SendMessage", "text": "hello"})
    );
    let typing = body_of(&sim, &a, "SendNotification");
    assert_eq!(typing["notifcation"], "TypingStarted");
    let mut data = gws_botd::event::UserData::new();
    data.insert("Topic".into(), json!("refund"));
    gws.execute(&a, &Operation::UpdateUserData { user_data: data })
        .await
        .unwrap();
    assert_eq!(
        body_of(&sim, &a, "UpdateUserData")["userData"],
        json!({"Topic": "refund"})
    );
    gws.execute(
        &a,
        &Operation::RequestChatHistory {
            event_id: Some("e-1".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        body_of(&sim, &a, "RequestChatHistory"),
        json!({"operationName": "RequestChatHistory", "eventId": "e-1"})
    );
    let history = agent
        .event("history", |u| {
            u.kind == gws_botd::event::UpdateKind::ChatHistory
        })
        .await;
    assert!(
        history
            .messages
            .iter()
            .all(|m| m.event_id.as_deref() != Some("e-1")),
        "only entries after e-1"
    );
    // CompleteTransfer before anyone joined is refused by the referee.
    let early = gws
        .execute(
            &a,
            &Operation::CompleteTransfer {
                agent_id: "agent-101".into(),
            },
        )
        .await;
    assert!(
        matches!(early, Err(gws::Error::Status { code: 2, .. })),
        "{early:?}"
    );
    gws.execute(
        &a,
        &Operation::StartConsultation {
            agent_id: "agent-101".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        body_of(&sim, &a, "StartChatConsultation"),
        json!({"operationName": "StartChatConsultation", "agentId": "agent-101"})
    );
    let wanted = a.clone();
    agent
        .event("agent joined", move |u| {
            u.id == wanted
                && u.participants.as_ref().is_some_and(|p| {
                    p.iter()
                        .any(|p| p.participant_id.as_deref() == Some("agent-101"))
                })
        })
        .await;
    gws.execute(
        &a,
        &Operation::CompleteTransfer {
            agent_id: "agent-101".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        body_of(&sim, &a, "CompleteTransfer"),
        json!({"operationName": "CompleteTransfer"})
    );
    assert_eq!(
        sim.control().chat(&a.0).unwrap().outcome,
        Some(ChatOutcome::TransferredToAgent("agent-101".into()))
    );
    // Nothing more is accepted on a finished chat.
    assert!(
        gws.execute(
            &a,
            &Operation::SendMessage {
                text: "late".into()
            }
        )
        .await
        .is_err()
    );

    // Consultation turned into a conference (the seed's wire name).
    let b = agent.accepted(&sim, "B").await;
    gws.execute(
        &b,
        &Operation::StartConsultation {
            agent_id: "agent-101".into(),
        },
    )
    .await
    .unwrap();
    let wanted = b.clone();
    agent
        .event("agent joined", move |u| {
            u.id == wanted
                && u.participants.as_ref().is_some_and(|p| {
                    p.iter()
                        .any(|p| p.participant_id.as_deref() == Some("agent-101"))
                })
        })
        .await;
    gws.execute(
        &b,
        &Operation::CompleteConference {
            agent_id: "agent-101".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        body_of(&sim, &b, "LeaveChatConsultation"),
        json!({"operationName": "LeaveChatConsultation"})
    );
    assert_eq!(
        sim.control().chat(&b.0).unwrap().outcome,
        Some(ChatOutcome::Conference("agent-101".into()))
    );

    // Single-step transfers and finishing.
    let c = agent.accepted(&sim, "C").await;
    gws.execute(
        &c,
        &Operation::TransferToAgent {
            agent_id: "agent-201".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        body_of(&sim, &c, "Transfer"),
        json!({"operationName": "Transfer", "agentId": "agent-201"})
    );
    let d = agent.accepted(&sim, "D").await;
    gws.execute(
        &d,
        &Operation::TransferToSkill {
            skill: "Billing".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        body_of(&sim, &d, "Transfer"),
        json!({"operationName": "Transfer", "skill": "Billing"})
    );
    let e = agent.accepted(&sim, "E").await;
    gws.execute(&e, &Operation::StopProcessing).await.unwrap();
    assert_eq!(
        body_of(&sim, &e, "StopProcessing"),
        json!({"operationName": "StopProcessing"})
    );
    assert_eq!(
        sim.control().chat(&e.0).unwrap().outcome,
        Some(ChatOutcome::ClosedByBot)
    );

    // Listing the agent's chats.
    let f = agent.accepted(&sim, "F").await;
    let listed = gws.list_chats().await.unwrap();
    assert!(listed.iter().any(|u| u.id == f), "{listed:?}");

    gws.session(&SessionOperation::NotReady).await.unwrap();
    agent.stop.cancel();
    gws.session(&SessionOperation::EndContactCenterSession)
        .await
        .unwrap();
    // The one deliberate mistake above is the only one the referee saw.
    let violations = sim.control().violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].starts_with("SendMessage on completed"),
        "{violations:?}"
    );
}
