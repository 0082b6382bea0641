//! The `chats` dialect's operations (released GWS 8.5.2+, `docs/gws-protocol.md` §7 and §8):
//! what each dialect-free [`Operation`] becomes on `POST {api}/me/chats/{id}`,
//! and the operations that are not one POST there.
//!
//! | operation | `chats` |
//! |---|---|
//! | `Typing(on)` | `SendStartTypingNotification` / `SendStopTypingNotification` |
//! | `TransferToAgent` / `StartConsultation` | `Transfer` / `Consult` + `targetUri` `{api}/users/{agent}` |
//! | `TransferToSkill` | `Transfer` + `queueName` |
//! | `CompleteTransfer` / `CompleteConference` | `Transfer` / `Invite` + the consulted agent's `targetUri` |
//! | `StopProcessing` | `Leave`, then `Complete` (a `Leave` refused because the bot has left already is fine) |
//! | `RequestChatHistory` | `GET …/messages?startIndex={cursor + 1}`, delivered as a `ChatHistory` update |
//! | `Accept` | `Accept`, then the transcript as for `RequestChatHistory` (no history push) |

use serde_json::{Map, Value, json};

use super::{Plan, Post, encode_segment};
use crate::event::{ChatId, ChatUpdate};
use crate::gws::Capability;
use crate::gws::Operation;

/// `{api}/me/chats/{id}`.
pub(super) fn operation_path(api: &str, chat: &ChatId) -> String {
    format!("{api}/me/chats/{}", encode_segment(&chat.0))
}

/// `{api}/me/chats/{id}/messages`, from the entry after `cursor` when it is an index.
pub(super) fn transcript_path(api: &str, chat: &ChatId, cursor: Option<&str>) -> String {
    let base = format!("{}/messages", operation_path(api, chat));
    // A cursor that is not an index (saved by the other dialect) asks for everything; the
    // chat deduplicates what it has seen.
    match cursor.and_then(|c| c.trim().parse::<u64>().ok()) {
        Some(index) => format!("{base}?startIndex={}", index.saturating_add(1)),
        None => base,
    }
}

/// `{api}/users/{agent}`: how the `chats` dialect names an agent.
fn target_uri(api: &str, agent_id: &str) -> String {
    format!("{api}/users/{}", encode_segment(agent_id))
}

/// For a listed chat the bot has left but not completed (only `Complete` among its
/// capabilities: a finish cut between `Leave` and `Complete`, e.g. by a restart), the
/// `Complete` that ends it.
pub(super) fn completion_of_left(api: &str, chat: &ChatUpdate) -> Option<Post> {
    let left = chat.has_capability(Capability::Complete)
        && !chat.has_capability(Capability::SendMessage)
        && !chat.has_capability(Capability::Accept);
    left.then(|| Post {
        url: operation_path(api, &chat.id),
        body: json!({"operationName": "Complete"}),
    })
}

/// How `op` is carried out on `chat`.
pub(super) fn plan(api: &str, chat: &ChatId, op: &Operation) -> Plan {
    let url = operation_path(api, chat);
    let post = |body: Value| Post {
        url: url.clone(),
        body,
    };
    let named = |name: &str| post(json!({ "operationName": name }));
    let with = |name: &str, key: &str, value: Value| {
        let mut body = Map::new();
        body.insert("operationName".into(), name.into());
        body.insert(key.into(), value);
        post(Value::Object(body))
    };
    match op {
        Operation::Accept { nickname } => Plan::PostThenTranscript {
            post: with("Accept", "nickname", nickname.as_str().into()),
            transcript: transcript_path(api, chat, None),
        },
        Operation::Reject => Plan::Post(named("Reject")),
        Operation::SendMessage { text } => {
            Plan::Post(with("SendMessage", "text", text.as_str().into()))
        }
        Operation::Typing(true) => Plan::Post(named("SendStartTypingNotification")),
        Operation::Typing(false) => Plan::Post(named("SendStopTypingNotification")),
        Operation::TransferToAgent { agent_id } | Operation::CompleteTransfer { agent_id } => {
            Plan::Post(with(
                "Transfer",
                "targetUri",
                target_uri(api, agent_id).into(),
            ))
        }
        Operation::TransferToSkill { skill } => {
            Plan::Post(with("Transfer", "queueName", skill.as_str().into()))
        }
        Operation::StartConsultation { agent_id } => Plan::Post(with(
            "Consult",
            "targetUri",
            target_uri(api, agent_id).into(),
        )),
        Operation::CompleteConference { agent_id } => Plan::Post(with(
            "Invite",
            "targetUri",
            target_uri(api, agent_id).into(),
        )),
        Operation::StopProcessing => Plan::LeaveThenComplete {
            leave: named("Leave"),
            complete: named("Complete"),
        },
        Operation::RequestChatHistory { event_id } => Plan::Transcript {
            url: transcript_path(api, chat, event_id.as_deref()),
        },
        Operation::UpdateUserData { user_data } => {
            let data: Map<String, Value> = user_data
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Plan::Post(with("UpdateUserData", "userData", Value::Object(data)))
        }
        Operation::NoteToAgents { text } => Plan::Post(with(
            "SendCustomNoticeToAgents",
            "noticeText",
            text.as_str().into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::UserData;

    const API: &str = "http://gws/api/v2";

    fn body(op: Operation) -> Value {
        match plan(API, &ChatId::from("c 1"), &op) {
            Plan::Post(post) => {
                assert_eq!(post.url, "http://gws/api/v2/me/chats/c%201");
                post.body
            }
            other => panic!("not one POST: {other:?}"),
        }
    }

    #[test]
    fn one_post_operations_follow_the_contract() {
        assert_eq!(body(Operation::Reject), json!({"operationName":"Reject"}));
        assert_eq!(
            body(Operation::SendMessage { text: "Hi".into() }),
            json!({"operationName":"SendMessage","text":"Hi"})
        );
        assert_eq!(
            body(Operation::Typing(true)),
            json!({"operationName":"SendStartTypingNotification"})
        );
        assert_eq!(
            body(Operation::Typing(false)),
            json!({"operationName":"SendStopTypingNotification"})
        );
        let agent = |id: &str| format!("http://gws/api/v2/users/{id}");
        assert_eq!(
            body(Operation::TransferToAgent {
                agent_id: "a1".into()
            }),
            json!({"operationName":"Transfer","targetUri":agent("a1")})
        );
        assert_eq!(
            body(Operation::TransferToSkill {
                skill: "Billing".into()
            }),
            json!({"operationName":"Transfer","queueName":"Billing"})
        );
        assert_eq!(
            body(Operation::StartConsultation {
                agent_id: "a/2".into()
            }),
            json!({"operationName":"Consult","targetUri":agent("a%2F2")})
        );
        assert_eq!(
            body(Operation::CompleteTransfer {
                agent_id: "a2".into()
            }),
            json!({"operationName":"Transfer","targetUri":agent("a2")})
        );
        assert_eq!(
            body(Operation::CompleteConference {
                agent_id: "a2".into()
            }),
            json!({"operationName":"Invite","targetUri":agent("a2")})
        );
        let mut data = UserData::new();
        data.insert("BotHandled".into(), json!(true));
        assert_eq!(
            body(Operation::NoteToAgents { text: "VIP".into() }),
            json!({"operationName":"SendCustomNoticeToAgents","noticeText":"VIP"})
        );
        assert_eq!(
            body(Operation::UpdateUserData { user_data: data }),
            json!({"operationName":"UpdateUserData","userData":{"BotHandled":true}})
        );
    }

    #[test]
    fn a_chat_the_bot_left_is_completed() {
        let mut left = ChatUpdate::new(ChatId::from("c1"), crate::event::UpdateKind::StatusChange);
        left.capabilities = Some(vec!["Complete".into()]);
        assert_eq!(
            completion_of_left(API, &left),
            Some(Post {
                url: "http://gws/api/v2/me/chats/c1".into(),
                body: json!({"operationName":"Complete"}),
            })
        );
        left.capabilities = Some(vec!["Complete".into(), "SendMessage".into()]);
        assert_eq!(completion_of_left(API, &left), None, "live");
        left.capabilities = None;
        assert_eq!(completion_of_left(API, &left), None);
    }

    #[test]
    fn operations_that_are_not_one_post() {
        let chat = ChatId::from("c1");
        let messages = "http://gws/api/v2/me/chats/c1/messages";
        assert_eq!(
            plan(
                API,
                &chat,
                &Operation::Accept {
                    nickname: "Ava".into()
                }
            ),
            Plan::PostThenTranscript {
                post: Post {
                    url: "http://gws/api/v2/me/chats/c1".into(),
                    body: json!({"operationName":"Accept","nickname":"Ava"}),
                },
                transcript: messages.into(),
            }
        );
        match plan(API, &chat, &Operation::StopProcessing) {
            Plan::LeaveThenComplete { leave, complete } => {
                assert_eq!(leave.body, json!({"operationName":"Leave"}));
                assert_eq!(complete.body, json!({"operationName":"Complete"}));
                assert_eq!(complete.url, "http://gws/api/v2/me/chats/c1");
            }
            other => panic!("{other:?}"),
        }
        let history = |cursor: Option<&str>| {
            plan(
                API,
                &chat,
                &Operation::RequestChatHistory {
                    event_id: cursor.map(str::to_owned),
                },
            )
        };
        assert_eq!(
            history(Some("7")),
            Plan::Transcript {
                url: format!("{messages}?startIndex=8")
            }
        );
        assert_eq!(
            history(None),
            Plan::Transcript {
                url: messages.into()
            }
        );
        assert_eq!(
            history(Some("e-17")),
            Plan::Transcript {
                url: messages.into()
            },
            "a cursor of the other dialect asks for everything"
        );
    }
}
