//! Matching customer messages: keyword phrases and regular expressions.
//!
//! Keywords are case- and accent-insensitive and match whole words: both the message and the
//! phrase are folded to lowercase ASCII words separated by single spaces (see [`fold`]), and
//! the phrase must occur in the message on word boundaries. The message is folded once per
//! evaluation ([`Text`]) and shared by every rule.
//!
//! A rule set matches a message against all its `message` rules at once ([`Index`]): every
//! keyword of every rule goes into one Aho-Corasick automaton and the regexes into
//! [`Patterns`] (their literals into another), so the cost per message does not grow rule by
//! rule.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::{Regex, RegexBuilder};

use super::pattern::{Pattern, Patterns};

/// Compiled size limit of one regex, so a supervisor's pattern cannot exhaust memory.
pub(super) const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Compiled size limit of the set of all of a rule set's `match.regex` patterns: a larger set
/// is refused when the rules load.
pub(super) const REGEX_SET_SIZE_LIMIT: usize = 32 << 20;

/// A customer message prepared for matching.
pub(super) struct Text<'a> {
    /// As the customer wrote it (for regexes).
    pub raw: &'a str,
    /// Folded, with a space at each end so phrases match on word boundaries.
    folded: String,
}

impl<'a> Text<'a> {
    pub fn new(raw: &'a str) -> Self {
        let mut folded = String::with_capacity(raw.len() + 2);
        folded.push(' ');
        fold_into(raw, &mut folded);
        folded.push(' ');
        Text { raw, folded }
    }
}

/// Lowercase ASCII words separated by single spaces: accents are dropped (`é` → `e`,
/// `ß` → `ss`), anything that is not a letter or digit separates words.
pub(super) fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    fold_into(text, &mut out);
    out
}

fn fold_into(text: &str, out: &mut String) {
    let start = out.len();
    let mut pending_space = false;
    let mut push = |s: &str, out: &mut String| {
        for c in s.chars() {
            if c.is_ascii_alphanumeric() {
                if pending_space && out.len() > start {
                    out.push(' ');
                }
                pending_space = false;
                out.push(c.to_ascii_lowercase());
            } else {
                pending_space = true;
            }
        }
    };
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if c.is_ascii() {
            push(c.encode_utf8(&mut buf), out);
        } else if c.is_alphanumeric() {
            // Letters from other scripts are transliterated; symbols and emoji separate words.
            push(deunicode::deunicode_char(c).unwrap_or(" "), out);
        } else {
            push(" ", out);
        }
    }
}

/// Compile a supervisor's `match.regex` with the size limit.
pub(super) fn compile_pattern(pattern: &str) -> Result<Pattern, regex::Error> {
    Pattern::new(pattern, REGEX_SIZE_LIMIT)
}

/// Compile a supervisor's regex with the size limit.
pub(super) fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// The `match` of a `message` rule: any keyword phrase, and the regex; when both are given,
/// both must match.
#[derive(Debug, Clone)]
pub(super) struct Matcher {
    /// Folded phrases, each with a space at both ends.
    keywords: Vec<String>,
    regex: Option<Pattern>,
}

impl Matcher {
    /// A matcher from already folded, non-empty phrases and an optional compiled regex.
    #[cfg(test)]
    pub fn new(folded_keywords: impl IntoIterator<Item = String>, regex: Option<Regex>) -> Self {
        let regex = regex.map(|r| {
            compile_pattern(r.as_str()).expect("a regex that compiled compiles as a pattern")
        });
        Self::with_pattern(folded_keywords, regex)
    }

    /// A matcher from already folded, non-empty phrases and an optional compiled pattern.
    pub fn with_pattern(
        folded_keywords: impl IntoIterator<Item = String>,
        regex: Option<Pattern>,
    ) -> Self {
        let keywords = folded_keywords
            .into_iter()
            .map(|k| format!(" {k} "))
            .collect();
        Matcher { keywords, regex }
    }

    /// The folded phrases, each with a space at both ends; `None` without keywords.
    pub fn keyword_list(&self) -> Option<&[String]> {
        (!self.keywords.is_empty()).then_some(self.keywords.as_slice())
    }

    /// The regex, if any.
    pub fn regex(&self) -> Option<&Pattern> {
        self.regex.as_ref()
    }

    /// Whether the message matches.
    pub fn is_match(&self, text: &Text<'_>) -> bool {
        let keywords_ok = self.keywords.is_empty()
            || self
                .keywords
                .iter()
                .any(|k| text.folded.contains(k.as_str()));
        keywords_ok && self.regex.as_ref().is_none_or(|r| r.is_match(text.raw))
    }
}

/// All `message` rules' matchers of a rule set, matched in one pass per message.
#[derive(Debug, Clone)]
pub(super) struct Index {
    /// Keyword phrases of all rules; pattern `i` belongs to rule `keyword_rule[i]`.
    keywords: Option<AhoCorasick>,
    keyword_rule: Vec<usize>,
    /// Rules with keywords (a rule without keywords needs none to match).
    has_keywords: Vec<bool>,
    /// Rules with a regex.
    has_regex: Vec<bool>,
    /// The regexes; `None` when together they would be larger than [`REGEX_SET_SIZE_LIMIT`]
    /// (the rule set is refused).
    regexes: Option<Patterns>,
    /// Regex `i` belongs to rule `regex_rule[i]`.
    regex_rule: Vec<usize>,
}

impl Index {
    /// Index `matchers`, one per `message` rule, in rule order.
    pub fn new(matchers: &[&Matcher]) -> Self {
        let mut patterns = Vec::new();
        let mut keyword_rule = Vec::new();
        let mut has_keywords = vec![false; matchers.len()];
        let mut has_regex = vec![false; matchers.len()];
        let mut regexes = Vec::new();
        let mut regex_rule = Vec::new();
        for (i, m) in matchers.iter().enumerate() {
            for k in &m.keywords {
                patterns.push(k.as_str());
                keyword_rule.push(i);
                has_keywords[i] = true;
            }
            if let Some(r) = &m.regex {
                has_regex[i] = true;
                regexes.push(r);
                regex_rule.push(i);
            }
        }
        let keywords = (!patterns.is_empty())
            .then(|| {
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)
                    .ok()
            })
            .flatten();
        let regexes = Patterns::new(&regexes, REGEX_SET_SIZE_LIMIT).ok();
        Index {
            keywords,
            keyword_rule,
            has_keywords,
            has_regex,
            regexes,
            regex_rule,
        }
    }

    /// Whether the regexes did not fit into one set within [`REGEX_SET_SIZE_LIMIT`] (such a
    /// rule set is refused at load).
    pub fn too_large(&self) -> bool {
        self.regexes.is_none()
    }

    /// The indexed rules `text` matches, in rule order. The work is one automaton pass for
    /// the keywords and one for the regexes' literals, plus a little per rule whose literal
    /// occurs or that matched; other rules cost nothing.
    pub fn matches(&self, text: &Text<'_>) -> Vec<usize> {
        let mut keyword_hits: Vec<usize> = match &self.keywords {
            Some(ac) => ac
                .find_overlapping_iter(&text.folded)
                .map(|m| self.keyword_rule[m.pattern().as_usize()])
                .collect(),
            None => Vec::new(),
        };
        keyword_hits.sort_unstable();
        keyword_hits.dedup();
        let regex_hits: Vec<usize> = match &self.regexes {
            Some(patterns) if !self.regex_rule.is_empty() => patterns
                .matches(text.raw)
                .into_iter()
                .map(|i| self.regex_rule[i])
                .collect(),
            Some(_) | None => Vec::new(),
        };
        let mut candidates: Vec<usize> = keyword_hits.iter().chain(&regex_hits).copied().collect();
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&rule| {
            (!self.has_keywords[rule] || keyword_hits.binary_search(&rule).is_ok())
                && (!self.has_regex[rule] || regex_hits.binary_search(&rule).is_ok())
        });
        candidates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keywords(phrases: &[&str]) -> Matcher {
        Matcher::new(phrases.iter().map(|p| fold(p)), None)
    }

    #[test]
    fn fold_lowercases_strips_accents_and_punctuation() {
        assert_eq!(fold("  Öffnungszeiten, bitte!! "), "offnungszeiten bitte");
        assert_eq!(fold("Straße café NAÏVE"), "strasse cafe naive");
        assert_eq!(fold("don't 😀 stop"), "don t stop");
        assert_eq!(fold("!!!"), "");
    }

    #[test]
    fn keywords_match_whole_words_only() {
        let m = keywords(&["open"]);
        assert!(m.is_match(&Text::new("Are you open today?")));
        assert!(m.is_match(&Text::new("open")));
        assert!(!m.is_match(&Text::new("What are your opening hours?")));
        assert!(!m.is_match(&Text::new("reopen")));
    }

    #[test]
    fn keywords_are_case_and_accent_insensitive_phrases() {
        let m = keywords(&["opening hours", "café"]);
        assert!(m.is_match(&Text::new("OPENING   hours pls")));
        assert!(m.is_match(&Text::new("Is the CAFE open?")));
        assert!(m.is_match(&Text::new("Le Café!")));
        assert!(!m.is_match(&Text::new("opening the hours")));
    }

    #[test]
    fn keywords_and_regex_must_both_match() {
        let regex = compile_regex(r"\d{5}").unwrap();
        let m = Matcher::new([fold("order")], Some(regex));
        assert!(m.is_match(&Text::new("my order 12345")));
        assert!(!m.is_match(&Text::new("my order")));
        assert!(!m.is_match(&Text::new("parcel 12345")));
        let only_regex = Matcher::new([], Some(compile_regex(r"(?i)\brefund\b").unwrap()));
        assert!(only_regex.is_match(&Text::new("REFUND please")));
    }

    #[test]
    fn index_agrees_with_each_matcher() {
        let matchers = [
            keywords(&["open", "opening hours"]),
            Matcher::new([], Some(compile_regex(r"(?i)\brefund\b").unwrap())),
            Matcher::new([fold("order")], Some(compile_regex(r"\d{5}").unwrap())),
            keywords(&["open today"]),
        ];
        let refs: Vec<&Matcher> = matchers.iter().collect();
        let index = Index::new(&refs);
        for message in [
            "are you open today?",
            "opening hours",
            "REFUND my order 12345",
            "my order",
            "nothing",
            "",
        ] {
            let text = Text::new(message);
            let each: Vec<usize> = (0..matchers.len())
                .filter(|&i| matchers[i].is_match(&text))
                .collect();
            assert_eq!(index.matches(&text), each, "{message}");
        }
        assert!(Index::new(&[]).matches(&Text::new("x")).is_empty());
    }

    /// Patterns of every shape the index treats differently: with prefix literals (exact,
    /// case-insensitive, Unicode, alternations), with short or no literals, anchored, with
    /// look-arounds, and a literal whose first occurrence does not match but a later one does.
    fn varied_pattern(i: usize) -> String {
        match i % 12 {
            0 => format!(r"(?i)\border[- ]?{i}\b|\bref{i}x\d+"),
            1 => format!(r"invoice {i}"),
            2 => format!(r"(?i)straße{i}|STRASSE{i}"),
            3 => format!(r"\d{{{}}}", i % 7 + 1),
            4 => format!(r"^hello {}", i % 10),
            5 => format!(r"ab{}$", i % 10),
            6 => format!(r"(?i)\bcafé{}\b", i % 20),
            7 => format!(r"x{}.*y", i % 10),
            8 => format!(r"[a-z]+@{i}\.example"),
            9 => format!(r"(?m)^line{}$", i % 10),
            10 => format!(r"(?:refund|money back) {}", i % 50),
            _ => format!(r"\bcode(?:{i}|-{i})\b"),
        }
    }

    #[test]
    fn large_regex_set_agrees_with_one_by_one_matching() {
        let patterns: Vec<String> = (0..1_200).map(varied_pattern).collect();
        let naive: Vec<Regex> = patterns.iter().map(|p| compile_regex(p).unwrap()).collect();
        let matchers: Vec<Matcher> = patterns
            .iter()
            .map(|p| Matcher::with_pattern([], Some(compile_pattern(p).unwrap())))
            .collect();
        let refs: Vec<&Matcher> = matchers.iter().collect();
        let index = Index::new(&refs);
        assert!(!index.too_large());
        let mut messages = vec![
            "Where is my ORDER-12? and order 1200".to_owned(),
            "order 24 please, ref36x2025".to_owned(),
            "order x order 48".to_owned(),
            "invoice 1 and invoice 1189".to_owned(),
            "Straße2 STRASSE14 strasse26".to_owned(),
            "hello 4 is not at the start: hello 5".to_owned(),
            "hello 4, and it ends in ab5".to_owned(),
            "Le CAFÉ6 et café18!".to_owned(),
            "x3 then y, x9 but no why".to_owned(),
            "mail kim@8.example or bo@20.example".to_owned(),
            "first\nline9\nline3 end".to_owned(),
            "I want a refund 10 or money back 34".to_owned(),
            "code11 code-23 code35x".to_owned(),
            "1234567 digits".to_owned(),
            "ünïcödé ÖRDER-12 order-١٢".to_owned(),
            String::new(),
        ];
        messages.extend((0..200).map(|k| {
            let i = (k * 7919) % 1_200;
            format!("about ORDER {i}: invoice {i}, code-{i}, {i}@{i}.example, hello {i}")
        }));
        for message in &messages {
            let text = Text::new(message);
            let each: Vec<usize> = (0..naive.len())
                .filter(|&i| naive[i].is_match(message))
                .collect();
            assert_eq!(index.matches(&text), each, "{message:?}");
            // The first matching rule wins: the index's first hit is the naive first match.
            assert_eq!(index.matches(&text).first(), each.first(), "{message:?}");
        }
    }

    #[test]
    fn regexes_over_the_set_limit_are_refused() {
        let patterns: Vec<String> = (0..100).map(|i| format!(r"a{i}\w{{20}}")).collect();
        let matchers: Vec<Matcher> = patterns
            .iter()
            .map(|p| Matcher::with_pattern([], Some(compile_pattern(p).unwrap())))
            .collect();
        let refs: Vec<&Matcher> = matchers.iter().collect();
        assert!(Index::new(&refs).too_large());
    }

    #[test]
    fn oversized_regex_is_rejected() {
        let err = compile_regex(r"\w{1000}\w{1000}\w{1000}").unwrap_err();
        assert!(matches!(err, regex::Error::CompiledTooBig(_)), "{err}");
    }
}
