//! The shipped operator files stay in step with the code: the example configuration is valid
//! once uncommented, the units name the paths and credential the daemon reads, and every
//! packaged file exists.

use std::collections::BTreeMap;
use std::path::Path;

use gws_botd::config::{CREDENTIAL_NAME, Config, DEFAULT_PATH, Sources};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_example_configuration_is_valid_once_uncommented() {
    let example = std::fs::read_to_string(Path::new(ROOT).join("packaging/gws-botd.toml")).unwrap();
    // Uncomment `#key = value` and `#[section]` lines; the password comes from the credential.
    let text: String = example
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest)
                if (rest.starts_with('[') || rest.contains(" = "))
                    && !rest.starts_with("password") =>
            {
                rest
            }
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(text.contains("\napi_url = "), "uncommented: {text}");
    let dir = std::env::temp_dir().join(format!("gws-botd-pkg-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("gws-botd.toml"), &text).unwrap();
    std::fs::write(dir.join(CREDENTIAL_NAME), "secret\n").unwrap();
    let loaded = Config::load_from(&Sources {
        file: Some(dir.join("gws-botd.toml")),
        env: Some(BTreeMap::new()),
        credentials_dir: Some(dir.clone()),
    });
    std::fs::remove_dir_all(&dir).unwrap();
    let config = loaded.unwrap_or_else(|problems| panic!("the example is invalid: {problems}"));
    assert_eq!(config.gws.username, "bot01");
    assert_eq!(config.bot.rules, Path::new("/etc/gws-botd/rules"));
    assert_eq!(config.http.listen, Some("127.0.0.1:9464".parse().unwrap()));
    assert!(!config.decision_log.include_customer_text);
}

#[test]
fn the_units_use_the_daemons_paths_and_credential() {
    for (unit, config) in [
        ("gws-botd.service", DEFAULT_PATH),
        ("gws-botd@.service", "/etc/gws-botd/%i.toml"),
    ] {
        let text = std::fs::read_to_string(Path::new(ROOT).join("systemd").join(unit)).unwrap();
        for needle in [
            "Type=notify".to_owned(),
            "WatchdogSec=".to_owned(),
            format!("ExecStartPre=/usr/bin/gws-botd check --offline --config {config}\n"),
            format!("ExecStart=/usr/bin/gws-botd run --config {config}\n"),
            format!("ExecReload=/usr/bin/gws-botd check --offline --config {config}\n"),
            "ExecReload=/bin/kill -HUP $MAINPID\n".to_owned(),
            format!("LoadCredential={CREDENTIAL_NAME}:"),
            "RestartPreventExitStatus=78\n".to_owned(),
        ] {
            assert!(text.contains(&needle), "{unit} lacks {needle:?}");
        }
    }
}

#[test]
fn every_packaged_file_exists() {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap())
            .unwrap();
    let deb = &manifest["package"]["metadata"]["deb"];
    let assets = deb["assets"].as_array().expect("deb assets");
    assert!(assets.len() >= 8, "{assets:?}");
    for asset in assets {
        let source = asset[0].as_str().unwrap();
        if source.starts_with("target/") {
            continue; // built by packaging/build-deb
        }
        let path = Path::new(ROOT).join(source);
        let exists = match source.strip_suffix("/*.toml") {
            Some(dir) => std::fs::read_dir(Path::new(ROOT).join(dir))
                .unwrap()
                .any(|e| e.unwrap().path().extension().is_some_and(|x| x == "toml")),
            None => path.exists(),
        };
        assert!(exists, "packaged file {source} is missing");
    }
    let units = deb["systemd-units"]["unit-scripts"].as_str().unwrap();
    assert!(
        Path::new(ROOT)
            .join(units)
            .join("gws-botd@.service")
            .exists()
    );
    let scripts = deb["maintainer-scripts"].as_str().unwrap();
    let postinst = std::fs::read_to_string(Path::new(ROOT).join(scripts).join("postinst")).unwrap();
    assert!(
        postinst.contains("#DEBHELPER#"),
        "cargo-deb inserts the unit handling there"
    );
}

#[test]
fn the_alert_rules_use_metrics_the_daemon_exports() {
    // One of each labelled series, so that every family shows up in the exposition.
    let stats = std::sync::Arc::new(gws_botd::telemetry::stats::Stats::default());
    stats.chat_ended("stuck");
    stats.escalation_ended("failed", std::time::Duration::from_secs(3));
    stats.rules_reloaded(false);
    gws_botd::gws::client::Observer::request_done(
        stats.as_ref(),
        "Accept",
        std::time::Duration::from_millis(5),
        Some(&gws_botd::gws::Error::Unauthorized),
    );
    let exposition = gws_botd::telemetry::metrics::encode(stats.registry());
    let alerts = std::fs::read_to_string(Path::new(ROOT).join("packaging/alerts.yml")).unwrap();
    let names = regex::Regex::new(r"gws_botd_[a-z_]+").unwrap();
    let mut checked = 0;
    for name in names.find_iter(&alerts).map(|m| m.as_str()) {
        let exported = exposition.lines().any(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        });
        assert!(
            exported,
            "alerts.yml uses {name}, which /metrics does not export:\n{exposition}"
        );
        checked += 1;
    }
    assert!(checked >= 8, "{checked} metric references checked");
}
