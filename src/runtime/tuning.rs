//! The daemon's knobs that operators rarely touch and tests shorten: back-offs, timeouts, the
//! clock, the service manager, how often chats are reconciled, the hand-over window.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::chat;

/// Knobs that operators rarely touch and tests shorten.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Back-off between login attempts that failed on the network or server side.
    pub login_backoff: Backoff,
    /// Back-off between login attempts that GWS refused (wrong credentials): longer, so a bad
    /// password never turns into a tight loop or a locked account.
    pub auth_backoff: Backoff,
    /// Back-off for the CometD transport.
    pub cometd_backoff: Backoff,
    /// How long to wait for the transcript after Accept.
    pub history_timeout: Duration,
    /// The time rules see (schedules); tests fix it.
    pub clock: crate::schedule::Clock,
    /// The service manager to report readiness, status and watchdog beats to.
    pub notifier: crate::telemetry::notify::Notifier,
    /// How often the agent's chat listing is compared with the open chats, so that a chat
    /// the bot lost track of (a lost notification, an ambiguous failure) is picked up again.
    pub reconcile_interval: Duration,
    /// After the shutdown grace period: how long the hand-over of the open chats may take
    /// before they are abandoned.
    pub hand_over_window: Duration,
    /// The shadow rules (`[shadow]`) the chats evaluate after the live chain; the caller loads
    /// and reloads them (see `cli::run`). `None`: no shadow rules.
    pub shadow: Option<std::sync::Arc<chat::shadow::Shadow>>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            login_backoff: Backoff::default(),
            auth_backoff: Backoff::new(Duration::from_secs(30), Duration::from_secs(600), 0.2),
            cometd_backoff: Backoff::default(),
            history_timeout: chat::DEFAULT_HISTORY_TIMEOUT,
            clock: crate::schedule::Clock::System,
            notifier: crate::telemetry::notify::Notifier::disabled(),
            reconcile_interval: DEFAULT_RECONCILE_INTERVAL,
            hand_over_window: DEFAULT_HAND_OVER_WINDOW,
            shadow: None,
        }
    }
}

/// How often the chat listing is reconciled unless tuned otherwise.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(60);
/// How long the hand-over at the shutdown deadline may take unless tuned otherwise.
pub const DEFAULT_HAND_OVER_WINDOW: Duration = Duration::from_secs(15);

/// Worker threads of the daemon's runtime (`gws-botd run`; `TOKIO_WORKER_THREADS` overrides
/// it). One: the work per message is short and the store and the decision log have threads of
/// their own, so a second worker mostly adds wake-ups and hand-overs between the two. Measured
/// with the load bench against the same binary on tokio's default (two workers on two cores):
/// CPU per reply 0.81x at 16, 0.73x at 64 and 0.79x at 256 concurrent customers (system time
/// halved), write syscalls per reply 0.86-0.91x, replies/s and reply p99 unchanged.
pub const DAEMON_WORKER_THREADS: usize = 1;
