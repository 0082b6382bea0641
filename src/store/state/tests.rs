//! The store's tests: the writer (group commit, durable saves, pruning), the import of JSON
//! records, file modes.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::mpsc;
use std::time::SystemTime;

use futures::FutureExt as _;

use super::read::Reader;
use super::*;

fn temp() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("gws-botd-state-{}", rand::random::<u64>()))
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

impl Store {
    /// Stop the writer (once it has taken everything queued before) until the returned
    /// sender is used or dropped.
    fn hold(&self) -> mpsc::Sender<()> {
        let (holding, held) = mpsc::channel();
        let (release, released) = mpsc::channel();
        self.writer.as_ref().unwrap().send(writer::Op::Hold {
            holding,
            release: released,
        });
        held.recv().unwrap();
        release
    }
}

fn sample() -> Record {
    Record {
        greeted: true,
        cursor: Some("e-7".into()),
        turn: 3,
        fired: ["greeting".to_string()].into(),
        escalation: Some(Escalation {
            team: "billing".into(),
            agents: vec!["a1".into(), "a2".into()],
            skill: Some("Billing".into()),
            wait_ms: 2000,
            agent: 1,
            stage: Stage::Connected,
            mode: crate::responder::TeamMode::Conference,
            resume: true,
            present: vec!["00AF52FCF0C0002F".into()],
        }),
        finish: Some(Finish::Transfer("Billing".into())),
        ..Record::default()
    }
}

/// The state directory is 0700, the database and SQLite's -wal and -shm files 0600, as is
/// the override file.
#[tokio::test]
async fn state_files_are_private() {
    let dir = temp().join("state");
    let store = Store::open(&dir).unwrap();
    store.save(&ChatId::from("c-1"), &Record::default());
    store.flush().await;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(dir.parent().unwrap()), 0o700);
    for file in [DB_FILE, "state.sqlite3-wal", "state.sqlite3-shm"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    let o = crate::schedule::overrides::Override {
        until: jiff::Timestamp::UNIX_EPOCH,
        schedule: None,
        message: None,
        set_at: jiff::Timestamp::UNIX_EPOCH,
    };
    crate::schedule::overrides::write(&dir.join("fresh"), &o).unwrap();
    assert_eq!(mode(&dir.join("fresh")), 0o700);
    assert_eq!(
        mode(&crate::schedule::overrides::path(&dir.join("fresh"))),
        0o600
    );
    drop(store);
    fs::remove_dir_all(dir.parent().unwrap()).ok();
}

#[tokio::test]
async fn records_round_trip_and_are_removed() {
    let dir = temp();
    let store = Store::open(&dir).unwrap();
    let id = ChatId::from("0001AB/../x y");
    assert_eq!(store.load(&id).await, None);
    let record = sample();
    store.save(&id, &record);
    // Queued, maybe not committed yet: the load still sees it.
    assert_eq!(store.load(&id).await, Some(record.clone()));
    assert_eq!(store.ids().await, vec![id.clone()]);
    drop(store);
    // Reopening (a restart) sees the same record.
    let again = Store::open(&dir).unwrap();
    assert_eq!(again.load(&id).await, Some(record));
    again.remove(&id);
    assert_eq!(again.load(&id).await, None);
    assert!(again.ids().await.is_empty());
    drop(again);
    let _ = fs::remove_dir_all(dir);
}

/// Saves nobody waits for do not wake the writer one by one (a context switch each): at most
/// the first does, to start the lazy commit's clock; the sync of a save someone waits for
/// does, and commits them all in one transaction.
#[tokio::test]
async fn saves_nobody_waits_for_do_not_wake_the_writer() {
    let dir = temp();
    let store = Store::open(&dir).unwrap();
    let writer = store.writer.clone().unwrap();
    let mut last = Saved::default();
    for n in 0..200 {
        let record = Record {
            turn: n,
            ..Record::default()
        };
        last = store.save(&ChatId(format!("c{n}")), &record);
    }
    assert!(
        writer.wakes() <= 1,
        "{} wake-ups for 200 saves",
        writer.wakes()
    );
    store.committed(last).await;
    assert!(writer.wakes() <= 2, "{} wake-ups", writer.wakes());
    assert_eq!(store.transactions(), 1);
    assert_eq!(Reader::open(&dir).unwrap().list().unwrap().len(), 200);
    drop((writer, store));
    let _ = fs::remove_dir_all(dir);
}

/// Everything queued while the writer is busy goes into one transaction, however many
/// saves and chats it holds.
#[tokio::test]
async fn saves_queued_meanwhile_share_one_transaction() {
    let dir = temp();
    let store = Store::open(&dir).unwrap();
    let release = store.hold();
    let mut last = Saved::default();
    for n in 0..300 {
        let id = ChatId(format!("c{}", n % 100));
        let record = Record {
            turn: n,
            ..Record::default()
        };
        last = store.save(&id, &record);
    }
    store.remove(&ChatId::from("c99"));
    assert_eq!(store.transactions(), 0);
    release.send(()).unwrap();
    store.committed(last).await;
    store.flush().await;
    assert_eq!(store.transactions(), 1);
    let saved = Reader::open(&dir).unwrap().list().unwrap();
    assert_eq!(saved.len(), 99);
    let c0 = saved.iter().find(|e| e.id.0 == "c0").unwrap();
    assert_eq!(c0.record.turn, 200, "the last save of a chat wins");
    drop(store);
    let _ = fs::remove_dir_all(dir);
}

/// Saves nobody waits for are not committed on their own: they ride along with the next
/// save someone waits for, one row per chat however often it was saved.
#[tokio::test]
async fn saves_nobody_waits_for_ride_along_with_the_next_awaited_commit() {
    let dir = temp();
    let store = Store::open(&dir).unwrap();
    for n in 0..50 {
        let record = Record {
            turn: n,
            ..Record::default()
        };
        store.save(&ChatId(format!("c{}", n % 5)), &record);
    }
    assert_eq!(store.load(&ChatId::from("c1")).await.unwrap().turn, 46);
    assert_eq!(store.ids().await.len(), 5);
    assert_eq!(store.transactions(), 0, "nothing committed yet");
    assert!(Reader::open(&dir).unwrap().list().unwrap().is_empty());
    let awaited = store.save(&ChatId::from("c9"), &sample());
    store.committed(awaited).await;
    assert_eq!(store.transactions(), 1);
    assert_eq!(Reader::open(&dir).unwrap().list().unwrap().len(), 6);
    drop(store);
    let _ = fs::remove_dir_all(dir);
}

/// `committed` returns once the save is in the database, not before; reads never start a
/// transaction.
#[tokio::test]
async fn a_durable_save_waits_for_its_commit() {
    let dir = temp();
    let store = Store::open(&dir).unwrap();
    let id = ChatId::from("c1");
    let release = store.hold();
    let saved = store.save(&id, &sample());
    assert!(
        store.committed(saved).now_or_never().is_none(),
        "not committed while the writer is held"
    );
    let reader = Reader::open(&dir).unwrap();
    assert_eq!(reader.get(&id).unwrap(), None);
    drop(release);
    store.committed(saved).await;
    assert_eq!(reader.get(&id).unwrap().unwrap().record, sample());
    assert_eq!(store.transactions(), 1);
    assert!(store.load(&id).await.is_some());
    assert_eq!(store.ids().await.len(), 1);
    assert_eq!(store.transactions(), 1, "reads commit nothing");
    drop(store);
    let _ = fs::remove_dir_all(dir);
}

#[tokio::test]
async fn old_records_of_chats_that_did_not_come_back_are_pruned_by_the_writer() {
    let dir = temp();
    let store = Store::open(&dir).unwrap();
    let (gone, running, fresh) = (
        ChatId::from("gone"),
        ChatId::from("run"),
        ChatId::from("new"),
    );
    for id in [&gone, &running, &fresh] {
        store.save(id, &Record::default());
    }
    store.flush().await;
    let two_days_ago = sql::millis(SystemTime::now() - Duration::from_secs(48 * 3600));
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute(
        "UPDATE chats SET written_at = ?1 WHERE id IN ('gone', 'run')",
        [two_days_ago],
    )
    .unwrap();
    let day = Duration::from_secs(24 * 3600);
    let before = store.transactions();
    store.prune(day, [running.clone()].into());
    store.flush().await;
    assert_eq!(store.transactions(), before + 1);
    assert_eq!(store.load(&gone).await, None);
    assert!(store.load(&running).await.is_some() && store.load(&fresh).await.is_some());
    drop((store, conn));
    let _ = fs::remove_dir_all(dir);
}

/// JSON records of older versions are imported once, with their age; a damaged one is
/// moved aside and the rest still imported; leftover temporary files go.
#[tokio::test]
async fn json_records_of_older_versions_are_imported_once() {
    let dir = temp();
    let chats = dir.join(import::LEGACY_DIR);
    create_private_dir(&chats).unwrap();
    let json = serde_json::to_vec(&sample()).unwrap();
    fs::write(chats.join("c1.json"), &json).unwrap();
    fs::write(chats.join(import::file_name("a/b")), &json).unwrap();
    fs::write(chats.join("c3.json"), b"{\"greeted\":tr").unwrap();
    fs::write(chats.join("c4.tmp"), b"half").unwrap();
    let old = SystemTime::now() - Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(chats.join("c1.json"))
        .unwrap()
        .set_modified(old)
        .unwrap();

    let store = Store::open(&dir).unwrap();
    assert_eq!(store.load(&ChatId::from("c1")).await, Some(sample()));
    assert_eq!(store.load(&ChatId::from("a/b")).await, Some(sample()));
    assert_eq!(store.load(&ChatId::from("c3")).await, None);
    let mut left: Vec<String> = fs::read_dir(&chats)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["c3.json.damaged"],
        "imported files removed, the damaged one kept"
    );
    let c1 = Reader::open(&dir)
        .unwrap()
        .get(&ChatId::from("c1"))
        .unwrap()
        .unwrap();
    assert_eq!(
        c1.written_at.as_millisecond(),
        sql::millis(old),
        "the file's age carries over"
    );
    drop(store);

    // A second start imports nothing again and leaves the damaged file alone.
    fs::File::options()
        .write(true)
        .open(dir.join(DB_FILE))
        .unwrap();
    let again = Store::open(&dir).unwrap();
    assert_eq!(again.ids().await.len(), 2);
    assert!(chats.join("c3.json.damaged").exists());
    drop(again);
    let _ = fs::remove_dir_all(dir);
}

/// A database of the earlier layout (a rowid table with an index on `written_at`) is moved
/// to the keyed table at open, its records and their ages kept; saving goes on as before.
#[tokio::test]
async fn a_database_of_the_earlier_layout_is_moved_to_the_keyed_table() {
    let dir = temp();
    create_private_dir(&dir).unwrap();
    let json = serde_json::to_string(&sample()).unwrap();
    {
        let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
        conn.execute_batch(
            "CREATE TABLE chats (id TEXT PRIMARY KEY NOT NULL, record TEXT NOT NULL,
                written_at INTEGER NOT NULL);
             CREATE INDEX chats_written_at ON chats (written_at);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO chats VALUES ('old', ?1, 1000)",
            [json.as_str()],
        )
        .unwrap();
    }
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.load(&ChatId::from("old")).await, Some(sample()));
    let saved = store.save(&ChatId::from("new"), &Record::default());
    store.committed(saved).await;
    drop(store);
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    let (sql, indexes): (String, i64) = conn
        .query_row(
            "SELECT (SELECT sql FROM sqlite_master WHERE name = 'chats'),
                    (SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert!(sql.contains("WITHOUT ROWID"), "{sql}");
    assert_eq!(indexes, 0);
    let written: i64 = conn
        .query_row("SELECT written_at FROM chats WHERE id = 'old'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        written, 1000,
        "the record's age is kept (the prune relies on it)"
    );
    let ids = Reader::open(&dir).unwrap().list().unwrap();
    assert_eq!(ids.len(), 2);
    drop(conn);
    // Opened again: nothing to move.
    drop(Store::open(&dir).unwrap());
    let _ = fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_disabled_store_remembers_nothing_and_never_waits() {
    let store = Store::disabled();
    let id = ChatId::from("c1");
    let saved = store.save(&id, &sample());
    store.committed(saved).await;
    store.flush().await;
    assert_eq!(store.load(&id).await, None);
    assert!(store.ids().await.is_empty());
}

#[test]
fn an_unwritable_directory_is_reported() {
    let err = Store::open(Path::new("/proc/gws-botd-no")).unwrap_err();
    assert!(err.to_string().contains("bot.state_dir"), "{err}");
}

#[test]
fn the_reader_reports_a_directory_without_a_database() {
    let err = Reader::open(Path::new("/nonexistent/gws-botd"))
        .err()
        .unwrap();
    assert!(err.to_string().contains("--state-dir"), "{err}");
}

#[test]
fn legacy_file_names_escape_unsafe_characters() {
    assert_eq!(import::file_name("0001AB"), "0001AB.json");
    assert_eq!(import::file_name("a/b"), "a%2Fb.json");
}
