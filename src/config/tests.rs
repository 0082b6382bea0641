//! Tests of loading and checking the configuration.

use super::check::BOT_KEYS;
use super::files::PROBE as PROBE_NAME;
use super::gws::resolve_password;
use super::reader::{closest, parse_size};
use super::*;
use secrecy::ExposeSecret;

fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, Problems> {
    let dir = std::env::temp_dir().join(format!(
        "gws-botd-config-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gws-botd.toml");
    std::fs::write(&file, toml).unwrap();
    let result = Config::load_from(&Sources {
        file: Some(file),
        env: Some(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        credentials_dir: Some(dir.join("no-credentials")),
        ..Sources::default()
    });
    std::fs::remove_dir_all(&dir).ok();
    result
}

const GOOD: &str = r#"
    [gws]
    api_url = "http://127.0.0.1:8090/api/v2"
    username = "bot01"
    password = "s3cret"
    [bot]
    nickname = "Ava"
    rules = "rules"
"#;

#[test]
fn a_minimal_file_gets_defaults() {
    let c = load(GOOD, &[]).unwrap();
    assert_eq!(c.gws.api_url, "http://127.0.0.1:8090/api/v2");
    assert_eq!(c.gws.request_timeout, DEFAULT_REQUEST_TIMEOUT);
    assert_eq!(c.gws.dialect, crate::gws::Choice::Auto);
    assert_eq!(c.bot.max_chats, DEFAULT_MAX_CHATS);
    assert_eq!(
        c.bot.state_dir,
        PathBuf::from(crate::store::state::DEFAULT_STATE_DIR)
    );
    assert_eq!(c.bot.max_message_chars, DEFAULT_MAX_MESSAGE_CHARS);
    assert_eq!(
        c.bot.max_requests_per_second,
        DEFAULT_MAX_REQUESTS_PER_SECOND
    );
    assert_eq!(c.responders, vec![ResponderConfig::default()]);
    assert_eq!(c.escalation, EscalationTexts::default());
    assert_eq!(c.bot.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
}

#[test]
fn environment_overrides_the_file() {
    let c = load(
        GOOD,
        &[
            ("GWS_BOTD__GWS__PASSWORD", "from-env"),
            ("GWS_BOTD__BOT__MAX_CHATS", "7"),
            ("GWS_BOTD__BOT__STATE_DIR", "/srv/botd"),
            ("GWS_BOTD__BOT__MAX_REQUESTS_PER_SECOND", "0"),
        ],
    )
    .unwrap();
    assert_eq!(c.gws.password.expose_secret(), "from-env");
    assert_eq!(c.bot.max_chats, 7);
    assert_eq!(c.bot.state_dir, PathBuf::from("/srv/botd"));
    assert_eq!(c.bot.max_requests_per_second, 0);
}

#[test]
fn every_problem_is_reported_at_once() {
    let bad = r#"
        [gws]
        api_url = "gws.example/api/v2"
        usrname = "bot01"
        request_timeout = "soon"
        dialect = "chat"
        [bot]
        nickname = "Ava"
        rules = "rules"
        max_chats = 0
        [bott]
    "#;
    let problems = load(bad, &[]).unwrap_err().0;
    let all = problems.join("\n");
    assert!(
        all.contains("gws.api_url: \"gws.example/api/v2\" must start with http://"),
        "{all}"
    );
    assert!(all.contains("gws.username: missing"), "{all}");
    assert!(
        all.contains("gws.usrname") && all.contains("did you mean `username`"),
        "{all}"
    );
    assert!(
        all.contains("gws.request_timeout") && all.contains("must be a duration"),
        "{all}"
    );
    assert!(
        all.contains("bot.max_chats") && all.contains("from 1 to 100000"),
        "{all}"
    );
    assert!(all.contains("gws.password: missing"), "{all}");
    assert!(
        all.contains("bott") && all.contains("did you mean [bot]"),
        "{all}"
    );
    assert!(
        all.contains("gws.dialect: unknown GWS dialect `chat` (known: interactions, chats, auto)"),
        "{all}"
    );
    assert_eq!(problems.len(), 8, "{all}");
}

#[test]
fn the_password_never_shows_in_debug_output() {
    let c = load(GOOD, &[]).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
}

#[test]
fn password_file_and_credentials_directory() {
    let dir = std::env::temp_dir().join(format!("gws-botd-cred-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(CREDENTIAL_NAME), "from-credential\n").unwrap();
    let mut problems = Vec::new();
    let p = resolve_password(None, None, Some(&dir), &mut problems, &mut Vec::new()).unwrap();
    assert_eq!(p.expose_secret(), "from-credential");
    let file = dir.join(CREDENTIAL_NAME).display().to_string();
    let p = resolve_password(None, Some(file), None, &mut problems, &mut Vec::new()).unwrap();
    assert_eq!(p.expose_secret(), "from-credential");
    assert!(problems.is_empty());
    resolve_password(
        Some("a".into()),
        Some("b".into()),
        None,
        &mut problems,
        &mut Vec::new(),
    );
    assert_eq!(problems.len(), 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn observability_keys_are_checked() {
    let c = load(GOOD, &[]).unwrap();
    assert_eq!(c.http.listen, None);
    assert_eq!(c.bot.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
    assert_eq!(c.decision_log, DecisionLog::default());
    let good = format!(
        "{GOOD}\n[http]\nlisten = \"127.0.0.1:9464\"\n[decision_log]\nmax_file_size = \"1MiB\"\n\
         max_files = 3\ninclude_customer_text = true\nenabled = false\n"
    )
    .replace(
        "rules = \"rules\"",
        "rules = \"rules\"\nstate_dir = \"/tmp/x\"",
    );
    let c = load(&good, &[]).unwrap();
    assert_eq!(c.http.listen, Some("127.0.0.1:9464".parse().unwrap()));
    assert_eq!(c.bot.state_dir, PathBuf::from("/tmp/x"));
    assert_eq!(
        c.decision_log,
        DecisionLog {
            enabled: false,
            max_file_size: 1 << 20,
            max_files: 3,
            include_customer_text: true
        }
    );
    let bad = format!(
        "{GOOD}\n[http]\nlisten = \"localhost\"\n[decision_log]\nmax_file_size = \"huge\"\nmax_files = 0\nkeep = 1\n"
    );
    let all = load(&bad, &[]).unwrap_err().0.join("\n");
    assert!(
        all.contains("http.listen: \"localhost\" is not an address"),
        "{all}"
    );
    assert!(all.contains("decision_log.max_file_size"), "{all}");
    assert!(all.contains("decision_log.max_files"), "{all}");
    assert!(all.contains("decision_log.keep: unknown key"), "{all}");
}

/// A syntax error on a line holding a secret names the key, never the value; elsewhere
/// the line is shown.
#[test]
fn syntax_errors_never_show_a_secret() {
    for (toml, key) in [
        ("[gws]\npassword = \"Pw-77ab\n", Some("password")),
        ("[gws]\npassword = Pw-77ab\n", Some("password")),
        ("[gws]\napi_token = \"Pw-77ab\\q\"\n", Some("api_token")),
        ("[gws.secrets]\nfoo = Pw-77ab\n", None),
        ("[gws]\npassword = \"\"\"\nPw-77ab\n\"\"\" x\n", None),
        ("[gws]\nPw-77ab\n", None),
    ] {
        let problems = load(toml, &[]).unwrap_err().0.join("\n");
        assert!(!problems.contains("Pw-77ab"), "{toml:?}: {problems}");
        assert!(problems.contains("not valid TOML"), "{problems}");
        if let Some(key) = key {
            assert!(
                problems.contains(&format!("value of `{key}` is not shown")),
                "{problems}"
            );
        } else {
            assert!(problems.contains("not shown"), "{problems}");
        }
    }
    let problems = load("[bot]\nnickname = Ava\n", &[])
        .unwrap_err()
        .0
        .join("\n");
    assert!(problems.contains(":2:12: not valid TOML"), "{problems}");
    assert!(problems.contains("| nickname = Ava"), "{problems}");
}

#[test]
fn api_urls_with_user_info_are_refused_without_echo() {
    let text = GOOD.replace("http://127.0.0.1:8090", "https://bot01:Pw-77ab@gws.example");
    let problems = load(&text, &[]).unwrap_err().0.join("\n");
    assert!(
        problems.contains("must not contain a user name or password"),
        "{problems}"
    );
    assert!(!problems.contains("Pw-77ab"), "{problems}");
    let text = GOOD.replace("http://127.0.0.1:8090", "bot01:Pw-77ab@gws.example");
    let problems = load(&text, &[]).unwrap_err().0.join("\n");
    assert!(!problems.contains("Pw-77ab"), "{problems}");
    assert_eq!(redact_url("https://u:p@h:1/x@y"), "https://***@h:1/x@y");
}

#[test]
fn plain_http_goes_to_this_machine_only_unless_allowed() {
    for local in [
        "http://127.0.0.1:8090",
        "http://localhost:8090",
        "http://[::1]:8090",
    ] {
        let c = load(&GOOD.replace("http://127.0.0.1:8090", local), &[]).unwrap();
        assert!(c.warnings.is_empty(), "{local}: {:?}", c.warnings);
    }
    let remote = GOOD.replace("http://127.0.0.1:8090", "http://gws.example:8080");
    let problems = load(&remote, &[]).unwrap_err().0.join("\n");
    assert!(
        problems.contains("plain http:// to gws.example"),
        "{problems}"
    );
    assert!(problems.contains("gws.allow_plain_http"), "{problems}");
    let allowed = remote.replace("username", "allow_plain_http = true\nusername");
    let c = load(&allowed, &[]).unwrap();
    assert!(c.gws.allow_plain_http);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].contains("clear text"), "{:?}", c.warnings);
    let https = GOOD.replace("http://127.0.0.1:8090", "https://gws.example");
    assert!(load(&https, &[]).unwrap().warnings.is_empty());
}

#[test]
fn a_password_file_readable_by_others_is_warned_about() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("gws-botd-pwmode-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("password");
    std::fs::write(&file, "Pw-77ab\n").unwrap();
    let text = GOOD.replace(
        "password = \"s3cret\"",
        &format!("password_file = \"{}\"", file.display()),
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let c = load(&text, &[]).unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].contains("(mode 0644)"), "{:?}", c.warnings);
    assert!(!c.warnings[0].contains("Pw-77ab"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(load(&text, &[]).unwrap().warnings[0].contains("its group (mode 0640)"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(load(&text, &[]).unwrap().warnings.is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_response_size_limit_takes_human_sizes() {
    assert_eq!(load(GOOD, &[]).unwrap().gws.max_response_size, 16 << 20);
    let text = GOOD.replace("username", "max_response_size = \"4MiB\"\nusername");
    assert_eq!(load(&text, &[]).unwrap().gws.max_response_size, 4 << 20);
    let text = GOOD.replace("username", "max_response_size = \"1kB\"\nusername");
    let problems = load(&text, &[]).unwrap_err().0.join("\n");
    assert!(problems.contains("gws.max_response_size"), "{problems}");
}

#[test]
fn sizes() {
    assert_eq!(parse_size("16MiB"), Some(16 << 20));
    assert_eq!(parse_size("500 kB"), Some(500_000));
    assert_eq!(parse_size("42"), Some(42));
    assert_eq!(parse_size("12 parsecs"), None);
    assert_eq!(parse_size("MiB"), None);
}

#[test]
fn typo_suggestions() {
    assert_eq!(closest("nickame", BOT_KEYS), Some("nickname"));
    assert_eq!(closest("zzz", BOT_KEYS), None);
}

#[test]
fn the_api_url_must_be_the_api_root() {
    for url in [
        "https://gws.example",
        "https://gws.example/api",
        "https://gws.example/api/v2?x=1",
    ] {
        let text = GOOD.replace("http://127.0.0.1:8090/api/v2", url);
        let all = load(&text, &[]).unwrap_err().0.join("\n");
        assert!(
            all.contains("must be the API root ending in /api/v2"),
            "{all}"
        );
        assert!(all.contains("\"https://gws.example/api/v2\""), "{all}");
    }
    let text = GOOD.replace("8090/api/v2", "8090/gws/api/v2/");
    assert_eq!(
        load(&text, &[]).unwrap().gws.api_url,
        "http://127.0.0.1:8090/gws/api/v2"
    );
}

#[test]
fn unknown_keys_under_a_responder_are_refused() {
    let text = format!("{GOOD}\n[[responder]]\ntype = \"rules\"\ndir = \"x\"\n");
    let all = load(&text, &[]).unwrap_err().0.join("\n");
    assert!(all.contains("responder[1].dir"), "{all}");
    assert!(all.contains("unknown key"), "{all}");
    let text = format!("{GOOD}\n[[responder]]\ntype = \"rulez\"\n");
    let all = load(&text, &[]).unwrap_err().0.join("\n");
    assert!(
        all.contains("responder[1]") && all.contains("rulez"),
        "{all}"
    );
    let text = format!("{GOOD}\n[[responder]]\ntype = \"rules\"\n");
    assert_eq!(
        load(&text, &[]).unwrap().responders,
        vec![ResponderConfig::rules()]
    );
}

#[test]
fn watch_rules_is_on_unless_turned_off() {
    assert!(load(GOOD, &[]).unwrap().bot.watch_rules);
    let off = GOOD.replace(
        "rules = \"rules\"",
        "rules = \"rules\"\nwatch_rules = false",
    );
    assert!(!load(&off, &[]).unwrap().bot.watch_rules);
}

#[test]
fn files_the_configuration_names_are_checked() {
    let dir = std::env::temp_dir().join(format!("gws-botd-files-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let with = |extra_gws: &str, state_dir: &Path| {
        let text = GOOD
            .replace("username", &format!("{extra_gws}\nusername"))
            .replace(
                "rules = \"rules\"",
                &format!("rules = \"rules\"\nstate_dir = \"{}\"", state_dir.display()),
            );
        load(&text, &[]).unwrap().check_files()
    };
    // A state directory that does not exist yet but can be created: fine, and not created.
    let fresh = dir.join("a/b/state");
    assert_eq!(with("", &fresh), Ok(()));
    assert!(!dir.join("a").exists(), "checking creates nothing");
    assert_eq!(with("", &dir), Ok(()));
    assert!(!dir.join(PROBE_NAME).exists(), "the probe is removed");
    // Under a file, or where nothing may be written.
    std::fs::write(dir.join("file"), "x").unwrap();
    let all = with("", &dir.join("file/state")).unwrap_err().0.join("\n");
    assert!(
        all.contains("bot.state_dir") && all.contains("is not a directory"),
        "{all}"
    );
    let all = with("", Path::new("/proc/gws-botd-state"))
        .unwrap_err()
        .0
        .join("\n");
    assert!(all.contains("cannot be created in /proc"), "{all}");
    // The CA file: missing, or not PEM.
    let ca = dir.join("ca.pem");
    let key = format!("tls_ca_file = \"{}\"", ca.display());
    let all = with(&key, &dir).unwrap_err().0.join("\n");
    assert!(all.contains("gws.tls_ca_file: cannot read"), "{all}");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    let all = with(&key, &dir).unwrap_err().0.join("\n");
    assert!(all.contains("holds no certificate"), "{all}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_shadow_section_names_a_second_rules_directory() {
    assert_eq!(load(GOOD, &[]).unwrap().shadow, None);
    let text = format!("{GOOD}\n[shadow]\nrules = \"rules-next\"\n");
    assert_eq!(
        load(&text, &[]).unwrap().shadow,
        Some(Shadow {
            rules: PathBuf::from("rules-next"),
            watch: true
        })
    );
    let text = format!("{GOOD}\n[shadow]\nrules = \"rules-next\"\nwatch = false\n");
    assert!(!load(&text, &[]).unwrap().shadow.unwrap().watch);
    // Every problem at once: a missing directory, an unknown key with a hint.
    let text = format!("{GOOD}\n[shadow]\nwatc = true\n");
    let all = load(&text, &[]).unwrap_err().0.join("\n");
    assert!(all.contains("shadow.rules: missing"), "{all}");
    assert!(all.contains("shadow.watc"), "{all}");
    assert!(all.contains("did you mean"), "{all}");
    // The live directory itself would only ever agree with itself.
    let text = format!("{GOOD}\n[shadow]\nrules = \"./rules/\"\n");
    let all = load(&text, &[]).unwrap_err().0.join("\n");
    assert!(
        all.contains("is the live rules directory (bot.rules)"),
        "{all}"
    );
    let text = format!("{GOOD}\n[shadow]\nrules = \"\"\n");
    let all = load(&text, &[]).unwrap_err().0.join("\n");
    assert!(all.contains("shadow.rules: must not be empty"), "{all}");
    let from_env = load(GOOD, &[("GWS_BOTD__SHADOW__RULES", "/etc/gws-botd/next")]).unwrap();
    assert_eq!(
        from_env.shadow.map(|s| s.rules),
        Some(PathBuf::from("/etc/gws-botd/next"))
    );
}
