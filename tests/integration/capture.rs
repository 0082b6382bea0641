//! Capturing every log line of a test: a TRACE-level subscriber set as the default of the
//! test's thread, writing into a shared buffer. `log` records (reqwest, hyper) are bridged in.
//!
//! Only events emitted on the test's thread are seen, so tests that capture run on a
//! current-thread runtime (`#[tokio::test]`'s default), where every spawned task runs on that
//! thread too.

use std::io;
use std::sync::{Arc, Mutex};

use tracing::dispatcher::DefaultGuard;
use tracing_subscriber::util::SubscriberInitExt;

/// Everything logged on this thread while the guard lives.
#[derive(Clone, Default)]
pub struct Capture {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl Capture {
    /// Start capturing on the current thread until the returned guard drops.
    pub fn start() -> (Capture, DefaultGuard) {
        let capture = Capture::default();
        let writer = capture.clone();
        let guard = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_target(true)
            .with_writer(move || writer.clone())
            .finish()
            .set_default();
        // `set_default` bridges `log` records, but an earlier global subscriber may have set
        // the `log` crate's level lower: capture everything.
        log::set_max_level(log::LevelFilter::Trace);
        (capture, guard)
    }

    /// All lines captured so far.
    pub fn text(&self) -> String {
        let bytes = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Lines that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
