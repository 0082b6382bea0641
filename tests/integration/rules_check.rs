//! `gws-botd check` on the mistakes supervisors make, as they run it: each problem where it
//! is and how to fix it, a total at the end, and for a failing test a `simulate` command that
//! works when pasted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::bin_without_config;

/// A copy of the shipped rules in a fresh directory, with `file` edited by `edit`.
fn shipped_with(name: &str, file: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gws-botd-check-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules");
    for entry in std::fs::read_dir(shipped).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit applies");
    std::fs::write(&path, edited).unwrap();
    dir
}

fn check(dir: &Path) -> (Option<i32>, String) {
    let out: Output = bin_without_config()
        .args(["check", "--rules"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.stdout.is_empty() || out.status.success());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn curly_quotes_are_named_and_the_other_files_stay_quiet() {
    let dir = shipped_with("curly", "20-faq.toml", |t| {
        t.replace(
            "reply = \"You can reset your password",
            "reply = “You can reset your password",
        )
    });
    let (code, err) = check(&dir);
    assert_eq!(code, Some(78));
    assert!(
        err.contains("20-faq.toml:33:9: this is not valid TOML"),
        "{err}"
    );
    assert!(err.contains("curly quotes"), "{err}");
    assert!(
        !err.contains("unknown rule"),
        "no cascade into other files:\n{err}"
    );
    assert!(err.ends_with("\n\n1 problem in 1 file\n"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unclosed_list_is_reported_on_its_own_line() {
    let dir = shipped_with("bracket", "20-faq.toml", |t| {
        t.replacen("\"where is my parcel\"]\n", "\"where is my parcel\"\n", 1)
    });
    let (code, err) = check(&dir);
    assert_eq!(code, Some(78));
    assert!(
        err.contains("20-faq.toml:21:18: this `[` is never closed"),
        "{err}"
    );
    assert!(err.contains("add the closing `]` of this list"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stolen_example_names_the_rule_that_steals_it() {
    let dir = shipped_with("stolen", "20-faq.toml", |t| {
        t.replacen(
            "[[rule]]\nname = \"delivery\"",
            "[[rule]]\nname = \"any-question\"\non = \"message\"\nmatch.regex = '\\?\\s*$'\nreply = \"Good question!\"\n\n[[rule]]\nname = \"delivery\"",
            1,
        )
    });
    let (code, err) = check(&dir);
    assert_eq!(code, Some(78));
    assert!(
        err.contains("the example \"How long does shipping take?\" is answered by the earlier rule \"any-question\""),
        "{err}"
    );
    assert!(err.ends_with("problems in 2 files\n"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_test_prints_a_simulate_command_that_runs_as_pasted() {
    let dir = shipped_with("replies", "10-greeting.toml", |t| {
        t.replace(
            "    \"You're welcome! Have a nice day.\",",
            "    \"You are welcome! Have a nice day.\",",
        )
    });
    let (code, err) = check(&dir);
    assert_eq!(code, Some(78));
    assert!(
        err.contains("expected replies:\n   |   1. \"Hi Kim, I'm Bot"),
        "{err}"
    );
    assert!(
        err.contains("   |   2. \"You're welcome! Have a nice day.\""),
        "{err}"
    );
    let command = err
        .lines()
        .find_map(|l| l.split_once("to see why, run: ").map(|(_, c)| c.to_owned()))
        .expect("a simulate command");
    assert!(command.contains("--customer Kim"), "{command}");
    let exe = env!("CARGO_BIN_EXE_gws-botd");
    let out = Command::new("sh")
        .arg("-c")
        .arg(command.replace("gws-botd simulate", &format!("'{exe}' simulate")))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("failing tests (simulated anyway"),
        "{stdout}"
    );
    assert!(
        stdout.contains("bot [goodbye]: You're welcome! Have a nice day."),
        "{stdout}"
    );
    assert!(
        stdout.contains("? message rule \"goodbye\": acts"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
