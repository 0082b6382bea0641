//! Rules benchmark: how long loading and validating a large rule set takes, and how long
//! matching one customer message takes as the number of rules grows.
//!
//! Reports
//! - load + validate 10,000 rules (10 files of 1,000 `message` rules, each with keywords and
//!   an example), read from a directory like the daemon does;
//! - load + validate 1,000 regex rules (median of 5);
//! - median time to evaluate one message against 10,000 keyword rules and against 1,000
//!   regex rules (all rules are indexed together: one Aho-Corasick pass over the keywords, one
//!   over the regexes' prefix literals, then only the regexes whose literal occurs), with the
//!   same at 1,000 and 100 rules to show how the cost grows. Every message is new to the
//!   matcher (no warm-up pass), as a customer's message is.
//!
//! Run with `cargo bench --bench rules`. Bounded: fixed sizes, a few seconds in all.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use gws_botd::event::{ChatId, UserData};
use gws_botd::responder::rules::RuleSet;
use gws_botd::responder::{ChatView, Outcome, Trigger};

const FILES: usize = 10;
const MESSAGES: usize = 2_000;

fn keyword_rule(i: usize) -> String {
    format!(
        "[[rule]]\nname = \"kw-{i}\"\non = \"message\"\nmatch.keywords = [\"product{i} price\", \"about item{i}\"]\nreply = \"Answer {i} for {{customer}}.\"\nexamples.match = [\"what is the product{i} price?\"]\n\n"
    )
}

fn regex_rule(i: usize) -> String {
    format!(
        "[[rule]]\nname = \"re-{i}\"\non = \"message\"\nmatch.regex = '(?i)\\border[- ]?{i}\\b|\\bref{i}x\\d+'\nreply = \"Order {i}.\"\n\n"
    )
}

fn files(rules: usize, make: fn(usize) -> String) -> Vec<(PathBuf, String)> {
    let per_file = rules.div_ceil(FILES);
    (0..FILES)
        .map(|f| {
            let text: String = (f * per_file..((f + 1) * per_file).min(rules))
                .map(make)
                .collect();
            (PathBuf::from(format!("rules/{f:02}.toml")), text)
        })
        .filter(|(_, t)| !t.is_empty())
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn match_time(set: &RuleSet, messages: &[String], expect_hits: bool) -> Duration {
    let id = ChatId::from("bench");
    let fired = HashSet::new();
    let data = UserData::new();
    let chat = ChatView {
        id: &id,
        message_id: None,
        recent: &[],
        customer: Some("Kim"),
        bot: "Ava",
        user_data: &data,
        turn: 1,
        unanswered: 0,
        fired: &fired,
        awaiting: None,
        now: jiff::Timestamp::UNIX_EPOCH,
    };
    let mut samples = Vec::with_capacity(messages.len());
    let mut hits = 0;
    for text in messages {
        let trigger = Trigger::Message { text: text.clone() };
        let start = Instant::now();
        let outcome = set.evaluate(&chat, &trigger);
        samples.push(start.elapsed());
        hits += usize::from(matches!(outcome, Outcome::Act(_)));
    }
    if expect_hits {
        assert!(hits > messages.len() / 3, "the messages should match rules");
    }
    median(samples)
}

fn messages(n: usize, rules: usize, kind: &str) -> Vec<String> {
    (0..n)
        .map(|k| {
            let i = (k * 7919) % rules;
            match (kind, k % 3) {
                ("kw", 0) => format!("Hello, what's the product{i} price today?"),
                ("kw", 1) => format!("I have a question about item{i}, please"),
                ("re", 0) => format!("Where is my ORDER-{i}? It has been a week."),
                ("re", 1) => format!("my reference is ref{i}x2025"),
                _ => "Nothing in here matches any of the rules at all, sorry.".to_owned(),
            }
        })
        .collect()
}

fn main() {
    // Load + validate from a directory, like the daemon.
    let dir = std::env::temp_dir().join(format!("gws-botd-bench-rules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (path, text) in files(10_000, keyword_rule) {
        std::fs::write(dir.join(path.file_name().unwrap()), text).unwrap();
    }
    let mut loads = Vec::new();
    let mut set = None;
    for _ in 0..5 {
        let start = Instant::now();
        set = Some(RuleSet::load_dir(&dir).unwrap_or_else(|e| panic!("{e}")));
        loads.push(start.elapsed());
    }
    let _ = std::fs::remove_dir_all(&dir);
    let keyword_set = set.unwrap();
    println!(
        "load + validate 10,000 keyword rules ({}): median {:.1?} of 5",
        keyword_set.summary(),
        median(loads)
    );
    let regex_files = files(1_000, regex_rule);
    let mut loads = Vec::new();
    let mut set = None;
    for _ in 0..5 {
        let start = Instant::now();
        set = Some(RuleSet::from_sources(&regex_files).unwrap_or_else(|e| panic!("{e}")));
        loads.push(start.elapsed());
    }
    let regex_set = set.unwrap();
    println!(
        "load + validate 1,000 regex rules: median {:.1?} of 5",
        median(loads)
    );

    println!("\nmedian time to evaluate one message ({MESSAGES} messages, 2/3 match a rule):");
    for rules in [100, 1_000, 10_000] {
        let built;
        let set = if rules == 10_000 {
            &keyword_set
        } else {
            built = RuleSet::from_sources(&files(rules, keyword_rule))
                .unwrap_or_else(|e| panic!("{e}"));
            &built
        };
        let t = match_time(set, &messages(MESSAGES, rules, "kw"), true);
        println!("  {rules:>6} keyword rules: {t:.1?}");
    }
    for rules in [100, 1_000] {
        let set = if rules == 1_000 {
            None
        } else {
            Some(RuleSet::from_sources(&files(rules, regex_rule)).unwrap_or_else(|e| panic!("{e}")))
        };
        let set = set.as_ref().unwrap_or(&regex_set);
        let t = match_time(set, &messages(MESSAGES, rules, "re"), true);
        println!("  {rules:>6} regex rules:   {t:.1?}");
    }
}
