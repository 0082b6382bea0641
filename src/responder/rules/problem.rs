//! Load problems: what is wrong in which rule file, where, and how to fix it.
//!
//! Every problem names the file, line and column (1-based, columns counted in characters),
//! carries the offending source line for a caret snippet and, where one helps, a hint such as
//! "did you mean `reply`?". [`Problems`] is the error of a failed load: all problems at once.

use std::fmt;
use std::path::{Path, PathBuf};

/// Stop collecting problems in one file after this many; the rest are summarised in one line.
pub(super) const MAX_PROBLEMS_PER_FILE: usize = 50;

/// One thing wrong with the rule files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The rule file (or the directory, for problems with the directory itself).
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file or directory.
    pub line: usize,
    /// 1-based column in characters; 0 when the problem concerns the whole file or directory.
    pub column: usize,
    /// What is wrong, in words a supervisor understands.
    pub message: String,
    /// How to fix it, when we can tell.
    pub hint: Option<String>,
    /// The source line the problem points into, for the caret snippet.
    pub snippet: Option<String>,
}

impl Problem {
    /// A problem with a whole file or directory (no line or column).
    pub fn whole(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Problem {
            file: file.into(),
            line: 0,
            column: 0,
            message: message.into(),
            hint: None,
            snippet: None,
        }
    }

    /// The same problem with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        // Multi-line messages (e.g. regex errors) keep their shape, indented under the first line.
        let mut lines = self.message.lines();
        write!(f, ": {}", lines.next().unwrap_or(""))?;
        for line in lines {
            write!(f, "\n   | {line}")?;
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "\n   |  {snippet}\n   |  ")?;
            // Keep tabs so the caret lines up under the offending character.
            for c in snippet.chars().take(self.column.saturating_sub(1)) {
                f.write_str(if c == '\t' { "\t" } else { " " })?;
            }
            f.write_str("^")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n   = hint: {hint}")?;
        }
        Ok(())
    }
}

/// All problems found while loading a rule set; the error of [`super::RuleSet::load_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// "3 problems in 2 files" (a directory counts as a file here).
    pub fn total(&self) -> String {
        let files: std::collections::BTreeSet<&Path> =
            self.0.iter().map(|p| p.file.as_path()).collect();
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        format!(
            "{} in {}",
            plural(self.0.len(), "problem"),
            plural(files.len(), "file")
        )
    }
}

/// Every problem, a blank line apart, then the total ("3 problems in 2 files").
impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.0 {
            write!(f, "{problem}\n\n")?;
        }
        f.write_str(&self.total())
    }
}

impl std::error::Error for Problems {}

/// One source file being checked: turns byte offsets into problems with line, column and
/// snippet, and caps how many problems one file may produce.
pub(super) struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
    problems: Vec<Problem>,
    omitted: usize,
}

impl<'a> Source<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            path,
            text,
            line_starts,
            problems: Vec::new(),
            omitted: 0,
        }
    }

    /// A problem at byte `offset` of this file (not recorded; see [`Source::report`]).
    pub fn problem_at(&self, offset: usize, message: impl Into<String>) -> Problem {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        // A byte-order mark is not something the supervisor sees: skip it.
        let mut start = self.line_starts[line - 1];
        if line == 1 && self.text.starts_with('\u{feff}') && offset >= 3 {
            start = 3;
        }
        let end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let text_line = self.text[start..end].trim_end_matches('\r');
        // `offset` may fall inside a multi-byte character only if a span is wrong; be lenient.
        let column = self.text[start..offset.max(start)]
            .char_indices()
            .count()
            .min(text_line.chars().count())
            + 1;
        Problem {
            file: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
            hint: None,
            snippet: Some(text_line.to_owned()),
        }
    }

    /// Record a problem at byte `offset`, with an optional hint.
    pub fn report(&mut self, offset: usize, message: impl Into<String>, hint: Option<String>) {
        let mut problem = self.problem_at(offset, message);
        problem.hint = hint;
        self.push(problem);
    }

    /// Record a finished problem.
    pub fn push(&mut self, problem: Problem) {
        if self.problems.len() < MAX_PROBLEMS_PER_FILE {
            self.problems.push(problem);
        } else {
            self.omitted += 1;
        }
    }

    /// How many problems have been reported in this file so far (kept or not).
    pub fn count(&self) -> usize {
        self.problems.len() + self.omitted
    }

    /// The recorded problems in line order, plus a summary line when some were left out.
    pub fn into_problems(self) -> Vec<Problem> {
        let mut problems = self.problems;
        problems.sort_by_key(|p| (p.line, p.column));
        if self.omitted > 0 {
            problems.push(
                Problem::whole(
                    self.path,
                    format!("… and {} more problems in this file", self.omitted),
                )
                .with_hint("fix the problems above first, then check again"),
            );
        }
        problems
    }
}

/// Edit distance between two words (Levenshtein, over characters, case-insensitive).
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(super) fn closest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let len = word.chars().count();
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, c)| d <= (len.max(c.chars().count()) / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// "did you mean `x`?" for the closest candidate, else a list of what is allowed.
pub(super) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str> + Clone,
    what: &str,
) -> String {
    match closest(word, candidates.clone()) {
        Some(c) => format!("did you mean `{c}`?"),
        None => {
            let all: Vec<String> = candidates.into_iter().map(|c| format!("`{c}`")).collect();
            if all.is_empty() {
                format!("no {what} are defined")
            } else {
                format!("{what}: {}", all.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("reply", "reply"), 0);
        assert_eq!(edit_distance("replly", "reply"), 1);
        assert_eq!(edit_distance("Reply", "reply"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn closest_only_suggests_likely_typos() {
        let keys = ["name", "on", "reply", "once", "continue"];
        assert_eq!(closest("replly", keys), Some("reply"));
        assert_eq!(closest("contnue", keys), Some("continue"));
        assert_eq!(closest("banana", keys), None);
        assert_eq!(
            did_you_mean("banana", ["a", "b"], "allowed keys"),
            "allowed keys: `a`, `b`"
        );
        assert_eq!(did_you_mean("x", [], "teams"), "no teams are defined");
    }

    #[test]
    fn problem_at_computes_line_column_and_snippet() {
        let text = "a = 1\r\n\tb = \"é\" x\n";
        let source = Source::new(Path::new("f.toml"), text);
        let at_x = text.find('x').unwrap();
        let p = source.problem_at(at_x, "bad");
        assert_eq!((p.line, p.column), (2, 10));
        assert_eq!(p.snippet.as_deref(), Some("\tb = \"é\" x"));
        let p = source.problem_at(0, "first");
        assert_eq!((p.line, p.column), (1, 1));
        assert_eq!(p.snippet.as_deref(), Some("a = 1"));
        let end = source.problem_at(text.len(), "end");
        assert_eq!((end.line, end.column), (3, 1));
    }

    #[test]
    fn display_shows_location_snippet_caret_and_hint() {
        let text = "[[rule]]\nname = \"greeting\"\n  replly = \"Hi\"\n";
        let source = Source::new(Path::new("rules/20-faq.toml"), text);
        let mut p = source.problem_at(
            text.find("replly").unwrap(),
            "unknown key `replly` in rule \"greeting\"",
        );
        p.hint = Some("did you mean `reply`?".into());
        assert_eq!(
            p.to_string(),
            "rules/20-faq.toml:3:3: unknown key `replly` in rule \"greeting\"\n   |    replly = \"Hi\"\n   |    ^\n   = hint: did you mean `reply`?"
        );
        let whole = Problem::whole("rules", "no rule files in rules");
        assert_eq!(whole.to_string(), "rules: no rule files in rules");
        let other = Problem::whole("rules/b.toml", "bad");
        let all = Problems(vec![whole.clone(), whole, other]);
        assert_eq!(
            all.to_string(),
            "rules: no rule files in rules\n\nrules: no rule files in rules\n\nrules/b.toml: bad\n\n3 problems in 2 files"
        );
        let one = Problems(vec![Problem::whole("rules/b.toml", "bad")]);
        assert_eq!(one.total(), "1 problem in 1 file");
    }

    #[test]
    fn source_caps_problems_per_file() {
        let mut source = Source::new(Path::new("f.toml"), "x");
        for _ in 0..MAX_PROBLEMS_PER_FILE + 7 {
            source.report(0, "bad", None);
        }
        let problems = source.into_problems();
        assert_eq!(problems.len(), MAX_PROBLEMS_PER_FILE + 1);
        assert!(problems.last().unwrap().message.contains("7 more problems"));
    }
}
