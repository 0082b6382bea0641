//! Hardening, as an operator meets it through the real binary and the real daemon: secrets
//! never reach any output (a rule-file symlink to a credential, a TOML error on the password
//! line, a URL with user info), plain HTTP to a remote host and disabled TLS verification are
//! refused or reported, the rule set has limits, and a server inventing notification types
//! cannot grow the daemon's memory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arc_swap::ArcSwap;
use gws_botd::runtime::daemon;
use gws_botd::sim::{Sim, SimConfig};
use gws_botd::telemetry::stats::Stats;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::capture::Capture;
use crate::support::{RULES, rules_dir, sim_config, tuning, wait_until};

/// Distinctive, so that any occurrence in the output is a leak and not a coincidence.
const SECRET: &str = "Pw-3f9c2a71-leak";

const RULE: &str = "[[rule]]\nname = \"hi\"\non = \"accept\"\nreply = \"Hi.\"\n";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gws-botd-hard-{}-{name}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `gws-botd <args>` with no environment that could name another configuration.
fn gws_botd(args: &[&str], config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gws-botd"))
        .args(["--config"])
        .arg(config)
        .args(args)
        .env_remove("GWS_BOTD_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env("GWS_BOTD__BOT__STATE_DIR", config.with_extension("state"))
        .output()
        .unwrap()
}

/// Both streams of `out`, and whether `SECRET` is in neither.
fn all_output(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains(SECRET),
        "the secret is in the output:\n{text}"
    );
    text
}

/// A configuration file `name` in `dir` with the given `[gws]` lines and a rules directory.
fn config_named(dir: &Path, name: &str, gws: &str) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    if !rules.join("10-hi.toml").exists() {
        std::fs::write(rules.join("10-hi.toml"), RULE).unwrap();
    }
    let file = dir.join(name);
    std::fs::write(
        &file,
        format!(
            "[gws]\n{gws}\n[bot]\nnickname = \"Ava\"\nrules = \"{}\"\n",
            rules.display()
        ),
    )
    .unwrap();
    file
}

/// [`config_named`] `gws-botd.toml`.
fn config(dir: &Path, gws: &str) -> PathBuf {
    config_named(dir, "gws-botd.toml", gws)
}

const LOCAL: &str = "api_url = \"http://127.0.0.1:9/api/v2\"\nusername = \"bot01\"";

/// A rule file that links to a credential outside the rules directory is refused with exit
/// 78, naming the link and never showing the credential, by `check` and by `run`.
#[test]
fn a_rule_link_to_a_credential_is_refused_without_showing_it() {
    let dir = scratch("link");
    let credential = dir.join("gws-password");
    std::fs::write(&credential, format!("{SECRET}\n")).unwrap();
    let file = config(&dir, &format!("{LOCAL}\npassword = \"x\""));
    let link = dir.join("rules").join("20-faq.toml");
    std::os::unix::fs::symlink(&credential, &link).unwrap();
    for args in [&["check", "--offline"][..], &["run"]] {
        let out = gws_botd(args, &file);
        let text = all_output(&out);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {text}");
        assert!(
            text.contains("20-faq.toml"),
            "{args:?} names the link: {text}"
        );
        assert!(text.contains("outside the rules directory"), "{text}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The Kubernetes ConfigMap layout (`name.toml -> ..data/name.toml`, `..data -> ..<stamp>`)
/// keeps working: its links stay inside the directory.
#[test]
fn configmap_links_inside_the_directory_are_followed() {
    let dir = scratch("configmap");
    let file = config(&dir, &format!("{LOCAL}\npassword = \"x\""));
    let rules = dir.join("rules");
    std::fs::remove_file(rules.join("10-hi.toml")).unwrap();
    let stamp = rules.join("..2025_01_01_00_00_00.1");
    std::fs::create_dir_all(&stamp).unwrap();
    std::fs::write(stamp.join("10-hi.toml"), RULE).unwrap();
    std::os::unix::fs::symlink("..2025_01_01_00_00_00.1", rules.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/10-hi.toml", rules.join("10-hi.toml")).unwrap();
    let out = gws_botd(&["check", "--offline"], &file);
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("1 file, 1 rule"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A TOML syntax error on the password line names the key, not the value; an `api_url` with
/// user info is refused without echoing it. Both exit 78, from `check` and `run`.
#[test]
fn configuration_errors_never_show_the_password() {
    let dir = scratch("syntax");
    let broken = config(&dir, &format!("{LOCAL}\npassword = \"{SECRET}"));
    let user_info = config_named(
        &dir,
        "user-info.toml",
        &format!(
            "api_url = \"https://bot01:{SECRET}@gws.example/api/v2\"\nusername = \"bot01\"\npassword = \"x\""
        ),
    );
    for args in [&["check", "--offline"][..], &["run"]] {
        let out = gws_botd(args, &broken);
        let text = all_output(&out);
        assert_eq!(out.status.code(), Some(78), "{text}");
        assert!(
            text.contains("the value of `password` is not shown"),
            "{text}"
        );
        let out = gws_botd(args, &user_info);
        let text = all_output(&out);
        assert_eq!(out.status.code(), Some(78), "{text}");
        assert!(
            text.contains("must not contain a user name or password"),
            "{text}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `http://` to a remote host is refused (78) unless allowed, and then warned about; TLS
/// verification turned off is reported by `check`.
#[test]
fn plain_http_and_disabled_tls_verification_are_reported() {
    let dir = scratch("transport");
    let remote =
        "api_url = \"http://gws.example:8080/api/v2\"\nusername = \"bot01\"\npassword = \"x\"";
    let out = gws_botd(&["check", "--offline"], &config(&dir, remote));
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(text.contains("plain http:// to gws.example"), "{text}");

    let allowed = format!("{remote}\nallow_plain_http = true\ndanger_accept_invalid_certs = true");
    let out = gws_botd(&["check", "--offline"], &config(&dir, &allowed));
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("WARNING: gws.allow_plain_http = true"),
        "{text}"
    );
    assert!(
        text.contains("WARNING: gws.danger_accept_invalid_certs = true"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// More rule files than allowed, and regexes too large together, are clear errors (exit 78).
#[test]
fn rule_sets_have_limits() {
    let dir = scratch("limits");
    let many = dir.join("many");
    std::fs::create_dir_all(&many).unwrap();
    for n in 0..=gws_botd::responder::rules::MAX_FILES {
        std::fs::write(many.join(format!("{n:04}.toml")), "").unwrap();
    }
    let out = gws_botd(
        &["check", "--rules", many.to_str().unwrap()],
        &dir.join("none"),
    );
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(
        text.contains("1001 rule files; a rules directory may hold at most 1000"),
        "{text}"
    );

    // Each pattern is within the limit of one regex; together they exceed the set's 32 MiB.
    let big = dir.join("big");
    std::fs::create_dir_all(&big).unwrap();
    let rules: String = (0..200)
        .map(|n| {
            format!(
                "[[rule]]\nname = \"r{n}\"\non = \"message\"\nmatch.regex = 'x{n}\\w{{20}}'\nreply = \"ok\"\n\n"
            )
        })
        .collect();
    std::fs::write(big.join("rules.toml"), rules).unwrap();
    let out = gws_botd(
        &["check", "--rules", big.to_str().unwrap()],
        &dir.join("none"),
    );
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(text.contains("compile to more than 32 MiB"), "{text}");
    assert!(
        text.contains("the largest: rule \"r"),
        "names rules: {text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `gws-botd check --rules <dir>` on `dir/name/rules.toml` holding `rules`.
fn check_rules(dir: &Path, name: &str, rules: &str) -> (Option<i32>, String) {
    let rules_dir = dir.join(name);
    std::fs::create_dir_all(&rules_dir).unwrap();
    std::fs::write(rules_dir.join("rules.toml"), rules).unwrap();
    let out = gws_botd(
        &["check", "--rules", rules_dir.to_str().unwrap()],
        &dir.join("none"),
    );
    let text = all_output(&out);
    (out.status.code(), text)
}

/// The size limit holds for each regex, a `match.regex` or a `when.user_data` condition (the
/// error names the file, line and rule), and for all of them together, the conditions'
/// included (the error names the rules with the largest).
#[test]
fn each_regex_and_all_regexes_together_have_a_size_limit() {
    let dir = scratch("regex-limits");
    let huge = r"\w{1000}\w{1000}\w{1000}";
    let one = format!(
        "[[rule]]\nname = \"huge\"\non = \"message\"\nmatch.regex = '{huge}'\nreply = \"ok\"\n"
    );
    let (code, text) = check_rules(&dir, "one", &one);
    assert_eq!(code, Some(78), "{text}");
    assert!(text.contains("rules.toml:4:"), "{text}");
    assert!(
        text.contains("the regex in rule \"huge\" is too large once compiled (limit: 1 MiB)"),
        "{text}"
    );

    let condition = format!(
        "[[rule]]\nname = \"huge-subject\"\non = \"accept\"\n\
         when.user_data = {{ Subject = {{ regex = '{huge}' }} }}\nreply = \"ok\"\n"
    );
    let (code, text) = check_rules(&dir, "condition", &condition);
    assert_eq!(code, Some(78), "{text}");
    assert!(text.contains("rules.toml:4:"), "{text}");
    assert!(
        text.contains(
            "the regex in rule \"huge-subject\" is too large once compiled (limit: 1 MiB)"
        ),
        "{text}"
    );

    // Each condition is within the limit of one regex; together they exceed 32 MiB.
    let conditions: String = (0..200)
        .map(|n| {
            format!(
                "[[rule]]\nname = \"subject{n}\"\non = \"accept\"\n\
                 when.user_data = {{ Subject = {{ regex = 'x{n}\\w{{20}}' }} }}\nreply = \"ok\"\n\n"
            )
        })
        .collect();
    let (code, text) = check_rules(&dir, "conditions", &conditions);
    assert_eq!(code, Some(78), "{text}");
    assert!(text.contains("compile to more than 32 MiB"), "{text}");
    assert!(text.contains("the largest: rule \"subject"), "{text}");
    // Fewer of them fit (each compiles to about 350 KiB).
    let fewer: String = conditions
        .split("\n\n")
        .take(80)
        .collect::<Vec<_>>()
        .join("\n\n");
    let (code, text) = check_rules(&dir, "fewer", &fewer);
    assert_eq!(code, Some(0), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A server that invents a new notification type per message: every one is counted, the
/// first 256 are logged once each, then one line says the rest are not; the bot carries on.
/// (A current-thread runtime: the daemon's tasks run where the capture is the default.)
#[tokio::test]
async fn unknown_notification_types_are_remembered_up_to_a_bound() {
    let (capture, guard) = Capture::start();
    let sim_config = SimConfig {
        dialect: gws_botd::sim::SimDialect::Interactions,
        ..sim_config()
    };
    let sim = Sim::start(sim_config.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let control = sim.control();
    let dir = rules_dir(RULES);
    let config = gws_botd::cli::demo::daemon_config(&sim, &sim_config, &dir);
    let rules = Arc::new(ArcSwap::from_pointee(daemon::load_rules(&config).unwrap()));
    let stats = Arc::new(Stats::default());
    let stop = CancellationToken::new();
    let task = tokio::spawn(daemon::run(
        config.clone(),
        daemon::build_chain(&config, &rules).expect("the chain builds"),
        tuning(),
        stats.clone(),
        stop.clone(),
    ));
    wait_until("Ready", || {
        control
            .requests()
            .into_iter()
            .find(|r| r.operation.as_deref() == Some("Ready"))
    })
    .await;
    let types = daemon::MAX_UNKNOWN_TYPES + 44;
    for n in 0..types {
        control.inject(
            "bot01",
            "/v2/me/interactions",
            json!({"messageType": format!("Invented{n}")}),
        );
    }
    // Notifications are handled in order: once this chat is greeted, all were seen.
    let chat = control.create_chat(gws_botd::sim::ChatSpec {
        customer: "Pat".into(),
        ..Default::default()
    });
    wait_until("the greeting", || {
        let c = control.chat(&chat)?;
        c.transcript
            .iter()
            .any(|e| e.kind == "Text" && e.from_type == "Agent")
            .then_some(())
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(stats.snapshot().notifications_unknown, types as u64);
    let text = capture.text();
    let logged = text
        .lines()
        .filter(|l| l.contains("unknown notification type (logged once per type)"))
        .count();
    assert_eq!(logged, daemon::MAX_UNKNOWN_TYPES);
    let full = text
        .lines()
        .filter(|l| l.contains("further new ones are counted, not logged"))
        .count();
    assert_eq!(full, 1);
}
