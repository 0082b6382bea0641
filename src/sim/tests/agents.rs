//! Participants and human agents, in both dialects: opaque and stable `participantId`s, the
//! `minimal` and `named` forms on the wire, each join-notice order, and the control calls for
//! human agents (also over `/sim`). The helpers here serve `conference` too.

use super::*;

/// Both dialects, for tests that must hold in each.
pub(super) const DIALECTS: [SimDialect; 2] = [SimDialect::Interactions, SimDialect::Chats];

pub(super) fn config(dialect: SimDialect) -> SimConfig {
    SimConfig {
        dialect,
        ..SimConfig::default()
    }
}

/// A logged-in, Ready bot with an accepted chat; returns the bot, the chat id and the
/// notifications up to the bot's own joining.
pub(super) async fn live(sim: &Sim, spec: ChatSpec) -> (Bot, String, Vec<Value>) {
    let mut bot = Bot::login(sim).await;
    bot.go_ready().await;
    let (id, notes) = match sim.dialect() {
        SimDialect::Interactions => bot.accept_new(sim, spec).await,
        SimDialect::Chats => bot.accept_chat(sim, spec).await,
    };
    (bot, id, notes)
}

/// An operation in either dialect: its `statusCode`.
pub(super) async fn op_any(bot: &Bot, sim: &Sim, id: &str, body: Value) -> i64 {
    match sim.dialect() {
        SimDialect::Interactions => bot.op(id, body).await,
        SimDialect::Chats => bot.cop(id, body).await,
    }
}

/// Consults `agent` and turns it into a conference once they joined.
pub(super) async fn conference(bot: &Bot, sim: &Sim, id: &str, agent: &str) {
    let (consult, complete) = match sim.dialect() {
        SimDialect::Interactions => (
            json!({"operationName":"StartChatConsultation","agentId":agent}),
            json!({"operationName":"CompleteConference"}),
        ),
        SimDialect::Chats => {
            let uri = agent_uri(sim, agent);
            (
                json!({"operationName":"Consult","targetUri":uri}),
                json!({"operationName":"Invite","targetUri":uri}),
            )
        }
    };
    assert_eq!(op_any(bot, sim, id, consult).await, 0);
    bot.until("ParticipantsUpdated").await;
    assert_eq!(op_any(bot, sim, id, complete).await, 0);
}

/// The chat object of a chat notification in either dialect.
pub(super) fn chat_of(d: &Value) -> &Value {
    if d["interaction"].is_object() {
        &d["interaction"]
    } else {
        &d["chat"]
    }
}

/// The participants of the last participants update among `notes`.
pub(super) fn last_participants(notes: &[Value]) -> Vec<Value> {
    notes
        .iter()
        .rev()
        .find(|d| d["notificationType"] == "ParticipantsUpdated")
        .and_then(|d| chat_of(d)["participants"].as_array().cloned())
        .expect("a participants update")
}

/// `P` for a participants update, `E:<type>` for each new entry, in order.
pub(super) fn shape(notes: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for d in notes {
        match d["notificationType"].as_str() {
            Some("ParticipantsUpdated") => out.push("P".to_owned()),
            Some("NewMessages") => {
                for m in d["messages"].as_array().into_iter().flatten() {
                    out.push(format!("E:{}", m["type"].as_str().unwrap_or("?")));
                }
            }
            _ => {}
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn participant_ids_are_opaque_distinct_and_stable() {
    for dialect in DIALECTS {
        let sim = start(config(dialect)).await;
        let control = sim.control();
        let spec = ChatSpec {
            customer: "Pat".into(),
            first_message: Some("hello".into()),
            ..ChatSpec::default()
        };
        let (bot, id, notes) = live(&sim, spec).await;
        control.customer_says(&id, "anyone?").unwrap();
        let body = json!({"operationName":"SendMessage","text":"Hi"});
        assert_eq!(op_any(&bot, &sim, &id, body).await, 0);
        control.agent_joins(&id, "agent-201").unwrap();
        let mut all = notes;
        all.extend(bot.until("ParticipantsUpdated").await);
        let people = last_participants(&all);
        let pid = |nick: &str| {
            people
                .iter()
                .find(|p| p["nickname"] == nick)
                .and_then(|p| p["participantId"].as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("{dialect}: no {nick} in {people:?}"))
        };
        let (pat, botty, lee) = (pid("Pat"), pid("Botty"), pid("Lee"));
        for p in [&pat, &botty, &lee] {
            assert!(is_opaque(p), "{dialect}: {p}");
            assert!(!p.contains("bot01") && !p.contains("agent"), "{p}");
        }
        assert!(pat != botty && botty != lee && pat != lee);
        for p in &people {
            assert_eq!(p.as_object().unwrap().len(), 3, "minimal form: {p}");
        }
        let chat = control.chat(&id).unwrap();
        for e in &chat.transcript {
            let expected = match e.nickname.as_str() {
                "Pat" => &pat,
                "Botty" => &botty,
                "Lee" => &lee,
                other => panic!("{other}"),
            };
            assert_eq!(&e.participant_id, expected, "{dialect}: {e:?}");
        }
        assert!(
            chat.transcript
                .iter()
                .filter(|e| e.nickname == "Pat")
                .count()
                >= 3
        );
        let wire_from: Vec<Value> = all
            .iter()
            .flat_map(|d| d["messages"].as_array().cloned().unwrap_or_default())
            .map(|m| m["from"].clone())
            .collect();
        assert!(wire_from.iter().any(|f| f["participantId"] == *botty));
        assert!(wire_from.iter().all(|f| f.get("uri").is_none()));
        assert!(
            control.violations().is_empty(),
            "{:?}",
            control.violations()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_named_form_gives_agents_uri_and_path_only() {
    for dialect in DIALECTS {
        let sim = start(SimConfig {
            participants: ParticipantForm::Named,
            ..config(dialect)
        })
        .await;
        let (bot, id, mut notes) = live(&sim, ChatSpec::default()).await;
        sim.control().agent_joins(&id, "agent-101").unwrap();
        notes.extend(bot.until("ParticipantsUpdated").await);
        let api = sim.api_url();
        let people = last_participants(&notes);
        let by_nick = |nick: &str| people.iter().find(|p| p["nickname"] == nick).unwrap();
        assert_eq!(by_nick("Botty")["uri"], format!("{api}/users/bot01"));
        assert_eq!(by_nick("Botty")["path"], "/users/bot01");
        assert_eq!(by_nick("Sam")["uri"], format!("{api}/users/agent-101"));
        assert_eq!(by_nick("Sam")["path"], "/users/agent-101");
        let customer = by_nick("Customer");
        assert!(customer.get("uri").is_none() && customer.get("path").is_none());
        assert!(is_opaque(by_nick("Sam")["participantId"].as_str().unwrap()));
        let froms: Vec<Value> = notes
            .iter()
            .flat_map(|d| d["messages"].as_array().cloned().unwrap_or_default())
            .map(|m| m["from"].clone())
            .collect();
        let sam = froms.iter().find(|f| f["nickname"] == "Sam").unwrap();
        assert_eq!(sam["path"], "/users/agent-101", "{dialect}");
        assert_eq!(sam["participantId"], by_nick("Sam")["participantId"]);
        let botty = froms.iter().find(|f| f["nickname"] == "Botty").unwrap();
        assert_eq!(botty["uri"], format!("{api}/users/bot01"));
    }
}

#[tokio::test(start_paused = true)]
async fn each_join_notice_order_is_kept_for_consulted_and_unasked_agents() {
    let cases = [
        (
            JoinNotices::ParticipantsFirst,
            vec!["P", "E:ParticipantJoined"],
        ),
        (JoinNotices::EntryFirst, vec!["E:ParticipantJoined", "P"]),
        (JoinNotices::ParticipantsOnly, vec!["P"]),
        (JoinNotices::EntryOnly, vec!["E:ParticipantJoined"]),
    ];
    for dialect in DIALECTS {
        for (notices, expected) in &cases {
            let sim = start(SimConfig {
                join_notices: *notices,
                ..config(dialect)
            })
            .await;
            let control = sim.control();
            // Unasked: a supervisor looks in.
            let (bot, id, _) = live(&sim, ChatSpec::default()).await;
            control.agent_joins(&id, "agent-201").unwrap();
            let notes = bot.connect().await;
            assert_eq!(shape(&notes), *expected, "{dialect} {notices:?} looking in");
            // Consulted: Sam joins after 2 s.
            let consult = match dialect {
                SimDialect::Interactions => {
                    json!({"operationName":"StartChatConsultation","agentId":"agent-101"})
                }
                SimDialect::Chats => {
                    json!({"operationName":"Consult","targetUri":agent_uri(&sim, "agent-101")})
                }
            };
            assert_eq!(op_any(&bot, &sim, &id, consult).await, 0);
            let notes = bot.connect().await;
            assert_eq!(shape(&notes), *expected, "{dialect} {notices:?} consulted");
            let chat = control.chat(&id).unwrap();
            assert_eq!(chat.agents_present, ["agent-201", "agent-101"]);
            let joins = chat
                .transcript
                .iter()
                .filter(|e| e.from_type == "Agent" && e.kind == "ParticipantJoined")
                .filter(|e| e.visibility == "Agents")
                .count();
            let written = usize::from(*notices != JoinNotices::ParticipantsOnly) * 2;
            assert_eq!(joins, written, "{dialect} {notices:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn agents_join_say_and_leave_with_the_right_visibility() {
    for dialect in DIALECTS {
        let sim = start(config(dialect)).await;
        let control = sim.control();
        let (bot, id, _) = live(&sim, ChatSpec::default()).await;
        assert_eq!(
            control.agent_joins(&id, "ghost"),
            Err(SimError::UnknownAgent("ghost".into()))
        );
        assert_eq!(
            control.agent_joins("nope", "agent-201"),
            Err(SimError::UnknownChat("nope".into()))
        );
        assert!(matches!(
            control.agent_says(&id, "agent-201", "hi"),
            Err(SimError::AgentAbsent { .. })
        ));
        control.agent_joins(&id, "agent-201").unwrap();
        assert!(matches!(
            control.agent_joins(&id, "agent-201"),
            Err(SimError::AgentPresent { .. })
        ));
        bot.connect().await;
        control
            .agent_says(&id, "agent-201", "just looking")
            .unwrap();
        let said = log_or_messages(&bot.connect().await);
        assert_eq!(said.len(), 1);
        assert_eq!(
            (&said[0]["text"], &said[0]["visibility"]),
            (&json!("just looking"), &json!("Agents"))
        );
        control.agent_leaves(&id, "agent-201").unwrap();
        let notes = bot.connect().await;
        assert_eq!(shape(&notes), ["E:ParticipantLeft", "P"], "{dialect}");
        assert!(
            !last_participants(&notes)
                .iter()
                .any(|p| p["nickname"] == "Lee")
        );
        assert!(control.chat(&id).unwrap().agents_present.is_empty());
        assert!(matches!(
            control.agent_leaves(&id, "agent-201"),
            Err(SimError::AgentAbsent { .. })
        ));
        // In a conference the agent speaks to everyone.
        conference(&bot, &sim, &id, "agent-102").await;
        bot.connect().await;
        control.agent_says(&id, "agent-102", "Hello Pat").unwrap();
        let said = log_or_messages(&bot.connect().await);
        assert_eq!(said[0]["visibility"], "All", "{dialect}");
        assert!(
            control.violations().is_empty(),
            "{:?}",
            control.violations()
        );
    }
}

/// The entries of every `NewMessages` / `MessageLogUpdated` among `notes`.
pub(super) fn log_or_messages(notes: &[Value]) -> Vec<Value> {
    notes
        .iter()
        .filter(|d| d["notificationType"] == "NewMessages")
        .flat_map(|d| d["messages"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn operations_naming_a_participant_id_are_refused() {
    for dialect in DIALECTS {
        let sim = start(config(dialect)).await;
        let control = sim.control();
        let (bot, id, _) = live(&sim, ChatSpec::default()).await;
        control.agent_joins(&id, "agent-201").unwrap();
        let lee = control
            .chat(&id)
            .unwrap()
            .transcript
            .iter()
            .find(|e| e.nickname == "Lee")
            .map(|e| e.participant_id.clone())
            .unwrap();
        let bodies = match dialect {
            SimDialect::Interactions => vec![
                json!({"operationName":"Transfer","agentId":lee}),
                json!({"operationName":"StartChatConsultation","agentId":lee}),
            ],
            SimDialect::Chats => vec![
                json!({"operationName":"Transfer","targetUri":agent_uri(&sim, &lee)}),
                json!({"operationName":"Consult","targetUri":agent_uri(&sim, &lee)}),
                json!({"operationName":"Invite","targetUri":agent_uri(&sim, &lee)}),
            ],
        };
        let n = bodies.len();
        for body in bodies {
            assert_eq!(op_any(&bot, &sim, &id, body.clone()).await, 10, "{body}");
        }
        assert_eq!(control.violations().len(), n, "{:?}", control.violations());
        assert_eq!(control.chat(&id).unwrap().state, ChatState::Chatting);
    }
}

#[tokio::test(start_paused = true)]
async fn control_http_routes_drive_human_agents() {
    let sim = start(config(SimDialect::Interactions)).await;
    let (_bot, id, _) = live(&sim, ChatSpec::default()).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}/sim", sim.addr());
    let post = |path: String, body: Value| {
        let req = http.post(format!("{base}{path}")).json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let script = json!([{"say":{"after":"1s","text":"hi"}},{"leave":{"after":500}}]);
    let (status, _) = post("/agents/agent-102/conference_script".into(), script).await;
    assert_eq!(status, 200);
    let (status, body) = post(format!("/chats/{id}/agents/agent-201/join"), json!({})).await;
    assert_eq!((status, &body["ok"]), (200, &json!(true)));
    let (status, _) = post(format!("/chats/{id}/agents/agent-201/join"), json!({})).await;
    assert_eq!(status, 409);
    let (status, _) = post(format!("/chats/{id}/agents/ghost/join"), json!({})).await;
    assert_eq!(status, 404);
    let say = json!({"text":"psst"});
    let (status, _) = post(format!("/chats/{id}/agents/agent-201/say"), say).await;
    assert_eq!(status, 200);
    let (status, _) = post(format!("/chats/{id}/agents/agent-201/leave"), json!({})).await;
    assert_eq!(status, 200);
    let snapshot: Value = http
        .get(format!("{base}/chats/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot["agents_present"], json!([]));
    assert_eq!(snapshot["conference"], Value::Null);
    let (status, _) = post(format!("/chats/{id}/close"), json!({})).await;
    assert_eq!(status, 200);
    let (status, _) = post(format!("/chats/{id}/close"), json!({})).await;
    assert_eq!(status, 409);
    let chat = sim.control().chat(&id).unwrap();
    assert_eq!(chat.outcome, Some(ChatOutcome::ClosedByOthers));
    assert!(
        chat.transcript
            .iter()
            .any(|e| e.text.as_deref() == Some("psst") && e.visibility == "Agents")
    );
}
