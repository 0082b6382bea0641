//! The running bot agent: log in, open the notification stream, start the contact-centre
//! session, recover the chats it still holds, go Ready, route chats until told to stop, then
//! drain and log out in order (NotReady → open chats finish within the grace period, the rest
//! are handed to `bot.fallback_skill` or told and closed → CometD disconnect →
//! EndContactCenterSession).
//!
//! It also keeps the session: a new CometD connection (after a server restart or a lost
//! client) or a chat that found the session gone makes it log in again (`GET me`,
//! StartContactCenterSession, recovery, Ready); a periodic reconcile adopts chats the bot
//! lost track of.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::chat::{self, Context};
use crate::cometd::{self, Notification};
use crate::config::Config;
use crate::event::Event;
use crate::gws::{self, Parsed, SessionOperation};
use crate::responder::Chain;
use crate::responder::registry::BuildContext;
use crate::responder::rules::{Problems, RuleSet};
use crate::runtime::dispatch::{Command, Dispatcher};
use crate::runtime::session;
use crate::store::decision_log::DecisionLog;
use crate::store::state::Store;
use crate::telemetry::notify::Notifier;
use crate::telemetry::stats::Stats;

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
    pub notifier: Notifier,
    /// How often the agent's chat listing is compared with the open chats, so that a chat
    /// the bot lost track of (a lost notification, an ambiguous failure) is picked up again.
    pub reconcile_interval: Duration,
    /// After the shutdown grace period: how long the hand-over of the open chats may take
    /// before they are abandoned.
    pub hand_over_window: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            login_backoff: Backoff::default(),
            auth_backoff: Backoff::new(Duration::from_secs(30), Duration::from_secs(600), 0.2),
            cometd_backoff: Backoff::default(),
            history_timeout: chat::DEFAULT_HISTORY_TIMEOUT,
            clock: crate::schedule::Clock::System,
            notifier: Notifier::disabled(),
            reconcile_interval: DEFAULT_RECONCILE_INTERVAL,
            hand_over_window: DEFAULT_HAND_OVER_WINDOW,
        }
    }
}

/// How often the chat listing is reconciled unless tuned otherwise.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(60);
/// How long the hand-over at the shutdown deadline may take unless tuned otherwise.
pub const DEFAULT_HAND_OVER_WINDOW: Duration = Duration::from_secs(15);

/// How long a recovery waits for the dispatcher to take in the listing.
const RECOVERED_WAIT: Duration = Duration::from_secs(5);

/// Load the rule set named by the configuration.
pub fn load_rules(config: &Config) -> Result<RuleSet, Problems> {
    RuleSet::load_dir(&config.bot.rules)
}

/// The responder chain the configuration names, with the rule-based ones reading `rules`.
pub fn build_chain(config: &Config, rules: &Arc<ArcSwap<RuleSet>>) -> Chain {
    let overrides = crate::schedule::overrides::Watch::new(&config.bot.state_dir);
    build_chain_with(config, rules, Arc::new(overrides))
}

/// The same, consulting the emergency override that `overrides` follows.
pub fn build_chain_with(
    config: &Config,
    rules: &Arc<ArcSwap<RuleSet>>,
    overrides: Arc<crate::schedule::overrides::Watch>,
) -> Chain {
    let ctx = BuildContext {
        rules: rules.clone(),
        overrides: Some(overrides),
    };
    Chain::new(config.responders.iter().map(|r| r.build(&ctx)).collect())
}

/// Run the bot agent until `shutdown` is cancelled, answering with `chain`.
pub async fn run(
    config: Config,
    chain: Chain,
    tuning: Tuning,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = Store::open(&config.bot.state_dir)?;
    let client = gws::Client::new(client_config(&config).observed_by(stats.clone()))
        .context("cannot set up the GWS client")?;
    let health = stats.health().clone();
    let Some(me) = login(&client, &tuning, &shutdown).await else {
        info!("stopped before logging in");
        return Ok(());
    };
    info!(user = %me.user_name, id = %me.id, "logged in to GWS");
    health.logged_in.set(true);

    // Subscribe before starting the contact-centre session so no invitation is missed.
    let (notify_tx, mut notify_rx) = mpsc::channel(1024);
    let cometd_stop = CancellationToken::new();
    let cometd = cometd::Client::new(
        client.transport().clone(),
        client.notifications_url(),
        client.dialect().topics(),
        tuning.cometd_backoff,
    )
    .report_link(health.cometd_connected.clone());
    let mut cometd_task = tokio::spawn(listen(
        cometd,
        notify_tx,
        cometd_stop.clone(),
        tuning.login_backoff,
    ));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                cometd_stop.cancel();
                let _ = cometd_task.await;
                return Ok(());
            }
            n = notify_rx.recv() => match n {
                Some(Notification::Connected { .. }) => break,
                Some(Notification::Message { .. }) => debug!("notification before the session started"),
                None => {
                    let result = cometd_task.await;
                    anyhow::bail!("the notification stream ended before it was set up: {result:?}");
                }
            }
        }
    }
    info!("notifications subscribed");

    if !start_session(&client, &config, &tuning, &shutdown).await {
        cometd_stop.cancel();
        let _ = cometd_task.await;
        return Ok(());
    }

    let (keeper, link) = session::pair();
    let hand_over = CancellationToken::new();
    let ctx = Arc::new(Context {
        gws: client.clone(),
        chain,
        nickname: config.bot.nickname.clone(),
        texts: config.escalation.clone(),
        fallback_skill: config.bot.fallback_skill.clone(),
        history_timeout: tuning.history_timeout,
        stats: stats.clone(),
        decisions: DecisionLog::open_or_disabled(&config.decision_log, &config.bot.state_dir),
        clock: tuning.clock.clone(),
        store,
        max_message_chars: config.bot.max_message_chars,
        session: link,
        hand_over: hand_over.clone(),
    });
    let (event_tx, event_rx) = mpsc::channel(1024);
    // Transcripts the client fetches itself (`chats` dialect) join the notifications.
    client.deliver_transcripts_to(event_tx.clone());
    let (command_tx, command_rx) = mpsc::channel(4);
    let (resync_tx, mut resync_rx) = mpsc::channel(1);
    let (reconcile_tx, mut reconcile_rx) = mpsc::channel(1);
    let pump = tokio::spawn(pump(
        client.clone(),
        notify_rx,
        event_tx,
        stats.clone(),
        Resync {
            session: resync_tx,
            chats: reconcile_tx,
        },
    ));
    let drain = CancellationToken::new();
    let abort = CancellationToken::new();
    let mut dispatcher = tokio::spawn(Dispatcher::new(ctx, config.bot.max_chats).run(
        event_rx,
        command_rx,
        drain.clone(),
        abort.clone(),
    ));
    // Adopt what this agent still holds (after a crash or restart), then go Ready.
    recover(&client, &command_tx, true).await;
    // READY=1 for systemd once the dispatcher's worker has gone Ready (it does so after
    // recovering the agent's chats).
    tokio::spawn({
        let (health, notifier, stats, stop) = (
            health.clone(),
            tuning.notifier.clone(),
            stats.clone(),
            shutdown.clone(),
        );
        async move {
            while !health.agent_ready.get() {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
            notifier.ready(&stats.snapshot());
        }
    });

    let mut heartbeat = tuning.notifier.heartbeat();
    let mut reconcile = tokio::time::interval(tuning.reconcile_interval);
    reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    reconcile.reset();
    let early_end = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break None,
            result = &mut dispatcher => break Some(result),
            _ = heartbeat.tick() => tuning.notifier.beat(health.cometd_connected.get(), &stats.snapshot()),
            _ = keeper.lost() => {
                warn!("a chat found the GWS session gone; logging in again");
                relogin(&client, &config, &tuning, &shutdown, &command_tx, &keeper).await;
            }
            Some(()) = resync_rx.recv() => {
                info!("notifications re-established; renewing the session and recovering chats");
                relogin(&client, &config, &tuning, &shutdown, &command_tx, &keeper).await;
            }
            _ = reconcile.tick() => recover(&client, &command_tx, false).await,
            Some(()) = reconcile_rx.recv() => {
                info!("a transfer or finish failed after it was accepted; taking the chat back now");
                recover(&client, &command_tx, false).await;
            }
        }
    };
    if let Some(result) = early_end {
        error!(?result, "chat routing stopped unexpectedly");
    } else {
        info!(grace = ?config.bot.shutdown_grace, "shutting down: NotReady, letting open chats finish");
        health.agent_ready.set(false);
        if let Err(e) = client.session(&SessionOperation::NotReady).await {
            warn!(error = %e, "NotReady failed");
        }
        drain.cancel();
        let abandoned = match tokio::time::timeout(config.bot.shutdown_grace, &mut dispatcher).await
        {
            Ok(result) => result.unwrap_or(0),
            Err(_) => {
                info!(
                    to = config.bot.fallback_skill.as_deref().unwrap_or("(closing)"),
                    "grace period over: handing the open chats over"
                );
                hand_over.cancel();
                match tokio::time::timeout(tuning.hand_over_window, &mut dispatcher).await {
                    Ok(result) => result.unwrap_or(0),
                    Err(_) => {
                        abort.cancel();
                        dispatcher.await.unwrap_or(0)
                    }
                }
            }
        };
        if abandoned > 0 {
            warn!(
                abandoned,
                "chats were still open at the end of the grace period"
            );
        }
    }
    cometd_stop.cancel();
    match (&mut cometd_task).await {
        Ok(()) => info!("notifications disconnected"),
        Err(e) => warn!(error = %e, "notification task failed"),
    }
    pump.abort();
    if let Err(e) = client
        .session(&SessionOperation::EndContactCenterSession)
        .await
    {
        warn!(error = %e, "EndContactCenterSession failed");
    }
    health.clear();
    info!(stats = %stats.snapshot(), "stopped");
    Ok(())
}

/// Keep the CometD client running: when it stops on its own (the server refused the
/// handshake with `reconnect: none`) start it again after a back-off. The fresh client's
/// `Connected` makes the daemon renew the session and recover its chats.
async fn listen(
    cometd: cometd::Client,
    tx: mpsc::Sender<Notification>,
    stop: CancellationToken,
    backoff: Backoff,
) {
    let mut delays = backoff.delays();
    loop {
        match cometd.clone().run(tx.clone(), stop.clone()).await {
            Ok(()) => return,
            Err(e) => {
                let delay = delays.next_delay();
                warn!(error = %e, retry_in = ?delay, "notification stream stopped; starting over");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// List the agent's chats and hand them to the dispatcher, which adopts them (and goes Ready
/// when `set_ready`). A failed listing is retried at the next reconcile; the dispatcher still
/// goes Ready. Returns once the dispatcher has handed the chats their inputs (or gave up).
async fn recover(client: &gws::Client, commands: &mpsc::Sender<Command>, set_ready: bool) {
    let listed_at = Instant::now();
    let (chats, listed) = match client.list_chats().await {
        Ok(chats) => (chats, true),
        Err(e) => {
            warn!(error = %e, "cannot list the agent's chats; trying again later");
            (Vec::new(), false)
        }
    };
    let (done, recovered) = oneshot::channel();
    let sent = commands
        .send(Command::Recover {
            chats,
            listed,
            listed_at,
            set_ready,
            done: Some(done),
        })
        .await;
    if sent.is_ok() {
        // Bounded: the dispatcher may be busy shutting down.
        let _ = tokio::time::timeout(RECOVERED_WAIT, recovered).await;
    }
}

/// The session was lost (or may have been: notifications started over). Fetch `GET me` until
/// it works, start the contact-centre session again, recover the chats, go Ready, and tell the
/// chats waiting for it.
async fn relogin(
    client: &gws::Client,
    config: &Config,
    tuning: &Tuning,
    shutdown: &CancellationToken,
    commands: &mpsc::Sender<Command>,
    keeper: &session::Keeper,
) {
    if login(client, tuning, shutdown).await.is_none() {
        return;
    }
    if !start_session(client, config, tuning, shutdown).await {
        return;
    }
    recover(client, commands, true).await;
    keeper.renewed();
}

/// StartContactCenterSession with back-off until it works; false if `shutdown` came first.
async fn start_session(
    client: &gws::Client,
    config: &Config,
    tuning: &Tuning,
    shutdown: &CancellationToken,
) -> bool {
    let start = SessionOperation::StartContactCenterSession {
        place: config.gws.place.clone(),
    };
    let mut delays = tuning.login_backoff.delays();
    loop {
        let delay = match client.session(&start).await {
            Ok(()) => return true,
            Err(e) => {
                let d = delays.next_delay();
                warn!(error = %e, retry_in = ?d, "StartContactCenterSession failed");
                d
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Log in with back-off until it works or `shutdown` is cancelled.
async fn login(
    client: &gws::Client,
    tuning: &Tuning,
    shutdown: &CancellationToken,
) -> Option<gws::Me> {
    let mut network = tuning.login_backoff.delays();
    let mut auth = tuning.auth_backoff.delays();
    loop {
        let delay = match client.login().await {
            Ok(me) => return Some(me),
            Err(gws::Error::Unauthorized) => {
                let d = auth.next_delay();
                error!(retry_in = ?d, "GWS refused the username or password (HTTP 401); check gws.username and the password");
                d
            }
            Err(e) => {
                let d = network.next_delay();
                warn!(error = %e, retry_in = ?d, "cannot reach GWS to log in");
                d
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// What the notification pump asks the daemon for.
struct Resync {
    /// A new CometD connection: renew the session and recover.
    session: mpsc::Sender<()>,
    /// A transfer or finish failed after it was accepted: the chat is still the bot's but its
    /// task has ended, so list the chats now rather than at the next reconcile.
    chats: mpsc::Sender<()>,
}

/// How many unknown notification types are remembered for "logged once per type": a server
/// (or an attacker) inventing a new type per message cannot grow the set without bound.
pub const MAX_UNKNOWN_TYPES: usize = 256;

/// Turn raw notifications into domain events. Unknown message types are logged once each;
/// `Error` notifications are matched with the request that failed.
async fn pump(
    client: gws::Client,
    mut notifications: mpsc::Receiver<Notification>,
    events: mpsc::Sender<Event>,
    stats: Arc<Stats>,
    resync: Resync,
) {
    let mut unknown_types = HashSet::new();
    let mut unknown_types_full = false;
    while let Some(notification) = notifications.recv().await {
        let event = match notification {
            Notification::Connected { .. } => {
                stats.reconnect();
                // A full channel already holds a request: one renewal covers both.
                let _ = resync.session.try_send(());
                continue;
            }
            Notification::Message { channel, data } => {
                stats.notification();
                match client.dialect().parse_notification(&channel, &data) {
                    Parsed::Event(Event::Chat(update)) => {
                        if client
                            .async_failure(&update)
                            .is_some_and(|r| r.ends_the_bots_part)
                        {
                            let _ = resync.chats.try_send(());
                        }
                        Event::Chat(update)
                    }
                    Parsed::Event(event) => event,
                    Parsed::Ignored(reason) => {
                        stats.notification_ignored();
                        warn!(channel = %channel, reason = %reason, "notification skipped");
                        debug!(raw = %data, "skipped notification");
                        continue;
                    }
                    Parsed::Unknown { message_type } => {
                        stats.notification_unknown();
                        if unknown_types.len() < MAX_UNKNOWN_TYPES {
                            if unknown_types.insert(message_type.clone()) {
                                warn!(channel = %channel, message_type = %message_type, "unknown notification type (logged once per type)");
                            }
                        } else if !unknown_types.contains(&message_type) && !unknown_types_full {
                            unknown_types_full = true;
                            warn!(
                                limit = MAX_UNKNOWN_TYPES,
                                "more unknown notification types than remembered: further new ones are counted, not logged"
                            );
                        }
                        debug!(raw = %data, "unknown notification");
                        continue;
                    }
                }
            }
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

/// The GWS client settings from the configuration.
pub fn client_config(config: &Config) -> gws::ClientConfig {
    let mut names = gws::OperationNames::default();
    // Overrides were checked by `check`; an unknown name here is reported there.
    if let Err(e) = names.apply_overrides(&config.gws.operation_names) {
        warn!(error = %e, "ignoring operation name overrides");
    }
    gws::ClientConfig {
        api_url: config.gws.api_url.clone(),
        credentials: gws::Credentials {
            username: config.gws.username.clone(),
            password: config.gws.password.clone(),
        },
        request_timeout: config.gws.request_timeout,
        dialect: config.gws.dialect,
        operation_names: names,
        retry: Backoff::default(),
        retry_attempts: config.gws.retry_attempts,
        tls: gws::TlsOptions {
            extra_ca: config.gws.tls_ca_file.clone(),
            danger_accept_invalid_certs: config.gws.danger_accept_invalid_certs,
        },
        observer: None,
        max_requests_per_second: config.bot.max_requests_per_second,
        max_response_size: config.gws.max_response_size,
    }
}
