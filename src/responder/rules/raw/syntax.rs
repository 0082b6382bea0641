//! TOML syntax errors in words a supervisor can act on.
//!
//! The TOML parser reports where it got stuck, which is not always where the mistake is: a
//! list whose `]` is missing runs on into the next line, so the parser complains about the
//! *next* key. And curly quotes pasted from a word processor read as "expected literal
//! string". Both are recognised here and reported at the spot to fix, with a hint.

/// Quotation marks that word processors and some editors put in place of `"` and `'`.
const CURLY_QUOTES: [char; 8] = ['“', '”', '„', '‟', '‘', '’', '‚', '«'];

/// A syntax error, as reported to the supervisor.
pub(super) struct Explained {
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

/// Turn the parser's error at `offset` (with its `message`) into the problem to report.
pub(super) fn explain(text: &str, offset: usize, message: &str) -> Explained {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    if let Some(open) = unclosed_before(text, line_start) {
        let (what, close) = if text[open..].starts_with('[') {
            ("list", ']')
        } else {
            ("table", '}')
        };
        let line_end = text[open..].find('\n').map_or(text.len(), |i| open + i);
        let last = text[open..line_end].trim_end();
        let last = last.split(" #").next().unwrap_or(last).trim_end();
        return Explained {
            offset: open,
            message: format!("this `{}` is never closed", &text[open..open + 1]),
            hint: Some(format!(
                "add the closing `{close}` of this {what}, e.g. after `{}`",
                tail(last, 20)
            )),
        };
    }
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let curly = curly_outside_strings(&text[line_start..line_end]).map(|i| line_start + i);
    Explained {
        offset: curly.unwrap_or(offset),
        message: format!("this is not valid TOML: {message}"),
        hint: curly.map(|_| {
            "this value is in curly quotes (“ ” or ‘ ’), as word processors and some \
             editors type them: write straight quotes `\"` or `'` instead"
                .to_owned()
        }),
    }
}

/// The byte offset in `line` of the first curly quote that stands where TOML expects a
/// straight one (outside any straight-quoted string).
fn curly_outside_strings(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '#' => return None,
            None if c == '"' || c == '\'' => quote = Some(c),
            None if CURLY_QUOTES.contains(&c) => return Some(i),
            None => {}
        }
    }
    None
}

/// The last characters of `text`, at most `chars` of them.
fn tail(text: &str, chars: usize) -> &str {
    let count = text.chars().count();
    let skip = count.saturating_sub(chars);
    text.char_indices()
        .nth(skip)
        .map_or(text, |(i, _)| &text[i..])
}

/// When the line starting at `line_start` begins a new key or table but a `[` or `{` of an
/// earlier value is still open, the offset of that bracket.
fn unclosed_before(text: &str, line_start: usize) -> Option<usize> {
    let line = &text[line_start..];
    // The end of the file counts as a new statement: a list may be open at the end too.
    if !starts_statement(line) && !line.trim().is_empty() {
        return None;
    }
    let mut open: Vec<usize> = Vec::new();
    let mut rest = text[..line_start].char_indices().peekable();
    let mut at_line_start = true;
    while let Some((i, c)) = rest.next() {
        match c {
            '\n' => {
                at_line_start = true;
                continue;
            }
            c if c.is_whitespace() => continue,
            '#' => {
                while rest.peek().is_some_and(|&(_, c)| c != '\n') {
                    rest.next();
                }
            }
            '"' | '\'' => skip_string(text, i, c, &mut rest),
            // A table header: only at the start of a line, outside any value.
            '[' if at_line_start && open.is_empty() => {
                while rest.peek().is_some_and(|&(_, c)| c != '\n') {
                    rest.next();
                }
            }
            '[' | '{' => open.push(i),
            ']' | '}' => {
                open.pop();
            }
            _ => {}
        }
        at_line_start = false;
    }
    open.last().copied()
}

/// Skip the string starting with `quote` at byte `start` (one-line or `"""`/`'''`).
fn skip_string(
    text: &str,
    start: usize,
    quote: char,
    rest: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) {
    let triple: String = std::iter::repeat_n(quote, 3).collect();
    let multi = text[start..].starts_with(&triple);
    if multi {
        rest.next();
        rest.next();
    }
    let basic = quote == '"';
    while let Some((i, c)) = rest.next() {
        if basic && c == '\\' {
            rest.next();
        } else if !multi && c == '\n' {
            // An unterminated one-line string: the parser reports that itself.
            return;
        } else if c == quote && (!multi || text[i..].starts_with(&triple)) {
            if multi {
                rest.next();
                rest.next();
            }
            return;
        }
    }
}

/// Whether `line` starts a new key (`name = …`, `when.turn = …`) or a table header.
fn starts_statement(line: &str) -> bool {
    let line = line.trim_start_matches([' ', '\t']);
    if line.starts_with('[') {
        return true;
    }
    let Some((key, _)) = line.split_once('=') else {
        return false;
    };
    let key = key.trim_end();
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, needle: &str) -> usize {
        text.find(needle).unwrap()
    }

    #[test]
    fn an_unclosed_list_is_reported_where_it_opens() {
        let text = "[[rule]]\nname = \"a\"\nmatch.keywords = [\"x\", \"y\"\nreply = \"hi\"\n";
        let e = explain(text, at(text, "reply"), "missing comma");
        assert_eq!(e.offset, at(text, "[\"x\""));
        assert_eq!(e.message, "this `[` is never closed");
        assert_eq!(
            e.hint.as_deref(),
            Some("add the closing `]` of this list, e.g. after `[\"x\", \"y\"`")
        );
    }

    #[test]
    fn multi_line_lists_strings_and_comments_are_not_mistaken() {
        let text = "open = [\n  \"mon ] [\",  # a [ comment\n  'x[' ,\n]\nclosed = [\"a\" \"b\"]\n";
        let e = explain(text, at(text, "\"b\""), "missing comma");
        assert_eq!(e.offset, at(text, "\"b\""));
        assert!(e.message.starts_with("this is not valid TOML: "));
        // A missing comma inside a multi-line list is where the parser says.
        let text = "open = [\n  \"a\"\n  \"b\",\n]\n";
        let e = explain(text, at(text, "\"b\""), "missing comma");
        assert_eq!(e.offset, at(text, "\"b\""));
    }

    #[test]
    fn curly_quotes_get_a_hint_at_the_first_curly_quote() {
        let text = "[[rule]]\nreply = “Hello”\n";
        let e = explain(text, at(text, "“"), "string values must be quoted");
        assert_eq!(e.offset, at(text, "“"));
        assert!(e.hint.unwrap().contains("straight quotes"));
        let text = "[[rule]]\nname = ‘x’\n";
        let e = explain(text, at(text, "name"), "expected literal string");
        assert_eq!(e.offset, at(text, "‘"));
        // Curly quotes inside a straight-quoted text are fine: the problem is elsewhere.
        let text = "[[rule]]\nreply = \"He said “hi”\n";
        let e = explain(text, text.len() - 1, "invalid basic string");
        assert_eq!((e.offset, e.hint), (text.len() - 1, None));
    }

    #[test]
    fn a_list_left_open_at_the_end_of_the_file() {
        let text = "[[rule]]\nname = \"a\"\nreply = [\"hi\"\n";
        let e = explain(text, text.len(), "unclosed array");
        assert_eq!(e.offset, at(text, "[\"hi"));
    }

    #[test]
    fn an_unclosed_inline_table_is_found_too() {
        let text = "then = { escalate = \"billing\"\nname = \"x\"\n";
        let e = explain(text, at(text, "name"), "x");
        assert_eq!(e.offset, 7);
        assert_eq!(e.message, "this `{` is never closed");
    }
}
