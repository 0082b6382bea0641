//! Process signals as an enum: SIGTERM and SIGINT ask for shutdown, SIGHUP for a rule reload.

use tokio::signal::unix::{SignalKind, signal};

/// What a signal asks the daemon to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Shutdown,
    Reload,
}

/// A stream of signals.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Install the handlers. Fails only if the OS refuses signal handling.
    pub fn new() -> std::io::Result<Self> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal.
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Shutdown,
            _ = self.int.recv() => Signal::Shutdown,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}
