use super::*;

/// The `[[responder]]` entries of `toml`, read; the problems and warnings on failure.
fn read_toml(toml: &str) -> Result<(Vec<ResponderConfig>, Vec<String>), String> {
    let root = config::Config::builder()
        .add_source(config::File::from_str(toml, config::FileFormat::Toml))
        .build()
        .unwrap();
    let value: Value = root.get("responder").unwrap();
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    let list = read(value, &mut problems, &mut warnings);
    if problems.is_empty() {
        Ok((list, warnings))
    } else {
        Err(problems.join("\n"))
    }
}

fn token_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gws-botd-responders-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_webhook_and_the_rules_with_their_settings() {
    let token = token_file("token", "s3cr3t\n");
    let toml = format!(
        r#"
[[responder]]
type = "webhook"
name = "nlu"
url = "http://127.0.0.1:5005/webhooks/rest/webhook"
format = "rasa"
timeout = "1500ms"
on_error = "hand_over"
bearer_token_file = "{}"
[[responder]]
type = "rules"
"#,
        token.display()
    );
    let (list, warnings) = read_toml(&toml).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].name, "nlu");
    assert_eq!(list[0].timeout, Duration::from_millis(1500));
    assert_eq!(list[0].on_error, OnError::HandOver);
    let ResponderKind::Webhook(hook) = &list[0].kind else {
        panic!("{:?}", list[0].kind)
    };
    assert_eq!(hook.format, Format::Rasa);
    assert_eq!(hook.bearer_token_file.as_deref(), Some(token.as_path()));
    assert_eq!(list[1], ResponderConfig::rules());
    assert_eq!(list[1].timeout, DEFAULT_TIMEOUT);
    assert_eq!(list[1].on_error, OnError::Pass);
}

#[test]
fn every_mistake_is_named_by_its_entry_and_key() {
    let cases = [
        (
            "type = \"webhok\"\nurl = \"http://127.0.0.1:1/\"",
            "responder[1].type: unknown responder type \"webhok\" (did you mean \"webhook\"?)",
        ),
        (
            "type = \"webhook\"\nformat = \"rasa\"",
            "responder[1].url: missing",
        ),
        (
            "type = \"webhook\"\nurl = \"http://127.0.0.1:1/\"",
            "responder[1].format: missing",
        ),
        (
            "type = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\nformat = \"dialogflow\"",
            "unknown format \"dialogflow\"",
        ),
        (
            "type = \"webhook\"\nurl = \"ftp://127.0.0.1/\"\nformat = \"rasa\"",
            "is not an http:// or https:// URL",
        ),
        (
            "type = \"webhook\"\nurl = \"not a url\"\nformat = \"rasa\"",
            "is not an http:// or https:// URL",
        ),
        (
            "type = \"webhook\"\nurl = \"https://u:p@nlu.example/\"\nformat = \"rasa\"",
            "must not contain a user name or password",
        ),
        (
            "type = \"webhook\"\nurl = \"http://nlu.example/\"\nformat = \"rasa\"",
            "plain http:// to nlu.example",
        ),
        (
            "type = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\nformat = \"rasa\"\nurll = \"x\"",
            "responder[1].urll: unknown key (did you mean url?)",
        ),
        (
            "type = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\nformat = \"rasa\"\nidle = [\"1m\"]",
            "only a \"native\" webhook",
        ),
        (
            "type = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\nformat = \"rasa\"\nbearer_token_file = \"/nonexistent/token\"",
            "responder[1].bearer_token_file: cannot read",
        ),
        (
            "type = \"rules\"\ntimeout = \"soon\"",
            "responder[1].timeout: \"soon\" is not a duration",
        ),
        (
            "type = \"rules\"\ntimeout = \"5m\"",
            "keeps the customer waiting",
        ),
        (
            "type = \"rules\"\non_error = \"retry\"",
            "responder[1].on_error: \"retry\" is not",
        ),
        (
            "type = \"rules\"\nname = \"my rules\"",
            "may hold only letters",
        ),
        (
            "type = \"rules\"\ndir = \"x\"",
            "responder[1].dir: unknown key",
        ),
        ("name = \"x\"", "responder[1].type: missing"),
    ];
    for (entry, expected) in cases {
        let all = read_toml(&format!("[[responder]]\n{entry}\n")).unwrap_err();
        assert!(
            all.contains(expected),
            "{entry}:\n{all}\nexpected: {expected}"
        );
    }
    let empty = token_file("empty", "\n");
    let toml = format!(
        "[[responder]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\nformat = \"rasa\"\nbearer_token_file = \"{}\"\n",
        empty.display()
    );
    assert!(read_toml(&toml).unwrap_err().contains("is empty"));
    let twice = "[[responder]]\ntype = \"rules\"\n[[responder]]\ntype = \"rules\"\n";
    assert!(read_toml(twice).unwrap_err().contains("responder[2]"));
}

#[test]
fn plain_http_to_another_host_needs_allow_plain_http_and_warns() {
    let toml = "[[responder]]\ntype = \"webhook\"\nurl = \"http://nlu.internal:5005/\"\nformat = \"native\"\nallow_plain_http = true\nidle = [\"2m\", \"30s\"]\n";
    let (list, warnings) = read_toml(toml).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("clear text"), "{warnings:?}");
    let ResponderKind::Webhook(hook) = &list[0].kind else {
        panic!()
    };
    assert_eq!(
        hook.idle,
        [Duration::from_secs(120), Duration::from_secs(30)]
    );
    let https = "[[responder]]\ntype = \"webhook\"\nurl = \"https://nlu.example/hook\"\nformat = \"rasa\"\n";
    assert!(read_toml(https).unwrap().1.is_empty());
}
