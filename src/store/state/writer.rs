//! The writer thread: the one place that writes the chat state database.
//!
//! Callers queue operations and go on ([`Handle::send`] numbers each one); a caller wakes the
//! thread only when it must hear of the operation now (a sync or a read; a save when nothing
//! else is pending), so a busy daemon costs the writer one wake-up per transaction, not one per
//! save. The thread gathers what is queued into a batch, where several saves of one chat collapse into
//! the last one, and commits the batch in one transaction when it is due:
//! - as soon as someone waits for it ([`Op::Sync`], sent by [`Handle::settled`] when the save
//!   it waits for is not committed yet): the "answering" mark before a reply is sent. Under
//!   load (the last commit had several waiters) the writer first lets [`COMMIT_GAP`] pass
//!   since that commit, so that the saves of many chats share one transaction;
//! - otherwise [`LAZY_COMMIT`] after the first save nobody waits for (a moved cursor, a
//!   counter): those ride along with the next awaited commit, or go alone, late;
//! - when the writer stops (every handle dropped): what is left is committed.
//!
//! After a commit the thread publishes the number of the last operation it took: whoever
//! waits for a save wakes when that number reaches theirs. Reads are answered in queue order
//! from the batch or the database, so a load sees every save queued before it. Nothing here
//! runs on a tokio thread.

// A plain OS thread blocking on a condition variable: tokio's clock does not drive it, so it keeps
// time with std's (its tests wait for it; none depends on its timing).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(test)]
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{oneshot, watch};
use tracing::{debug, warn};

use super::Record;
use super::sql;
use crate::event::ChatId;

/// Most chats written in one transaction; the rest go into the next one.
const MAX_BATCH: usize = 4096;
/// Under load, the least time between two commits someone waits for: what is queued
/// meanwhile shares the next one.
const COMMIT_GAP: Duration = Duration::from_millis(3);
/// The longest a save nobody waits for stays uncommitted (in unit tests: never, so that
/// they can count transactions on a loaded machine).
#[cfg(not(test))]
const LAZY_COMMIT: Duration = Duration::from_millis(200);
#[cfg(test)]
const LAZY_COMMIT: Duration = Duration::from_secs(3600);

/// What the writer is asked to do.
pub(super) enum Op {
    Save {
        id: ChatId,
        record: Box<Record>,
    },
    Remove {
        id: ChatId,
    },
    /// Someone waits for everything queued before: commit soon.
    Sync,
    Load {
        id: ChatId,
        reply: oneshot::Sender<Option<Record>>,
    },
    Ids {
        reply: oneshot::Sender<Vec<ChatId>>,
    },
    Prune {
        age: Duration,
        kept: HashSet<ChatId>,
    },
    /// Tests: tell `holding`, then wait for `release` before taking anything else.
    #[cfg(test)]
    Hold {
        holding: mpsc::Sender<()>,
        release: mpsc::Receiver<()>,
    },
}

/// The caller's side of the writer thread.
pub(super) struct Handle {
    shared: Arc<Shared>,
    settled: watch::Receiver<u64>,
    transactions: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

/// The queue between the callers and the writer: a list under a lock, and a condition
/// variable the writer sleeps on. A caller wakes the writer only when the writer needs to
/// hear of its operation now (see [`Waiting`]): a busy daemon queues many saves per wake-up,
/// where a channel would wake the writer thread (a context switch) for each one.
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// How often a caller woke the writer (the tests count them).
    wakes: AtomicU64,
}

/// The operations not taken yet, numbered in the order they were queued.
struct Queue {
    last: u64,
    ops: Vec<(u64, Op)>,
    closed: bool,
    waiting: Waiting,
}

/// What the writer sleeps until, which decides whether a new operation wakes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// Awake: it takes the queue before it sleeps again.
    No,
    /// Nothing is due: any operation wakes it (a save starts the lazy commit's clock).
    Anything,
    /// A commit is due at a set time; `urgent` when someone waits for it. A sync, a read or
    /// a test's hold wakes a writer that waits for a lazy commit only; saves never do.
    Until { urgent: bool },
}

impl Op {
    /// Whether the writer must hear of this at once: someone waits for an answer or a commit.
    fn urgent(&self) -> bool {
        match self {
            Op::Save { .. } | Op::Remove { .. } | Op::Prune { .. } => false,
            Op::Sync | Op::Load { .. } | Op::Ids { .. } => true,
            #[cfg(test)]
            Op::Hold { .. } => true,
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("writer::Handle")
            .field("settled", &*self.settled.borrow())
            .field("transactions", &self.transactions())
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// Start the writer thread on `conn`.
    pub(super) fn start(conn: Connection) -> std::io::Result<Handle> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                last: 0,
                ops: Vec::new(),
                closed: false,
                waiting: Waiting::No,
            }),
            wake: Condvar::new(),
            wakes: AtomicU64::new(0),
        });
        let (settled_tx, settled) = watch::channel(0);
        let transactions = Arc::new(AtomicU64::new(0));
        let thread = std::thread::Builder::new()
            .name("state-writer".into())
            .spawn({
                let transactions = transactions.clone();
                let shared = shared.clone();
                move || Writer::new(conn, &settled_tx, &transactions).run(&shared)
            })?;
        Ok(Handle {
            shared,
            settled,
            transactions,
            thread: Some(thread),
        })
    }

    /// Queue `op`; returns its number.
    pub(super) fn send(&self, op: Op) -> u64 {
        let mut queue = self.shared.lock();
        if queue.closed {
            warn!("the state writer has stopped; chat state is not saved");
            return queue.last;
        }
        let wake = match queue.waiting {
            Waiting::No | Waiting::Until { urgent: true } => false,
            Waiting::Anything => true,
            Waiting::Until { urgent: false } => op.urgent(),
        };
        queue.last += 1;
        let seq = queue.last;
        queue.ops.push((seq, op));
        if wake {
            queue.waiting = Waiting::No;
            self.shared.wakes.fetch_add(1, Ordering::Relaxed);
            self.shared.wake.notify_one();
        }
        seq
    }

    /// How often a caller has woken the writer.
    #[cfg(test)]
    pub(super) fn wakes(&self) -> u64 {
        self.shared.wakes.load(Ordering::Relaxed)
    }

    /// The number of the last operation queued.
    pub(super) fn queued(&self) -> u64 {
        self.shared.lock().last
    }
    /// Wait until operation `seq` and all before it are done (committed, or failed and
    /// logged), asking the writer to commit now. Returns at once if the writer has stopped.
    pub(super) async fn settled(&self, seq: u64) {
        if *self.settled.borrow() >= seq {
            return;
        }
        self.send(Op::Sync);
        let mut settled = self.settled.clone();
        let _ = settled.wait_for(|done| *done >= seq).await;
    }

    pub(super) fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Handle {
    /// Close the channel and wait for the writer to commit what is left.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            warn!("the state writer panicked");
        }
    }
}

/// What the writer has taken and not committed yet.
#[derive(Default)]
struct Batch {
    /// The last save or removal of each chat.
    chats: HashMap<ChatId, Option<Box<Record>>>,
    prunes: Vec<(Duration, HashSet<ChatId>)>,
    /// The number of the last operation taken.
    last: u64,
    /// When the first write nobody waits for was taken.
    since: Option<Instant>,
    /// How many wait for this batch.
    waiters: usize,
}

impl Batch {
    fn writes(&self) -> bool {
        !self.chats.is_empty() || !self.prunes.is_empty()
    }
}

/// The writer thread's state.
struct Writer<'a> {
    conn: Connection,
    batch: Batch,
    /// When the last commit someone waited for ended, and how many waited for it.
    last_commit: Instant,
    last_waiters: usize,
    settled: &'a watch::Sender<u64>,
    transactions: &'a AtomicU64,
}

impl<'a> Writer<'a> {
    fn new(
        conn: Connection,
        settled: &'a watch::Sender<u64>,
        transactions: &'a AtomicU64,
    ) -> Writer<'a> {
        Writer {
            conn,
            batch: Batch::default(),
            last_commit: Instant::now(),
            last_waiters: 0,
            settled,
            transactions,
        }
    }

    /// When the batch is to be committed; `None`: nothing to commit.
    fn due(&self) -> Option<Instant> {
        if !self.batch.writes() {
            return None;
        }
        if self.batch.waiters > 0 {
            let gap = if self.last_waiters > 1 {
                COMMIT_GAP
            } else {
                Duration::ZERO
            };
            return Some(self.last_commit + gap);
        }
        Some(self.batch.since.unwrap_or_else(Instant::now) + LAZY_COMMIT)
    }

    /// Take operations until every handle is gone, committing batches when due.
    fn run(mut self, shared: &Shared) {
        let mut ops = Vec::new();
        loop {
            let closed = self.wait(shared, &mut ops);
            for (seq, op) in ops.drain(..) {
                self.take(seq, op);
                if self.batch.chats.len() >= MAX_BATCH {
                    self.commit();
                }
            }
            if closed {
                break;
            }
            if self.due().is_some_and(|due| due <= Instant::now()) {
                self.commit();
            } else if !self.batch.writes() {
                // Only reads and syncs since the last commit: all of it is done.
                self.publish();
            }
        }
        self.commit();
        debug!("state writer stopped");
    }

    /// Sleep until there is something to take or a commit is due; move what is queued into
    /// `ops`. True once the handle is gone (what is queued is still taken).
    fn wait(&self, shared: &Shared, ops: &mut Vec<(u64, Op)>) -> bool {
        let mut queue = shared.lock();
        while queue.ops.is_empty() && !queue.closed {
            let now = Instant::now();
            match self.due() {
                None => {
                    queue.waiting = Waiting::Anything;
                    queue = shared
                        .wake
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Some(due) if due <= now => break,
                Some(due) => {
                    queue.waiting = Waiting::Until {
                        urgent: self.batch.waiters > 0,
                    };
                    queue = shared
                        .wake
                        .wait_timeout(queue, due - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
        queue.waiting = Waiting::No;
        std::mem::swap(&mut queue.ops, ops);
        queue.closed
    }

    fn take(&mut self, seq: u64, op: Op) {
        self.batch.last = seq;
        let lazy = |batch: &mut Batch| {
            batch.since.get_or_insert_with(Instant::now);
        };
        match op {
            Op::Save { id, record } => {
                self.batch.chats.insert(id, Some(record));
                lazy(&mut self.batch);
            }
            Op::Remove { id } => {
                self.batch.chats.insert(id, None);
                lazy(&mut self.batch);
            }
            Op::Sync => self.batch.waiters += 1,
            Op::Load { id, reply } => {
                let record = match self.batch.chats.get(&id) {
                    Some(record) => record.as_deref().cloned(),
                    None => sql::get(&self.conn, &id).unwrap_or_else(|e| {
                        warn!(chat_id = %id, error = %e, "cannot read the chat's saved state");
                        None
                    }),
                };
                let _ = reply.send(record);
            }
            Op::Ids { reply } => {
                let _ = reply.send(self.ids());
            }
            Op::Prune { age, kept } => {
                self.batch.prunes.push((age, kept));
                lazy(&mut self.batch);
            }
            #[cfg(test)]
            Op::Hold { holding, release } => {
                let _ = holding.send(());
                let _ = release.recv();
            }
        }
    }

    /// The saved ids with the batch applied.
    fn ids(&self) -> Vec<ChatId> {
        let mut ids: BTreeSet<ChatId> = sql::ids(&self.conn)
            .unwrap_or_else(|e| {
                warn!(error = %e, "cannot list the saved chat states");
                Vec::new()
            })
            .into_iter()
            .collect();
        for (id, record) in &self.batch.chats {
            if record.is_some() {
                ids.insert(id.clone());
            } else {
                ids.remove(id);
            }
        }
        ids.into_iter().collect()
    }

    /// Commit the batch (if it writes anything) and tell the waiters.
    fn commit(&mut self) {
        if self.batch.writes() {
            match self.write() {
                Ok(()) => {
                    self.transactions.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => warn!(
                    error = %e,
                    "cannot save the chats' state; a restart relies on the transcripts"
                ),
            }
        }
        if self.batch.waiters > 0 {
            self.last_commit = Instant::now();
            self.last_waiters = self.batch.waiters;
        }
        self.publish();
    }

    /// Tell everyone waiting that what was taken is done; start a new batch.
    fn publish(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        if *self.settled.borrow() < batch.last {
            self.settled.send_replace(batch.last);
        }
    }

    /// The batch in one transaction.
    fn write(&mut self) -> rusqlite::Result<()> {
        let now = sql::millis(SystemTime::now());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (id, record) in &self.batch.chats {
            match record {
                Some(record) => sql::put(&tx, &id.0, record, now)?,
                None => {
                    if sql::delete(&tx, id)? {
                        debug!(chat_id = %id, "chat state removed");
                    }
                }
            }
        }
        for (age, kept) in &self.batch.prunes {
            sql::prune(&tx, *age, kept, now)?;
        }
        tx.commit()
    }
}
