//! Every operation on the wire, sent by the real GWS client to the simulator, which accepts
//! each only in the right state: once for the seed's `interactions` dialect, once for `chats`.

use std::time::Duration;

use gws_botd::backoff::Backoff;
use gws_botd::cometd::{self, Notification};
use gws_botd::event::{ChatId, Event};
use gws_botd::gws::Capability;
use gws_botd::gws::{self, Operation, Parsed, SessionOperation};
use gws_botd::sim::{ChatOutcome, ChatSpec, Sim, SimDialect};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::*;

struct Agent {
    client: gws::Client,
    notifications: mpsc::Receiver<Notification>,
    /// Transcripts the client reads itself (`chats`).
    transcripts: mpsc::Receiver<Event>,
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
        let (transcripts_tx, transcripts) = mpsc::channel(16);
        client.deliver_transcripts_to(transcripts_tx);
        let (tx, mut notifications) = mpsc::channel(256);
        let stop = CancellationToken::new();
        let cometd = cometd::Client::new(
            client.transport().clone(),
            client.notifications_url(),
            client.dialect().topics(),
            Backoff::new(Duration::from_millis(50), Duration::from_millis(200), 0.0),
        );
        tokio::spawn(cometd.run(tx, stop.clone()));
        let connected = async {
            loop {
                match notifications.recv().await {
                    Some(Notification::Connected { .. }) => break,
                    Some(_) => {}
                    None => panic!("the CometD client stopped before connecting"),
                }
            }
        };
        tokio::time::timeout(WAIT, connected)
            .await
            .expect("CometD connects in time");
        client
            .session(&SessionOperation::StartContactCenterSession { place: None })
            .await
            .unwrap();
        client.session(&SessionOperation::Ready).await.unwrap();
        Agent {
            client,
            notifications,
            transcripts,
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
                let event = tokio::select! {
                    Some(event) = self.transcripts.recv() => event,
                    Some(n) = self.notifications.recv() => match n {
                        Notification::Message { channel, data } => {
                            match self.client.dialect().parse_notification(&channel, &data) {
                                Parsed::Event(event) => event,
                                _ => continue,
                            }
                        }
                        _ => continue,
                    },
                };
                if let Event::Chat(update) = event
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
            u.id.0 == wanted && u.has_capability(Capability::Accept)
        })
        .await;
        ChatId(id)
    }

    /// Wait until the agent shown as `nickname` has joined chat `id` (its participantId is
    /// opaque: docs/gws-protocol.md §12).
    async fn joined(&mut self, id: &ChatId, nickname: &str) {
        let (wanted, nickname) = (id.clone(), nickname.to_owned());
        self.event("agent joined", move |u| {
            u.id == wanted
                && u.participants.as_ref().is_some_and(|p| {
                    p.iter()
                        .any(|p| p.nickname.as_deref() == Some(nickname.as_str()))
                })
        })
        .await;
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
    let path = format!("/me/{}/{id}", sim.dialect());
    sim.control()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(&path))
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
                && u.participants
                    .as_ref()
                    .is_some_and(|p| p.iter().any(|p| p.nickname.as_deref() == Some("Sam")))
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
                && u.participants
                    .as_ref()
                    .is_some_and(|p| p.iter().any(|p| p.nickname.as_deref() == Some("Sam")))
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
    let conferenced = sim.control().chat(&b.0).unwrap();
    assert_eq!(
        (conferenced.outcome, conferenced.conference),
        (None, Some("agent-101".into())),
        "a conference keeps the bot in"
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

#[tokio::test]
async fn every_chats_operation_reaches_the_simulator_in_its_documented_form() {
    let sim = Sim::start(
        sim_config_in(SimDialect::Chats),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let mut agent = Agent::start(&sim).await;
    assert_eq!(agent.client.dialect(), gws::Dialect::Chats, "auto found it");
    let gws = agent.client.clone();
    let user = |id: &str| format!("{}/users/{id}", sim.api_url());

    let rejected = agent.offer(&sim, "R").await;
    gws.execute(&rejected, &Operation::Reject).await.unwrap();
    assert_eq!(
        sim.control().chat(&rejected.0).unwrap().outcome,
        Some(ChatOutcome::Rejected)
    );

    // Accept (the transcript is read, not pushed), talk, type, attach data, read history.
    let a = agent.accepted(&sim, "A").await;
    assert_eq!(
        body_of(&sim, &a, "Accept"),
        json!({"operationName": "Accept", "nickname": "Ava"})
    );
    gws.execute(&a, &Operation::Typing(true)).await.unwrap();
    gws.execute(&a, &Operation::Typing(false)).await.unwrap();
    gws.execute(
        &a,
        &Operation::SendMessage {
            text: "hello".into(),
        },
    )
    .await
    .unwrap();
    for name in ["SendStartTypingNotification", "SendStopTypingNotification"] {
        assert_eq!(body_of(&sim, &a, name), json!({ "operationName": name }));
    }
    let mut data = gws_botd::event::UserData::new();
    data.insert("Topic".into(), json!("refund"));
    gws.execute(&a, &Operation::UpdateUserData { user_data: data })
        .await
        .unwrap();
    assert_eq!(
        body_of(&sim, &a, "UpdateUserData")["userData"],
        json!({"Topic": "refund"})
    );
    let transcript = sim.control().chat(&a.0).unwrap().transcript;
    let first: u64 = transcript[0].event_id.parse().unwrap();
    gws.execute(
        &a,
        &Operation::RequestChatHistory {
            event_id: Some(first.to_string()),
        },
    )
    .await
    .unwrap();
    let history = agent
        .event("history", |u| {
            u.kind == gws_botd::event::UpdateKind::ChatHistory
        })
        .await;
    assert!(!history.messages.is_empty());
    assert!(
        history.messages.iter().all(|m| m
            .event_id
            .as_deref()
            .and_then(|i| i.parse::<u64>().ok())
            .is_some_and(|i| i > first)),
        "only entries after the cursor: {:?}",
        history.messages
    );

    // Consult, then turn it into a transfer (Transfer to the consulted agent).
    gws.execute(
        &a,
        &Operation::StartConsultation {
            agent_id: "agent-101".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        body_of(&sim, &a, "Consult"),
        json!({"operationName": "Consult", "targetUri": user("agent-101")})
    );
    agent.joined(&a, "Sam").await;
    gws.execute(
        &a,
        &Operation::CompleteTransfer {
            agent_id: "agent-101".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        sim.control().chat(&a.0).unwrap().outcome,
        Some(ChatOutcome::TransferredToAgent("agent-101".into()))
    );

    // Consult, then a conference (Invite).
    let b = agent.accepted(&sim, "B").await;
    gws.execute(
        &b,
        &Operation::StartConsultation {
            agent_id: "agent-101".into(),
        },
    )
    .await
    .unwrap();
    agent.joined(&b, "Sam").await;
    gws.execute(
        &b,
        &Operation::CompleteConference {
            agent_id: "agent-101".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        body_of(&sim, &b, "Invite"),
        json!({"operationName": "Invite", "targetUri": user("agent-101")})
    );
    let conferenced = sim.control().chat(&b.0).unwrap();
    assert_eq!(
        (conferenced.outcome, conferenced.conference),
        (None, Some("agent-101".into())),
        "a conference keeps the bot in"
    );

    // Single-step transfers, and finishing: Leave, then Complete.
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
        json!({"operationName": "Transfer", "targetUri": user("agent-201")})
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
        json!({"operationName": "Transfer", "queueName": "Billing"})
    );
    let e = agent.accepted(&sim, "E").await;
    gws.execute(&e, &Operation::StopProcessing).await.unwrap();
    let ops: Vec<_> = sim
        .control()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(&format!("/me/chats/{e}")))
        .filter_map(|r| r.operation)
        .collect();
    assert_eq!(ops, ["Accept", "Leave", "Complete"]);
    assert_eq!(
        sim.control().chat(&e.0).unwrap().outcome,
        Some(ChatOutcome::ClosedByBot)
    );

    let f = agent.accepted(&sim, "F").await;
    let listed = gws.list_chats().await.unwrap();
    assert!(listed.iter().any(|u| u.id == f), "{listed:?}");
    assert!(
        sim.control().violations().is_empty(),
        "{:?}",
        sim.control().violations()
    );
    gws.session(&SessionOperation::NotReady).await.unwrap();
    agent.stop.cancel();
}
