//! The decision log's writer thread: the one place that opens, writes, rotates and renames
//! the log files. Chats hand it records over a bounded queue and go on; it encodes them,
//! keeps them in a buffer and writes the buffer at most [`FLUSH_EVERY`] after its first
//! record (or once it holds [`BUFFER_SIZE`] bytes), and everything left when the last handle
//! is dropped. A full queue (the disk is far slower than the chats) drops the record and says
//! so at WARN, once until records go through again.

// A plain OS thread blocking on a std channel: tokio's clock does not drive it, so it keeps
// time with std's (its tests wait for it; none depends on its timing).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::fs::File;
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use tracing::{error, info, warn};

use super::{Decision, Record, open_active, rotate};
use crate::event::ChatId;

/// Records waiting for the writer at most; more are dropped (and counted).
const QUEUE: usize = 16 * 1024;
/// The longest a record waits in the buffer before it is written.
pub(super) const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// A buffer this full is written at once.
const BUFFER_SIZE: usize = 64 * 1024;

/// What the writer is sent.
// Records are nearly every message: boxing the large variant would allocate for each.
#[allow(clippy::large_enum_variant)]
pub(super) enum Msg {
    Record(SystemTime, ChatId, Decision),
    /// Write what is buffered, then answer.
    Flush(mpsc::SyncSender<()>),
}

/// Where the log goes and how it rotates.
pub(super) struct Files {
    pub(super) dir: PathBuf,
    pub(super) max_file_size: u64,
    pub(super) max_files: u32,
}

/// The handles' side of the writer thread.
pub(super) struct Handle {
    tx: Mutex<Option<mpsc::SyncSender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Records dropped because the queue was full.
    pub(super) dropped: AtomicU64,
    /// A drop was reported and no record has gone through since.
    dropping: AtomicBool,
}

impl Handle {
    /// Start the writer on the open active file `file` of `size` bytes.
    pub(super) fn start(files: Files, file: File, size: u64) -> io::Result<Handle> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || {
                Writer {
                    files,
                    file: Some(file),
                    size,
                    buffer: Vec::with_capacity(BUFFER_SIZE),
                    failing: false,
                }
                .run(&rx);
            })?;
        Ok(Handle {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            dropped: AtomicU64::new(0),
            dropping: AtomicBool::new(false),
        })
    }

    /// Queue a record; never blocks.
    pub(super) fn send(&self, msg: Msg) {
        let tx = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = tx.as_ref() else { return };
        match tx.try_send(msg) {
            Ok(()) => {
                if self.dropping.load(Ordering::Relaxed) {
                    self.dropping.store(false, Ordering::Relaxed);
                    info!("decision log keeping up again");
                }
            }
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                if !self.dropping.swap(true, Ordering::Relaxed) {
                    warn!("the decision log cannot keep up; records are dropped until it does");
                }
            }
        }
    }

    /// Wait until everything queued so far is written. Blocks: for tests, tools and shutdown.
    pub(super) fn flush(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        let sent = {
            let tx = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
            tx.as_ref()
                .is_some_and(|tx| tx.send(Msg::Flush(done)).is_ok())
        };
        if sent {
            let _ = wait.recv();
        }
    }
}

impl Drop for Handle {
    /// Close the queue and wait for the writer to write what is left.
    fn drop(&mut self) {
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            error!("the decision log writer panicked");
        }
    }
}

/// The writer thread's state.
struct Writer {
    files: Files,
    file: Option<File>,
    /// The active file's size, with what is buffered.
    size: u64,
    buffer: Vec<u8>,
    /// A write failure was reported and nothing has worked since.
    failing: bool,
}

impl Writer {
    fn run(mut self, rx: &mpsc::Receiver<Msg>) {
        let mut due: Option<Instant> = None;
        loop {
            let msg = match due {
                None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            match msg {
                Ok(Msg::Record(at, chat, decision)) => {
                    self.add(at, chat, decision);
                    due.get_or_insert_with(|| Instant::now() + FLUSH_EVERY);
                }
                Ok(Msg::Flush(done)) => {
                    self.write_out();
                    due = None;
                    let _ = done.send(());
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if self.buffer.len() >= BUFFER_SIZE || due.is_some_and(|at| at <= Instant::now()) {
                self.write_out();
                due = None;
            }
        }
        self.write_out();
    }

    /// Encode a record into the buffer, rotating first if it would not fit in the file.
    fn add(&mut self, at: SystemTime, chat: ChatId, decision: Decision) {
        let record = Record {
            ts: humantime::format_rfc3339_millis(at).to_string(),
            chat_id: chat.0,
            decision,
        };
        let start = self.buffer.len();
        if let Err(e) = serde_json::to_writer(&mut self.buffer, &record) {
            self.buffer.truncate(start);
            error!(error = %e, "cannot encode a decision record");
            return;
        }
        self.buffer.push(b'\n');
        let len = (self.buffer.len() - start) as u64;
        if self.size > 0 && self.size + len > self.files.max_file_size {
            // The new line goes into the next file: write the rest, then rotate.
            let line = self.buffer.split_off(start);
            self.write_out();
            self.file = None;
            let rotated = rotate(&self.files.dir, self.files.max_files);
            self.size = 0;
            self.buffer = line;
            if let Err(e) = rotated {
                self.failed(&e);
            }
        }
        self.size += len;
    }

    /// Write the buffer to the active file (opening it if needed).
    fn write_out(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let result = (|| {
            if self.file.is_none() {
                let (file, size) = open_active(&self.files.dir)?;
                self.file = Some(file);
                self.size = size + self.buffer.len() as u64;
            }
            match &mut self.file {
                Some(file) => file.write_all(&self.buffer),
                None => Ok(()),
            }
        })();
        self.buffer.clear();
        match result {
            Ok(()) if self.failing => {
                self.failing = false;
                info!("decision log writable again");
            }
            Ok(()) => {}
            Err(e) => self.failed(&e),
        }
    }

    fn failed(&mut self, e: &io::Error) {
        self.file = None;
        if !std::mem::replace(&mut self.failing, true) {
            error!(dir = %self.files.dir.display(), error = %e,
                "cannot write the decision log; records are lost until it works again");
        }
    }
}
