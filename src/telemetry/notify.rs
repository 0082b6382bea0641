//! Tells the service manager how the daemon is doing, over the `sd_notify` protocol
//! (systemd `Type=notify`): `READY=1` once logged in and Ready, `RELOADING=1`/`READY=1` around a
//! rule reload, `STOPPING=1` at shutdown, `STATUS=` lines such as "42 chats, rules v7", and
//! `WATCHDOG=1` pings from the daemon's main loop while the CometD connection is healthy, so a
//! hung daemon or a dead notification stream gets restarted by `WatchdogSec=`.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call is a no-op. Sending never fails the
//! daemon: a lost notification is logged at DEBUG.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};
use tracing::debug;

use crate::telemetry::stats::Snapshot;

/// How often `STATUS=` is refreshed when no watchdog asks for more frequent beats.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(5);

/// Where notifications go.
#[derive(Clone)]
enum Sink {
    /// Not started by a service manager.
    Disabled,
    /// The socket in `$NOTIFY_SOCKET`.
    Systemd,
    /// One string per notification (its lines joined by `\n`), for tests and embedding.
    Channel(mpsc::UnboundedSender<String>),
}

/// A handle to the service manager; cheap to clone, shared by the CLI and the daemon.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    sink: Sink,
    /// `WatchdogSec=` as passed in `$WATCHDOG_USEC`.
    watchdog: Option<Duration>,
    /// The last `STATUS=` sent, so an unchanged one is not repeated.
    last_status: Mutex<String>,
    /// How many beats the main loop has made ([`Notifier::beats`]).
    beats: tokio::sync::watch::Sender<u64>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sink = match self.inner.sink {
            Sink::Disabled => "disabled",
            Sink::Systemd => "systemd",
            Sink::Channel(_) => "channel",
        };
        f.debug_struct("Notifier")
            .field("sink", &sink)
            .field("watchdog", &self.inner.watchdog)
            .finish_non_exhaustive()
    }
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier::disabled()
    }
}

impl Notifier {
    fn new(sink: Sink, watchdog: Option<Duration>) -> Self {
        Notifier {
            inner: Arc::new(Inner {
                sink,
                watchdog: watchdog.filter(|w| !w.is_zero()),
                last_status: Mutex::new(String::new()),
                beats: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Self {
        Notifier::new(Sink::Disabled, None)
    }

    /// The service manager named by `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` (disabled when
    /// not started by one).
    pub fn from_env() -> Self {
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            return Notifier::disabled();
        }
        Notifier::new(Sink::Systemd, sd_notify::watchdog_enabled())
    }

    /// A notifier that hands every notification to the returned receiver, with the given
    /// watchdog period: for tests and for embedding the daemon under another supervisor.
    pub fn channel(watchdog: Option<Duration>) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Notifier::new(Sink::Channel(tx), watchdog), rx)
    }

    /// Whether notifications go anywhere.
    pub fn is_enabled(&self) -> bool {
        !matches!(self.inner.sink, Sink::Disabled)
    }

    /// The watchdog period the service manager expects pings within, if any.
    pub fn watchdog(&self) -> Option<Duration> {
        self.inner.watchdog
    }

    /// Logged in and Ready for chats.
    pub fn ready(&self, stats: &Snapshot) {
        let status = self.status(stats, true);
        self.send(&[NotifyState::Ready, NotifyState::Status(&status)]);
    }

    /// A rule reload starts.
    pub fn reloading(&self) {
        let mut states = vec![NotifyState::Reloading];
        // systemd 253+ requires the monotonic time with RELOADING=1.
        if let Ok(now) = NotifyState::monotonic_usec_now() {
            states.push(now);
        }
        states.push(NotifyState::Status("reloading rules"));
        self.send(&states);
    }

    /// A rule reload finished (`stats` already counts it); `ok` when the new set is active.
    pub fn reloaded(&self, ok: bool, stats: &Snapshot) {
        let mut status = self.status(stats, true);
        if !ok {
            status.push_str(", last reload failed");
        }
        self.send(&[NotifyState::Ready, NotifyState::Status(&status)]);
    }

    /// Shutdown started.
    pub fn stopping(&self) {
        self.send(&[
            NotifyState::Stopping,
            NotifyState::Status("stopping: letting open chats finish"),
        ]);
    }

    /// A beat of the main loop: ping the watchdog only while the notification stream is
    /// healthy (`link_up`), and refresh `STATUS=` when it changed.
    pub fn beat(&self, link_up: bool, stats: &Snapshot) {
        let status = self.status(stats, link_up);
        let changed = {
            let mut last = self
                .inner
                .last_status
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let changed = *last != status;
            if changed {
                last.clone_from(&status);
            }
            changed
        };
        let mut states = Vec::with_capacity(2);
        if link_up && self.inner.watchdog.is_some() {
            states.push(NotifyState::Watchdog);
        }
        if changed {
            states.push(NotifyState::Status(&status));
        }
        if !states.is_empty() {
            self.send(&states);
        }
        self.inner.beats.send_modify(|n| *n += 1);
    }

    /// How many beats ([`Notifier::beat`]) the main loop has made, whether or not they sent
    /// anything: a beat that sent nothing is otherwise invisible. Changes after each beat's
    /// notification was handed on.
    pub fn beats(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.beats.subscribe()
    }

    /// The timer the main loop awaits between beats: half the watchdog period (as systemd
    /// recommends), at most [`STATUS_INTERVAL`]; never fires when notifications are disabled.
    pub fn heartbeat(&self) -> Heartbeat {
        let period = match (&self.inner.sink, self.inner.watchdog) {
            (Sink::Disabled, _) => None,
            (_, Some(w)) => Some((w / 2).min(STATUS_INTERVAL)),
            (_, None) => Some(STATUS_INTERVAL),
        };
        Heartbeat {
            interval: period.map(|p| {
                let mut i = tokio::time::interval(p);
                i.set_missed_tick_behavior(MissedTickBehavior::Delay);
                i
            }),
        }
    }

    /// "42 chats, rules v7" (the rule-set version from [`Stats`](crate::telemetry::stats::Stats)), plus
    /// what is wrong if anything.
    fn status(&self, stats: &Snapshot, link_up: bool) -> String {
        let mut status = format!(
            "{} chats, rules v{}",
            stats.chats_open(),
            stats.rules_version
        );
        if !link_up {
            status.push_str(", notifications reconnecting");
        }
        status
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        match &self.inner.sink {
            Sink::Disabled => {}
            Sink::Systemd => {
                if let Err(e) = sd_notify::notify(states) {
                    debug!(error = %e, "cannot notify the service manager");
                }
            }
            Sink::Channel(tx) => {
                let text: Vec<String> = states.iter().map(ToString::to_string).collect();
                let _ = tx.send(text.join("\n"));
            }
        }
    }
}

/// The main loop's beat timer, from [`Notifier::heartbeat`].
#[derive(Debug)]
pub struct Heartbeat {
    interval: Option<Interval>,
}

impl Heartbeat {
    /// Wait for the next beat (forever when notifications are disabled).
    pub async fn tick(&mut self) {
        match &mut self.interval {
            Some(interval) => {
                interval.tick().await;
            }
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &mut mpsc::UnboundedReceiver<String>) -> Vec<String> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    /// `offered` chats of which `ended` ended, with rule set `version`.
    fn stats(offered: u64, ended: &[(&str, u64)], version: u64) -> Snapshot {
        Snapshot {
            chats_offered: offered,
            chats_ended: ended.iter().map(|(l, n)| ((*l).to_owned(), *n)).collect(),
            rules_version: version,
            ..Snapshot::default()
        }
    }

    #[test]
    fn lifecycle_messages() {
        let (n, mut rx) = Notifier::channel(None);
        n.ready(&stats(0, &[], 1));
        n.reloading();
        n.reloaded(true, &stats(3, &[("closed", 1)], 2));
        n.reloading();
        n.reloaded(false, &stats(3, &[("closed", 1)], 2));
        n.stopping();
        let sent = drain(&mut rx);
        assert_eq!(sent[0], "READY=1\nSTATUS=0 chats, rules v1");
        assert!(
            sent[1].starts_with("RELOADING=1\nMONOTONIC_USEC="),
            "{}",
            sent[1]
        );
        assert_eq!(sent[2], "READY=1\nSTATUS=2 chats, rules v2");
        assert_eq!(
            sent[4],
            "READY=1\nSTATUS=2 chats, rules v2, last reload failed"
        );
        assert_eq!(
            sent[5],
            "STOPPING=1\nSTATUS=stopping: letting open chats finish"
        );
    }

    #[test]
    fn the_watchdog_is_pinged_only_while_the_link_is_up() {
        let (n, mut rx) = Notifier::channel(Some(Duration::from_secs(30)));
        let s = stats(1, &[], 1);
        n.beat(true, &s);
        n.beat(true, &s);
        n.beat(false, &s);
        n.beat(false, &s);
        n.beat(true, &s);
        assert_eq!(
            drain(&mut rx),
            [
                "WATCHDOG=1\nSTATUS=1 chats, rules v1",
                "WATCHDOG=1",
                "STATUS=1 chats, rules v1, notifications reconnecting",
                "WATCHDOG=1\nSTATUS=1 chats, rules v1",
            ]
        );
    }

    #[test]
    fn without_a_watchdog_only_status_changes_are_sent() {
        let (n, mut rx) = Notifier::channel(None);
        n.beat(true, &stats(1, &[], 1));
        n.beat(true, &stats(1, &[], 1));
        n.beat(true, &stats(3, &[("handed_over", 1)], 1));
        assert_eq!(
            drain(&mut rx),
            ["STATUS=1 chats, rules v1", "STATUS=2 chats, rules v1"]
        );
    }

    #[test]
    fn disabled_sends_nothing_and_has_no_heartbeat() {
        let n = Notifier::disabled();
        assert!(!n.is_enabled());
        n.ready(&stats(0, &[], 1));
        assert!(n.heartbeat().interval.is_none());
        assert_eq!(
            format!("{n:?}"),
            "Notifier { sink: \"disabled\", watchdog: None, .. }"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_heartbeat_beats_at_half_the_watchdog_period() {
        let (n, _rx) = Notifier::channel(Some(Duration::from_secs(4)));
        let mut beat = n.heartbeat();
        let start = tokio::time::Instant::now();
        beat.tick().await; // the first tick is immediate
        beat.tick().await;
        beat.tick().await;
        assert_eq!(start.elapsed(), Duration::from_secs(4));

        let (slow, _rx) = Notifier::channel(Some(Duration::from_secs(60)));
        let mut beat = slow.heartbeat();
        let start = tokio::time::Instant::now();
        beat.tick().await;
        beat.tick().await;
        assert_eq!(
            start.elapsed(),
            STATUS_INTERVAL,
            "capped for fresh STATUS lines"
        );
    }
}
