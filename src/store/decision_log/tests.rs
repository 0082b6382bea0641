use super::*;
use std::fs::OpenOptions;
use std::io::Write as _;

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gws-botd-dl-{}", rand::random::<u64>()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(max_file_size: u64, max_files: u32, text: bool) -> Settings {
    Settings {
        enabled: true,
        max_file_size,
        max_files,
        include_customer_text: text,
    }
}

#[test]
fn records_round_trip_and_customer_text_is_redacted_by_default() {
    let dir = temp_dir();
    let log = DecisionLog::open(&config(1 << 20, 3, false), &dir).unwrap();
    let chat = ChatId::from("c-1");
    log.record(
        &chat,
        Decision::Offered {
            customer: Some("Pat".into()),
        },
    );
    log.customer_said(&chat, 1, Some("e-17"), "my card number is 4111");
    log.record(&ChatId::from("other"), Decision::Accepted);
    log.flush();
    let found = read_chat(&dir, "c-1").unwrap();
    assert_eq!(found.records.len(), 2);
    assert_eq!(
        found.records[1].decision,
        Decision::CustomerSaid {
            turn: 1,
            message_id: Some("e-17".into()),
            chars: 22,
            text: None
        }
    );
    log.flush();
    let raw = fs::read_to_string(dir.join(FILE_NAME)).unwrap();
    assert!(!raw.contains("4111"), "{raw}");
    assert!(raw.contains(r#""message_id":"e-17""#), "{raw}");

    let log = DecisionLog::open(&config(1 << 20, 3, true), &dir).unwrap();
    log.customer_said(&chat, 2, Some("3"), "hello");
    log.flush();
    let found = read_chat(&dir, "c-1").unwrap();
    assert!(matches!(
        &found.records[2].decision,
        Decision::CustomerSaid { text: Some(t), message_id: Some(id), .. }
            if t == "hello" && id == "3"
    ));
    fs::remove_dir_all(&dir).ok();
}

fn responded() -> Decision {
    Decision::Responded {
        trigger: "accepted".into(),
        responder: "rules".into(),
        message_id: None,
        rules: vec!["greeting".into()],
        matched: false,
        replies: vec!["Hi Pat-4711, I'm Ava.".into()],
        reply_chars: vec![],
        attached: vec!["Segment".into()],
        then: "stay".into(),
    }
}

/// Without `include_customer_text` neither the nickname nor a rendered reply is written;
/// the rule, the reply's length and the attached keys are. With it, everything is.
#[test]
fn customer_data_stays_out_of_the_log_unless_asked_for() {
    let dir = temp_dir();
    let chat = ChatId::from("c-2");
    let log = DecisionLog::open(&config(1 << 20, 3, false), &dir).unwrap();
    log.record(
        &chat,
        Decision::Offered {
            customer: Some("Pat-4711".into()),
        },
    );
    log.record(&chat, responded());
    log.flush();
    let raw = fs::read_to_string(dir.join(FILE_NAME)).unwrap();
    assert!(!raw.contains("Pat-4711"), "{raw}");
    log.flush();
    let found = read_chat(&dir, "c-2").unwrap();
    assert_eq!(
        found.records[0].decision,
        Decision::Offered { customer: None }
    );
    assert!(
        matches!(
            &found.records[1].decision,
            Decision::Responded { rules, replies, reply_chars, attached, .. }
                if rules == &["greeting"] && replies.is_empty() && reply_chars == &[21]
                    && attached == &["Segment"]
        ),
        "{:?}",
        found.records[1]
    );

    let log = DecisionLog::open(&config(1 << 20, 3, true), &dir).unwrap();
    log.record(&chat, responded());
    log.flush();
    let found = read_chat(&dir, "c-2").unwrap();
    assert_eq!(found.records[2].decision, responded());
    fs::remove_dir_all(&dir).ok();
}

/// An answer and a silence keep the id of the message they belong to with or without
/// customer text; records written before ids were recorded still read (without one).
#[test]
fn answers_name_the_message_they_belong_to() {
    let dir = temp_dir();
    let chat = ChatId::from("c-4");
    let answer = |id: &str| Decision::Responded {
        trigger: "message".into(),
        responder: "rules".into(),
        message_id: Some(id.into()),
        rules: vec!["refund".into()],
        matched: true,
        replies: vec!["Let me get billing.".into()],
        reply_chars: vec![],
        attached: vec![],
        then: "stay".into(),
    };
    let silence = Decision::NoAnswer {
        trigger: "message".into(),
        responder: String::new(),
        message_id: Some("e-9".into()),
    };
    for text in [false, true] {
        let log = DecisionLog::open(&config(1 << 20, 3, text), &dir).unwrap();
        log.record(&chat, answer("e-7"));
        log.record(&chat, silence.clone());
    }
    let found = read_chat(&dir, "c-4").unwrap();
    let ids: Vec<_> = found
        .records
        .iter()
        .map(|r| match &r.decision {
            Decision::Responded { message_id, .. } | Decision::NoAnswer { message_id, .. } => {
                message_id.as_deref()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [Some("e-7"), Some("e-9"), Some("e-7"), Some("e-9")]);
    assert!(matches!(
        &found.records[0].decision,
        Decision::Responded { replies, reply_chars, .. } if replies.is_empty() && reply_chars == &[19]
    ));

    let old = concat!(
        r#"{"ts":"2025-03-01T10:00:02.000Z","chat_id":"c-5","event":"customer_said","turn":1,"chars":5}"#,
        "\n",
        r#"{"ts":"2025-03-01T10:00:02.010Z","chat_id":"c-5","event":"no_answer","trigger":"message"}"#,
        "\n"
    );
    fs::write(dir.join(FILE_NAME), old).unwrap();
    let found = read_chat(&dir, "c-5").unwrap();
    assert_eq!(found.unreadable, 0);
    assert_eq!(
        found.records[0].decision,
        Decision::CustomerSaid {
            turn: 1,
            message_id: None,
            chars: 5,
            text: None
        }
    );
    assert_eq!(
        found.records[1].decision,
        Decision::NoAnswer {
            trigger: "message".into(),
            responder: String::new(),
            message_id: None
        }
    );
    fs::remove_dir_all(&dir).ok();
}

/// The state directory is created 0700 and the log 0600 under a permissive umask, and a
/// log file left world-readable by an older version is made private when opened.
#[test]
fn the_directory_and_the_log_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = std::env::temp_dir()
        .join(format!("gws-botd-dl-{}", rand::random::<u64>()))
        .join("state");
    let log = DecisionLog::open(&config(1 << 20, 3, false), &dir).unwrap();
    log.record(&ChatId::from("c-3"), Decision::Accepted);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(dir.parent().unwrap()), 0o700);
    assert_eq!(mode(&dir.join(FILE_NAME)), 0o600);
    drop(log);
    fs::set_permissions(dir.join(FILE_NAME), fs::Permissions::from_mode(0o644)).unwrap();
    let _log = DecisionLog::open(&config(1 << 20, 3, false), &dir).unwrap();
    assert_eq!(mode(&dir.join(FILE_NAME)), 0o600);
    fs::remove_dir_all(dir.parent().unwrap()).ok();
}

#[test]
fn rotation_keeps_max_files_and_reading_spans_them_in_order() {
    let dir = temp_dir();
    let log = DecisionLog::open(&config(300, 3, false), &dir).unwrap();
    let chat = ChatId::from("c-9");
    for turn in 0..40 {
        log.customer_said(&chat, turn, None, "x");
    }
    log.flush();
    let files = files(&dir).unwrap();
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        assert!(fs::metadata(f).unwrap().len() <= 300, "{f:?}");
    }
    log.flush();
    let found = read_chat(&dir, "c-9").unwrap();
    let turns: Vec<u32> = found
        .records
        .iter()
        .map(|r| match r.decision {
            Decision::CustomerSaid { turn, .. } => turn,
            _ => unreachable!(),
        })
        .collect();
    assert!(turns.len() < 40, "old records were dropped");
    assert_eq!(turns.last(), Some(&39));
    assert!(turns.windows(2).all(|w| w[1] == w[0] + 1), "{turns:?}");
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_torn_line_is_counted_not_fatal() {
    let dir = temp_dir();
    let log = DecisionLog::open(&config(1 << 20, 2, false), &dir).unwrap();
    log.record(&ChatId::from("c"), Decision::Accepted);
    log.flush();
    let mut f = OpenOptions::new()
        .append(true)
        .open(dir.join(FILE_NAME))
        .unwrap();
    f.write_all(b"{\"ts\":\"2024\",\"chat_id\":\"c\",\"ev")
        .unwrap();
    log.flush();
    let found = read_chat(&dir, "c").unwrap();
    assert_eq!((found.records.len(), found.unreadable), (1, 1));
    fs::remove_dir_all(&dir).ok();
}

/// Records reach the file without a flush, within the writer's interval, and what is
/// left when the last handle goes is written.
#[tokio::test]
async fn records_are_written_in_the_background_and_at_the_end() {
    let dir = temp_dir();
    let log = DecisionLog::open(&config(1 << 20, 2, false), &dir).unwrap();
    log.record(&ChatId::from("c"), Decision::Accepted);
    let mut polls = 0;
    while read_chat(&dir, "c").unwrap().records.is_empty() {
        polls += 1;
        assert!(polls < 1200, "never written");
        tokio::time::sleep(writer::FLUSH_EVERY / 4).await;
    }
    let copy = log.clone();
    for _ in 0..100 {
        copy.record(&ChatId::from("d"), Decision::Accepted);
    }
    drop((log, copy));
    assert_eq!(read_chat(&dir, "d").unwrap().records.len(), 100);
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn disabled_or_unopenable_logs_write_nothing() {
    let dir = temp_dir();
    let mut off = config(1 << 20, 2, false);
    off.enabled = false;
    let log = DecisionLog::open(&off, &dir).unwrap();
    assert!(!log.is_enabled());
    log.record(&ChatId::from("c"), Decision::Accepted);
    assert!(files(&dir).unwrap().is_empty());
    let file = dir.join("not-a-dir");
    fs::write(&file, "").unwrap();
    let log = DecisionLog::open_or_disabled(&config(1 << 20, 2, false), &file);
    assert!(!log.is_enabled());
    fs::remove_dir_all(&dir).ok();
}
