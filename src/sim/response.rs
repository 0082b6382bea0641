//! A simulator response before it becomes HTTP: JSON or text, headers, and the GWS status
//! code to record with the request (shared by the REST routes and the Bayeux endpoint).

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const CSRF_FORBIDDEN: &str = "Missing or invalid Csrf token";

/// A response before it becomes HTTP; keeps the JSON so `statusCode` can be recorded.
pub(crate) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Result<Value, String>,
    /// The status code to record when the body does not carry it as `statusCode`.
    code: Option<i64>,
}

impl Reply {
    pub fn json(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Ok(body),
            code: None,
        }
    }

    pub fn text(status: StatusCode, text: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: HeaderMap::new(),
            body: Err(text.into()),
            code: None,
        }
    }

    pub(super) fn status(code: i64, message: Option<String>) -> Reply {
        let mut body = json!({ "statusCode": code });
        if let Some(m) = message {
            body["statusMessage"] = json!(m);
        }
        Reply::json(body)
    }

    pub(super) fn header(mut self, name: HeaderName, value: &str) -> Reply {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    /// The seed's form of a reply (see `readings::StatusForm::Seed`): `{"status":N}`, or with
    /// `text`, `{"status":"ok"}` / `{"status":"error","errorDescription":…}`.
    pub(super) fn seed_status(code: i64, message: Option<String>, text: bool) -> Reply {
        let mut body = match (text, code) {
            (false, _) => json!({ "status": code }),
            (true, 0) => json!({ "status": "ok" }),
            (true, _) => json!({ "status": "error" }),
        };
        if let Some(m) = message {
            let key = if text {
                "errorDescription"
            } else {
                "statusMessage"
            };
            body[key] = json!(m);
        }
        Reply {
            code: Some(code),
            ..Reply::json(body)
        }
    }

    /// The status code to record: `statusCode`, or what a seed-form reply stands for.
    pub(super) fn status_code(&self) -> Option<i64> {
        self.code.or_else(|| {
            self.body
                .as_ref()
                .ok()
                .and_then(|b| b.get("statusCode"))
                .and_then(Value::as_i64)
        })
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let (content_type, body) = match self.body {
            Ok(v) => ("application/json", v.to_string()),
            Err(t) => ("text/plain; charset=utf-8", t),
        };
        let mut response = (self.status, self.headers, body).into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    }
}

pub(super) fn forbidden() -> Reply {
    Reply::text(StatusCode::FORBIDDEN, CSRF_FORBIDDEN)
}
