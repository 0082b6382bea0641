//! TOML syntax errors reported without ever showing a secret: the line is shown unless it may
//! hold one, in which case only its key is named.

use std::path::Path;

/// Key names whose values are secrets (matched case-insensitively anywhere in a key or table
/// name): such a value never appears in a message.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "apikey",
    "api_key",
    "private",
];

/// Whether a key or table name is named like a secret.
fn secret_like(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| name.contains(w))
}

/// A TOML syntax error in `text`, as `file:line:column: message` with the offending line, or
/// instead of it the key it belongs to when the line may hold a secret (a key or table named
/// like one, a line inside a multi-line string, a line that is no `key = value`).
pub(super) fn syntax_problem(file: &Path, text: &str) -> Option<String> {
    let error = toml::from_str::<toml::Table>(text).err()?;
    let mut offset = error.span().map_or(0, |s| s.start).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or_default();
    let earlier = &text[..line_start];
    let in_multiline =
        earlier.matches("\"\"\"").count() % 2 == 1 || earlier.matches("'''").count() % 2 == 1;
    let table = earlier
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .unwrap_or_default();
    let trimmed = line.trim();
    let key = trimmed
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches(['"', '\'']).to_owned());
    let hidden = "   (the line is not shown: it may hold a secret)".to_owned();
    let shown = if in_multiline || secret_like(table) {
        hidden
    } else if trimmed.starts_with('[') {
        if secret_like(trimmed) {
            hidden
        } else {
            format!("   | {line}")
        }
    } else {
        match key {
            Some(key) if secret_like(&key) => {
                format!("   | {key} = … (the value of `{key}` is not shown)")
            }
            Some(_) => format!("   | {line}"),
            None => hidden,
        }
    };
    Some(format!(
        "{}:{line_no}:{column}: not valid TOML: {}\n{shown}",
        file.display(),
        error.message()
    ))
}

/// An error text without the source lines a parser quotes (`12 | password = …`).
pub(super) fn without_snippets(text: &str) -> String {
    text.lines()
        .filter(|l| {
            let l = l.trim_start();
            let digits = l.chars().take_while(char::is_ascii_digit).count();
            !(l.starts_with('|') || (digits > 0 && l[digits..].trim_start().starts_with('|')))
        })
        .collect::<Vec<_>>()
        .join("\n")
}
