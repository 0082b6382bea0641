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

use std::sync::Arc;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::agent::Agent;
use super::dispatch::{Command, Dispatcher};
use super::login::{listen, login, recover, relogin, start_session};
use super::pump::{self, Inbound, Resync};
use crate::backoff::Backoff;
use crate::chat::Context;
use crate::cometd::{self, Notification};
use crate::config::Config;
use crate::gws::{self, SessionOperation, session};
use crate::responder::BuildError;
use crate::responder::Chain;
use crate::responder::registry::BuildContext;
use crate::responder::rules::{Problems, RuleSet};
use crate::store::decision_log::DecisionLog;
use crate::store::state::Store;
use crate::telemetry::health::Health;
use crate::telemetry::stats::Stats;

pub use super::pump::MAX_UNKNOWN_TYPES;

pub use super::tuning::{DEFAULT_HAND_OVER_WINDOW, DEFAULT_RECONCILE_INTERVAL, Tuning};

/// Load the rule set named by the configuration.
pub fn load_rules(config: &Config) -> Result<RuleSet, Problems> {
    RuleSet::load_dir(&config.bot.rules)
}

/// Load the shadow rule set (`[shadow] rules`), when the configuration has one.
pub fn load_shadow(config: &Config) -> Option<Result<RuleSet, Problems>> {
    config
        .shadow
        .as_ref()
        .map(|shadow| RuleSet::load_dir(&shadow.rules))
}

/// The responder chain the configuration names, with the rule-based ones reading `rules`.
/// Fails when a responder cannot be built (a token file gone since `check`): exit 78.
pub fn build_chain(config: &Config, rules: &Arc<ArcSwap<RuleSet>>) -> Result<Chain, BuildError> {
    let overrides = crate::schedule::overrides::Watch::new(&config.bot.state_dir);
    build_chain_with(config, rules, Arc::new(overrides))
}

/// The same, consulting the emergency override that `overrides` follows.
pub fn build_chain_with(
    config: &Config,
    rules: &Arc<ArcSwap<RuleSet>>,
    overrides: Arc<crate::schedule::overrides::Watch>,
) -> Result<Chain, BuildError> {
    let ctx = BuildContext {
        rules: rules.clone(),
        overrides: Some(overrides),
    };
    let links = config.responders.iter().map(|r| r.build(&ctx));
    Ok(Chain::of(links.collect::<Result<_, _>>()?))
}

/// Run the bot agent until `shutdown` is cancelled, answering with `chain`.
///
/// The start-up is a numbered sequence, each step a function below: (1) open the state store
/// and build the GWS client, (2) log in, (3) subscribe to notifications (before the session,
/// so no invitation is missed), (4) start the contact-centre session, (5) start the pump and
/// the dispatcher, (6) recover the agent's chats and go Ready, (7) serve until told to stop,
/// (8) drain, (9) disconnect and end the session.
pub async fn run(
    config: Config,
    chain: Chain,
    tuning: Tuning,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // 1. The state store and the GWS client.
    let store = Store::open(&config.bot.state_dir)?;
    let client = gws::Client::new(client_config(&config).observed_by(stats.clone()))
        .context("cannot set up the GWS client")?;
    let health = stats.health().clone();
    // 2. Log in.
    let Some(me) = login(&client, &tuning, &shutdown).await else {
        info!("stopped before logging in");
        return Ok(());
    };
    info!(user = %me.user_name, id = %me.id, "logged in to GWS");
    health.logged_in.set(true);
    // 3. Subscribe to notifications.
    let Some((mut stream, notifications)) =
        Stream::subscribe(&client, &tuning, &health, &shutdown).await?
    else {
        return Ok(());
    };
    info!("notifications subscribed");
    // 4. Start the contact-centre session.
    if !start_session(&client, &config, &tuning, &shutdown).await {
        let _ = stream.stop().await;
        return Ok(());
    }
    // 5. The pump and the dispatcher.
    let parts = (store.clone(), chain, notifications);
    let mut routing = Routing::start(&client, &config, &tuning, &stats, parts);
    // 6. Adopt what this agent still holds (after a crash or restart), then go Ready.
    recover(&client, &routing.commands, true).await;
    announce_ready(&health, &tuning, &stats, &shutdown);
    // 7. Serve.
    let early_end = serve(&client, &config, &tuning, &stats, &shutdown, &mut routing).await;
    // 8. Drain.
    match early_end {
        Some(result) => error!(?result, "chat routing stopped unexpectedly"),
        None => drain(&client, &config, &tuning, &health, &mut routing).await,
    }
    // 9. Disconnect and end the session.
    match stream.stop().await {
        Ok(()) => info!("notifications disconnected"),
        Err(e) => warn!(error = %e, "notification task failed"),
    }
    routing.pump.abort();
    if let Err(e) = client
        .session(&SessionOperation::EndContactCenterSession)
        .await
    {
        warn!(error = %e, "EndContactCenterSession failed");
    }
    // What the chats saved last is committed before the process exits.
    store.flush().await;
    health.clear();
    info!(stats = %stats.snapshot(), "stopped");
    Ok(())
}

/// The notification stream: the task keeping the CometD client running.
struct Stream {
    task: JoinHandle<()>,
    stop: CancellationToken,
}

impl Stream {
    /// Step 3: start the CometD client and wait until it has subscribed; then the stream and
    /// its notifications. `None` when `shutdown` came first; an error when the stream ended
    /// before it was set up.
    async fn subscribe(
        client: &gws::Client,
        tuning: &Tuning,
        health: &Health,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<(Stream, mpsc::Receiver<Notification>)>> {
        let (tx, mut rx) = mpsc::channel(1024);
        let stop = CancellationToken::new();
        let cometd = cometd::Client::new(
            client.transport().clone(),
            client.notifications_url(),
            client.dialect().topics(),
            tuning.cometd_backoff,
        )
        .report_link(health.cometd_connected.clone())
        .deliver_payloads();
        let task = tokio::spawn(listen(cometd, tx, stop.clone(), tuning.login_backoff));
        let mut stream = Stream { task, stop };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = stream.stop().await;
                    return Ok(None);
                }
                n = rx.recv() => match n {
                    Some(Notification::Connected { .. }) => break,
                    Some(Notification::Message { .. } | Notification::Payload { .. }) => {
                        debug!("notification before the session started")
                    }
                    None => {
                        let result = (&mut stream.task).await;
                        anyhow::bail!("the notification stream ended before it was set up: {result:?}");
                    }
                }
            }
        }
        Ok(Some((stream, rx)))
    }

    /// Stop the CometD client (it disconnects) and wait for it.
    async fn stop(&mut self) -> Result<(), JoinError> {
        self.stop.cancel();
        (&mut self.task).await
    }
}

/// The running pump and dispatcher, and the daemon's lines to them.
struct Routing {
    dispatcher: JoinHandle<usize>,
    pump: JoinHandle<()>,
    commands: mpsc::Sender<Command>,
    /// The pump asks for a session renewal (a new CometD connection).
    resync: mpsc::Receiver<()>,
    /// The pump asks for a chat listing now (a transfer or finish failed later).
    reconcile: mpsc::Receiver<()>,
    /// Hears about chats that found the session gone.
    keeper: session::Keeper,
    drain: CancellationToken,
    hand_over: CancellationToken,
    abort: CancellationToken,
}

impl Routing {
    /// Step 5: the chats' context, the pump (the one way in for events: notifications and the
    /// transcripts the client fetches) and the dispatcher.
    fn start(
        client: &gws::Client,
        config: &Config,
        tuning: &Tuning,
        stats: &Arc<Stats>,
        (store, chain, notifications): (Store, Chain, mpsc::Receiver<Notification>),
    ) -> Routing {
        let (keeper, link) = session::pair();
        let hand_over = CancellationToken::new();
        let decisions = DecisionLog::open_or_disabled(&config.decision_log, &config.bot.state_dir);
        stats.count_decision_log_drops(decisions.drop_count());
        chain.observe(stats);
        let ctx = Arc::new(Context {
            gws: client.clone(),
            chain,
            nickname: config.bot.nickname.clone(),
            texts: config.escalation.clone(),
            fallback_skill: config.bot.fallback_skill.clone(),
            history_timeout: tuning.history_timeout,
            stats: stats.clone(),
            decisions,
            clock: tuning.clock.clone(),
            store,
            max_message_chars: config.bot.max_message_chars,
            session: link,
            hand_over: hand_over.clone(),
            shadow: tuning.shadow.clone(),
        });
        let (transcripts_tx, transcripts) = mpsc::channel(pump::TRANSCRIPT_QUEUE);
        client.deliver_transcripts_to(transcripts_tx);
        let inbound = Inbound {
            notifications,
            transcripts,
        };
        let (event_tx, event_rx) = mpsc::channel(1024);
        let (command_tx, command_rx) = mpsc::channel(4);
        let (resync_tx, resync) = mpsc::channel(1);
        let (reconcile_tx, reconcile) = mpsc::channel(1);
        let resync_asks = Resync {
            session: resync_tx,
            chats: reconcile_tx,
        };
        let pump = tokio::spawn(pump::run(
            client.clone(),
            inbound,
            event_tx,
            stats.clone(),
            resync_asks,
        ));
        let (drain, abort) = (CancellationToken::new(), CancellationToken::new());
        let agent = Agent::new(client.clone());
        let dispatcher = tokio::spawn(Dispatcher::new(ctx, agent, config.bot.max_chats).run(
            event_rx,
            command_rx,
            drain.clone(),
            abort.clone(),
        ));
        Routing {
            dispatcher,
            pump,
            commands: command_tx,
            resync,
            reconcile,
            keeper,
            drain,
            hand_over,
            abort,
        }
    }
}

/// Step 6: READY=1 for systemd once the dispatcher's worker has gone Ready (it does so after
/// recovering the agent's chats).
fn announce_ready(
    health: &Health,
    tuning: &Tuning,
    stats: &Arc<Stats>,
    shutdown: &CancellationToken,
) {
    let (health, notifier, stats, stop) = (
        health.clone(),
        tuning.notifier.clone(),
        stats.clone(),
        shutdown.clone(),
    );
    tokio::spawn(async move {
        // Subscribe before looking, so a change between the look and the wait is not missed.
        let mut changes = health.changes().subscribe();
        while !health.agent_ready.get() {
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
        notifier.ready(&stats.snapshot());
    });
}

/// Step 7: keep the session and the watchdog until `shutdown`; `Some` when the dispatcher
/// stopped on its own first.
async fn serve(
    client: &gws::Client,
    config: &Config,
    tuning: &Tuning,
    stats: &Stats,
    shutdown: &CancellationToken,
    routing: &mut Routing,
) -> Option<Result<usize, JoinError>> {
    let health = stats.health();
    let mut heartbeat = tuning.notifier.heartbeat();
    let mut reconcile = tokio::time::interval(tuning.reconcile_interval);
    reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    reconcile.reset();
    let commands = &routing.commands;
    let keeper = &routing.keeper;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            result = &mut routing.dispatcher => return Some(result),
            _ = heartbeat.tick() => tuning.notifier.beat(health.cometd_connected.get(), &stats.snapshot()),
            _ = keeper.lost() => {
                warn!("a chat found the GWS session gone; logging in again");
                relogin(client, config, tuning, shutdown, commands, keeper).await;
            }
            Some(()) = routing.resync.recv() => {
                info!("notifications re-established; renewing the session and recovering chats");
                relogin(client, config, tuning, shutdown, commands, keeper).await;
            }
            _ = reconcile.tick() => recover(client, commands, false).await,
            Some(()) = routing.reconcile.recv() => {
                info!("a transfer or finish failed after it was accepted; taking the chat back now");
                recover(client, commands, false).await;
            }
        }
    }
}

/// Step 8: NotReady, let the open chats finish within the grace period, then hand the rest
/// over within the hand-over window, then abandon what is left.
async fn drain(
    client: &gws::Client,
    config: &Config,
    tuning: &Tuning,
    health: &Health,
    routing: &mut Routing,
) {
    info!(grace = ?config.bot.shutdown_grace, "shutting down: NotReady, letting open chats finish");
    health.agent_ready.set(false);
    if let Err(e) = client.session(&SessionOperation::NotReady).await {
        warn!(error = %e, "NotReady failed");
    }
    routing.drain.cancel();
    let dispatcher = &mut routing.dispatcher;
    let abandoned = match tokio::time::timeout(config.bot.shutdown_grace, &mut *dispatcher).await {
        Ok(result) => result.unwrap_or(0),
        Err(_) => {
            info!(
                to = config.bot.fallback_skill.as_deref().unwrap_or("(closing)"),
                "grace period over: handing the open chats over"
            );
            routing.hand_over.cancel();
            match tokio::time::timeout(tuning.hand_over_window, &mut *dispatcher).await {
                Ok(result) => result.unwrap_or(0),
                Err(_) => {
                    routing.abort.cancel();
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
