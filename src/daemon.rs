//! The running bot agent: log in, open the notification stream, start the contact-centre
//! session, go Ready, route chats until told to stop, then drain and log out in order
//! (NotReady → open chats finish or are abandoned at the grace deadline → CometD disconnect →
//! EndContactCenterSession).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::chat::{self, Context};
use crate::cometd::{self, Notification};
use crate::config::Config;
use crate::decision_log::DecisionLog;
use crate::dispatch::Dispatcher;
use crate::event::Event;
use crate::gws::{self, Parsed, SessionOperation};
use crate::notify::Notifier;
use crate::responder::Chain;
use crate::responder::registry::BuildContext;
use crate::responder::rules::{Problems, RuleSet, Summary};
use crate::stats::Stats;

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
        }
    }
}

/// Load the rule set named by the configuration.
pub fn load_rules(config: &Config) -> Result<RuleSet, Problems> {
    RuleSet::load_dir(&config.bot.rules)
}

/// Validate the rule directory again and swap it in atomically; on any problem the active set
/// stays and the problems are returned.
pub fn reload_rules(config: &Config, active: &ArcSwap<RuleSet>) -> Result<Summary, Problems> {
    let fresh = load_rules(config)?;
    let summary = fresh.summary();
    active.store(Arc::new(fresh));
    Ok(summary)
}

/// The responder chain the configuration names, with the rule-based ones reading `rules`.
pub fn build_chain(config: &Config, rules: &Arc<ArcSwap<RuleSet>>) -> Chain {
    let ctx = BuildContext {
        rules: rules.clone(),
        overrides: Some(Arc::new(crate::overrides::Watch::new(
            &config.bot.state_dir,
        ))),
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
    let cometd_task = tokio::spawn(cometd.run(notify_tx, cometd_stop.clone()));
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

    client
        .session(&SessionOperation::StartContactCenterSession {
            place: config.gws.place.clone(),
        })
        .await
        .context("StartContactCenterSession failed")?;
    client
        .session(&SessionOperation::Ready)
        .await
        .context("Ready on the chat channel failed")?;
    info!(max_chats = config.bot.max_chats, "Ready for chats");
    health.agent_ready.set(true);
    tuning.notifier.ready(&stats.snapshot());

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
    });
    let (event_tx, event_rx) = mpsc::channel(1024);
    let pump = tokio::spawn(pump(client.clone(), notify_rx, event_tx, stats.clone()));
    let drain = CancellationToken::new();
    let abort = CancellationToken::new();
    let mut dispatcher = tokio::spawn(Dispatcher::new(ctx, config.bot.max_chats).run(
        event_rx,
        drain.clone(),
        abort.clone(),
    ));

    let mut heartbeat = tuning.notifier.heartbeat();
    let early_end = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break None,
            result = &mut dispatcher => break Some(result),
            _ = heartbeat.tick() => tuning.notifier.beat(health.cometd_connected.get(), &stats.snapshot()),
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
                abort.cancel();
                dispatcher.await.unwrap_or(0)
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
    match cometd_task.await {
        Ok(Ok(())) => info!("notifications disconnected"),
        Ok(Err(e)) => warn!(error = %e, "notification stream ended with an error"),
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
    info!(stats = ?stats.snapshot(), "stopped");
    Ok(())
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

/// Turn raw notifications into domain events. Unknown message types are logged once each.
async fn pump(
    client: gws::Client,
    mut notifications: mpsc::Receiver<Notification>,
    events: mpsc::Sender<Event>,
    stats: Arc<Stats>,
) {
    let mut unknown_types = HashSet::new();
    while let Some(notification) = notifications.recv().await {
        let event = match notification {
            Notification::Connected { .. } => {
                stats.reconnect();
                Event::Reconnected
            }
            Notification::Message { channel, data } => {
                stats.notification();
                match client.dialect().parse_notification(&channel, &data) {
                    Parsed::Event(event) => event,
                    Parsed::Ignored(reason) => {
                        stats.notification_ignored();
                        warn!(channel = %channel, reason = %reason, "notification skipped");
                        debug!(raw = %data, "skipped notification");
                        continue;
                    }
                    Parsed::Unknown { message_type } => {
                        stats.notification_unknown();
                        if unknown_types.insert(message_type.clone()) {
                            warn!(channel = %channel, message_type = %message_type, "unknown notification type (logged once per type)");
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
        dialect: gws::Dialect::Interactions,
        operation_names: names,
        retry: Backoff::default(),
        retry_attempts: config.gws.retry_attempts,
        tls: gws::TlsOptions {
            extra_ca: config.gws.tls_ca_file.clone(),
            danger_accept_invalid_certs: config.gws.danger_accept_invalid_certs,
        },
        observer: None,
    }
}
