//! Decoding response bodies: JSON, an empty body as `null`, and the lone UTF-16 surrogate
//! escapes some Java servers send repaired instead of failing the whole response.

use serde_json::Value;
use tracing::{debug, warn};

use super::MAX_LOGGED_BODY_CHARS;
use crate::gws::error::{Error, truncate};

/// Decode a GWS response body as every response is decoded: empty is `null`, escaped lone
/// UTF-16 surrogates become U+FFFD, anything else that is not JSON is [`Error::Decode`].
/// Public for the fuzz targets, which feed it arbitrary bytes.
pub fn decode_body(text: &str) -> Result<Value, Error> {
    parse_body("a GWS response body", text)
}

/// Parse a response body as JSON; an empty body is `null`.
pub(super) fn parse_body(what: &str, text: &str) -> Result<Value, Error> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let first = match serde_json::from_str(text) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    // Java servers may escape lone UTF-16 surrogates (`\ud800`), which JSON parsers in Rust
    // refuse. Replace them with U+FFFD rather than lose the whole response.
    if let Some(repaired) = replace_lone_surrogates(text)
        && let Ok(value) = serde_json::from_str(&repaired)
    {
        warn!(
            what,
            "GWS body had invalid \\u escapes; replaced them with U+FFFD"
        );
        return Ok(value);
    }
    debug!(body = %truncate(text, MAX_LOGGED_BODY_CHARS), error = %first, "undecodable GWS body");
    Err(Error::Decode { what: what.into() })
}

/// A body as JSON text for a reader that parses it itself: empty is `null`, escaped lone
/// UTF-16 surrogates become U+FFFD (as [`parse_body`] does); not checked further.
pub(super) fn repair_text(what: &str, text: String) -> String {
    if text.trim().is_empty() {
        return "null".into();
    }
    match replace_lone_surrogates(&text) {
        Some(repaired) => {
            warn!(
                what,
                "GWS body had invalid \\u escapes; replaced them with U+FFFD"
            );
            repaired
        }
        None => text,
    }
}

/// `text` with every `\u` escape (four hex digits) of a lone UTF-16 surrogate replaced by `\ufffd`;
/// `None` when there is none.
fn replace_lone_surrogates(text: &str) -> Option<String> {
    fn escape_at(b: &[u8], i: usize) -> Option<u16> {
        if b.get(i) != Some(&b'\\') || b.get(i + 1) != Some(&b'u') {
            return None;
        }
        let hex = std::str::from_utf8(b.get(i + 2..i + 6)?).ok()?;
        u16::from_str_radix(hex, 16).ok()
    }
    let b = text.as_bytes();
    // Allocated at the first repair: most bodies have none.
    let mut out = String::new();
    let mut changed = false;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        match escape_at(b, i) {
            // A high surrogate followed by a low one is a valid pair: keep both.
            Some(0xD800..=0xDBFF)
                if escape_at(b, i + 6).is_some_and(|lo| (0xDC00..=0xDFFF).contains(&lo)) =>
            {
                i += 12;
            }
            Some(0xD800..=0xDFFF) => {
                if !changed {
                    out.reserve(text.len());
                }
                out.push_str(&text[copied..i]);
                out.push_str("\\ufffd");
                changed = true;
                i += 6;
                copied = i;
            }
            // Any other escape (including `\\`): skip both characters so an escaped
            // backslash is never mistaken for the start of an escape.
            _ => i += 2,
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lone_surrogate_escapes_are_replaced_and_pairs_kept() {
        let body = r#"{"t":"a\ud800b","p":"\ud83d\ude00","e":"\\ud800"}"#;
        let fixed = super::replace_lone_surrogates(body).unwrap();
        let v: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(v["t"], "a\u{fffd}b");
        assert_eq!(v["p"], "\u{1f600}");
        assert_eq!(v["e"], "\\ud800", "an escaped backslash is not an escape");
        assert_eq!(
            super::replace_lone_surrogates(r#"{"t":"fine \u00e9"}"#),
            None
        );
        let low_only = super::parse_body("test", r#"["\udc00"]"#).unwrap();
        assert_eq!(low_only[0], "\u{fffd}");
    }
}
