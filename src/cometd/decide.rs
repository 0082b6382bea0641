//! The CometD client's decisions as pure functions: what to do after a handshake, a subscribe,
//! a connect, or an HTTP failure. The loop in `mod.rs` only carries them out.

use super::message::{CONNECT, HANDSHAKE, Reconnect, Reply, SUBSCRIBE};
use super::transport::Failure;

/// How long to wait before the next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Go on at once.
    Now,
    /// The server's `advice.interval`.
    Advice,
    /// The next back-off delay (at least `advice.interval`).
    Backoff,
    /// The back-off maximum: for failures a quick retry cannot fix (HTTP 401).
    Long,
}

/// The next step of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Send `/meta/connect`.
    Connect(Wait),
    /// Handshake and subscribe to every topic again.
    Handshake(Wait),
    /// The server said `reconnect: none`: stop.
    Stop { reason: String },
}

/// Which step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Handshake,
    Connect,
}

/// After the handshake response: the new client id, or what to do instead.
pub fn after_handshake(replies: &[Reply]) -> Result<String, Next> {
    let Some(reply) = replies.iter().find(|r| r.channel == HANDSHAKE) else {
        return Err(Next::Handshake(Wait::Backoff));
    };
    if reply.advice.as_ref().and_then(|a| a.reconnect.as_ref()) == Some(&Reconnect::None) {
        return Err(Next::Stop {
            reason: format!("handshake refused: {}", describe(reply)),
        });
    }
    match (&reply.client_id, reply.is_successful()) {
        (Some(id), true) if !id.is_empty() => Ok(id.clone()),
        _ => Err(Next::Handshake(Wait::Backoff)),
    }
}

/// After the subscribe response: every topic must be acknowledged. A reply is matched to its
/// topic by `subscription`, else by the `id` the request carried (`sent` pairs topic and id).
pub fn check_subscriptions(replies: &[Reply], sent: &[(String, String)]) -> Result<(), String> {
    let subs: Vec<&Reply> = replies.iter().filter(|r| r.channel == SUBSCRIBE).collect();
    for (topic, id) in sent {
        let reply = subs
            .iter()
            .find(|r| r.subscription.as_deref() == Some(topic.as_str()))
            .or_else(|| subs.iter().find(|r| r.id.as_deref() == Some(id.as_str())));
        match reply {
            Some(r) if r.is_successful() => {}
            Some(r) => return Err(format!("subscribe to {topic} failed: {}", describe(r))),
            None => return Err(format!("no reply to the subscription of {topic}")),
        }
    }
    Ok(())
}

/// After a connect response. Only the `reconnect` advice sent with this reply counts (absent
/// means `retry`): a stale `handshake` from an earlier failure must not cause handshake loops.
pub fn after_connect(replies: &[Reply]) -> Next {
    let Some(reply) = replies.iter().find(|r| r.channel == CONNECT) else {
        return Next::Connect(Wait::Backoff);
    };
    let reconnect = reply.advice.as_ref().and_then(|a| a.reconnect.as_ref());
    if reconnect == Some(&Reconnect::None) {
        return Next::Stop {
            reason: format!("connect refused: {}", describe(reply)),
        };
    }
    if reply.is_successful() {
        return match reconnect {
            Some(Reconnect::Handshake) => Next::Handshake(Wait::Advice),
            _ => Next::Connect(Wait::Advice),
        };
    }
    let unknown = reply.error.as_ref().is_some_and(|e| e.is_unknown_client());
    if unknown || reconnect == Some(&Reconnect::Handshake) {
        Next::Handshake(Wait::Advice)
    } else {
        Next::Connect(Wait::Backoff)
    }
}

/// After an HTTP-level failure of a CometD POST.
pub fn after_http_error(failure: Failure, phase: Phase) -> Next {
    let same = |wait| match phase {
        Phase::Handshake => Next::Handshake(wait),
        Phase::Connect => Next::Connect(wait),
    };
    match failure {
        Failure::Unauthorized => same(Wait::Long),
        // A 4xx other than 401/403/429 means the server does not accept this client's
        // requests any more: start over with a handshake.
        Failure::Status(status) if (400..500).contains(&status) && status != 429 => {
            Next::Handshake(Wait::Backoff)
        }
        _ => same(Wait::Backoff),
    }
}

fn describe(reply: &Reply) -> String {
    reply
        .error
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "no error given".to_owned())
}

#[cfg(test)]
mod tests {
    use super::super::message::parse_response;
    use super::*;
    use serde_json::json;

    fn replies(v: serde_json::Value) -> Vec<Reply> {
        parse_response(v)
    }

    #[test]
    fn handshake_outcomes() {
        let ok = replies(json!([{"channel":"/meta/handshake","successful":true,"clientId":"c1"}]));
        assert_eq!(after_handshake(&ok), Ok("c1".to_owned()));
        let failed = replies(json!([{"channel":"/meta/handshake","successful":false,
            "error":"500::overloaded","advice":{"reconnect":"handshake"}}]));
        assert_eq!(
            after_handshake(&failed),
            Err(Next::Handshake(Wait::Backoff))
        );
        let refused = replies(json!([{"channel":"/meta/handshake","successful":false,
            "error":"403::denied","advice":{"reconnect":"none"}}]));
        assert!(
            matches!(after_handshake(&refused), Err(Next::Stop { reason }) if reason.contains("403::denied"))
        );
        assert_eq!(after_handshake(&[]), Err(Next::Handshake(Wait::Backoff)));
        let no_id = replies(json!({"channel":"/meta/handshake","successful":true}));
        assert_eq!(after_handshake(&no_id), Err(Next::Handshake(Wait::Backoff)));
    }

    #[test]
    fn subscriptions_must_all_succeed() {
        let sent = vec![
            ("/a".to_owned(), "2".to_owned()),
            ("/b".to_owned(), "3".to_owned()),
        ];
        let ok = replies(json!([
            {"channel":"/meta/subscribe","successful":true,"id":"3"},
            {"channel":"/meta/subscribe","successful":true,"subscription":"/a"}]));
        assert_eq!(check_subscriptions(&ok, &sent), Ok(()));
        let one_failed = replies(json!([
            {"channel":"/meta/subscribe","successful":true,"subscription":"/a"},
            {"channel":"/meta/subscribe","successful":false,"subscription":"/b","error":"403::no"}]));
        let err = check_subscriptions(&one_failed, &sent).unwrap_err();
        assert!(err.contains("/b") && err.contains("403::no"), "{err}");
        let missing =
            replies(json!([{"channel":"/meta/subscribe","successful":true,"subscription":"/a"}]));
        assert!(
            check_subscriptions(&missing, &sent)
                .unwrap_err()
                .contains("no reply")
        );
    }

    #[test]
    fn connect_outcomes() {
        let ok = replies(
            json!([{"channel":"/x","data":{}},{"channel":"/meta/connect","successful":true}]),
        );
        assert_eq!(after_connect(&ok), Next::Connect(Wait::Advice));
        let rehandshake = replies(json!([{"channel":"/meta/connect","successful":true,
            "advice":{"reconnect":"handshake"}}]));
        assert_eq!(after_connect(&rehandshake), Next::Handshake(Wait::Advice));
        let odd = replies(json!([{"channel":"/meta/connect","successful":true,
            "advice":{"reconnect":"later"}}]));
        assert_eq!(after_connect(&odd), Next::Connect(Wait::Advice));

        for error in [
            "402::Unknown client",
            "402::session_unknown",
            "401:c1:Unknown client",
        ] {
            let r = replies(json!([{"channel":"/meta/connect","successful":false,"error":error}]));
            assert_eq!(after_connect(&r), Next::Handshake(Wait::Advice), "{error}");
        }
        let advised = replies(json!([{"channel":"/meta/connect","successful":false,
            "advice":{"reconnect":"handshake"}}]));
        assert_eq!(after_connect(&advised), Next::Handshake(Wait::Advice));
        let other =
            replies(json!([{"channel":"/meta/connect","successful":false,"error":"500::oops"}]));
        assert_eq!(after_connect(&other), Next::Connect(Wait::Backoff));
        let none = replies(json!([{"channel":"/meta/connect","successful":false,
            "error":"403::go away","advice":{"reconnect":"none"}}]));
        assert!(
            matches!(after_connect(&none), Next::Stop { reason } if reason.contains("go away"))
        );
        assert_eq!(after_connect(&[]), Next::Connect(Wait::Backoff));
    }

    #[test]
    fn http_failures() {
        assert_eq!(
            after_http_error(Failure::Unauthorized, Phase::Connect),
            Next::Connect(Wait::Long)
        );
        assert_eq!(
            after_http_error(Failure::Other, Phase::Connect),
            Next::Connect(Wait::Backoff)
        );
        assert_eq!(
            after_http_error(Failure::Status(503), Phase::Handshake),
            Next::Handshake(Wait::Backoff)
        );
        assert_eq!(
            after_http_error(Failure::Status(429), Phase::Connect),
            Next::Connect(Wait::Backoff)
        );
        assert_eq!(
            after_http_error(Failure::Status(400), Phase::Connect),
            Next::Handshake(Wait::Backoff)
        );
    }
}
