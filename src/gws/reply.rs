//! One place that interprets GWS replies: the `statusCode`/`status` shapes, the `referenceId`
//! of an accepted request, and the statuses that mean "log in again".

use serde_json::Value;
use tracing::{debug, warn};

use super::dialect::notification::u64_of;
use super::error::Error;
use super::status::Status;

/// GWS accepted an operation for processing; the outcome arrives as a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ack {
    /// Correlates a later `Error` notification with this request, when the server sends one.
    pub reference_id: Option<u64>,
}

/// Interpret a GWS reply body: `{"statusCode":0}`, `{"status":0}`, `{"status":"ok"}`,
/// `{"status":"error","errorDescription":…}`, `{"statusCode":N,"statusMessage":…}`.
/// `statusCode` 7 (partial success) is success with a warning; 20 is
/// [`Error::NotAuthenticated`]. A 2xx reply without any status counts as success.
pub fn parse_reply(operation: &'static str, body: &Value) -> Result<Ack, Error> {
    let ack = Ack {
        reference_id: u64_of(body.get("referenceId")),
    };
    let message = ["statusMessage", "errorDescription", "errorMessage"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    let code = match body.get("statusCode").or_else(|| body.get("status")) {
        None | Some(Value::Null) => {
            debug!(
                operation,
                "reply without a status; HTTP 2xx counts as success"
            );
            return Ok(ack);
        }
        Some(Value::Number(n)) => n.as_i64().unwrap_or(-1),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.eq_ignore_ascii_case("ok") || s.eq_ignore_ascii_case("success") {
                return Ok(ack);
            }
            s.parse().unwrap_or(-1)
        }
        Some(_) => {
            return Err(Error::Decode {
                what: format!("the {operation} reply (status is neither number nor text)"),
            });
        }
    };
    match Status::from_code(code) {
        Status::Success => Ok(ack),
        Status::PartialSuccess => {
            warn!(operation, message = %message, "GWS reports partial success (statusCode 7)");
            Ok(ack)
        }
        Status::NotAuthenticated => Err(Error::NotAuthenticated),
        _ => Err(Error::Status {
            operation,
            code,
            message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reply_shapes() {
        let ok = |v: Value| parse_reply("op", &v).unwrap();
        assert_eq!(ok(json!({"statusCode":0})), Ack::default());
        assert_eq!(ok(json!({"status":0})), Ack::default());
        assert_eq!(ok(json!({"status":"ok"})), Ack::default());
        assert_eq!(ok(json!({"statusCode":"0"})), Ack::default());
        assert_eq!(
            ok(json!({"statusCode":0,"referenceId":17})).reference_id,
            Some(17)
        );
        assert_eq!(ok(json!({"statusCode":7})), Ack::default());
        assert_eq!(ok(Value::Null), Ack::default());

        let err = parse_reply(
            "accept",
            &json!({"statusCode":2,"statusMessage":"bad state"}),
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Status { operation: "accept", code: 2, message } if message == "bad state"),
            "{err:?}"
        );
        let err = parse_reply(
            "ready",
            &json!({"status":"error","errorDescription":"no such place"}),
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Status { code: -1, message, .. } if message == "no such place"),
            "{err:?}"
        );
        assert!(matches!(
            parse_reply("x", &json!({"statusCode":20})),
            Err(Error::NotAuthenticated)
        ));
        assert!(matches!(
            parse_reply("x", &json!({"status":[0]})),
            Err(Error::Decode { .. })
        ));
    }
}
