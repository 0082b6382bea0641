//! The one way in for events: CometD notifications and the transcripts the REST client reads
//! itself (`chats` dialect) both come through here, become domain events, and go to the
//! dispatcher, in the order they arrived.
//!
//! A new CometD connection asks the daemon to renew the session; an `Error` notification is
//! matched with the request that failed, and a failed transfer or finish asks for the chat
//! listing at once. Unknown message types are logged once each.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::cometd::Notification;
use crate::cometd::message::Payload;
use crate::event::Event;
use crate::gws::{self, Parsed};
use crate::telemetry::stats::Stats;

/// How many unknown notification types are remembered for "logged once per type": a server
/// (or an attacker) inventing a new type per message cannot grow the set without bound.
pub const MAX_UNKNOWN_TYPES: usize = 256;

/// How many fetched transcripts may wait for the pump.
pub const TRANSCRIPT_QUEUE: usize = 1024;

/// What comes in: the notification stream and the transcripts the client fetched.
pub struct Inbound {
    pub notifications: mpsc::Receiver<Notification>,
    pub transcripts: mpsc::Receiver<Event>,
}

/// What the pump asks the daemon for.
pub struct Resync {
    /// A new CometD connection: renew the session and recover.
    pub session: mpsc::Sender<()>,
    /// A transfer or finish failed after it was accepted: the chat is still the bot's but its
    /// task has ended, so list the chats now rather than at the next reconcile.
    pub chats: mpsc::Sender<()>,
}

/// Unknown notification types seen so far (for logging each once).
#[derive(Default)]
struct Unknown {
    types: HashSet<String>,
    full: bool,
}

impl Unknown {
    fn report(&mut self, channel: &str, message_type: String) {
        if self.types.len() < MAX_UNKNOWN_TYPES {
            if self.types.insert(message_type.clone()) {
                warn!(channel = %channel, message_type = %message_type, "unknown notification type (logged once per type)");
            }
        } else if !self.types.contains(&message_type) && !self.full {
            self.full = true;
            warn!(
                limit = MAX_UNKNOWN_TYPES,
                "more unknown notification types than remembered: further new ones are counted, not logged"
            );
        }
    }
}

/// Turn what comes in into domain events for the dispatcher, until both inputs are closed or
/// the dispatcher is gone.
pub async fn run(
    client: gws::Client,
    mut inbound: Inbound,
    events: mpsc::Sender<Event>,
    stats: Arc<Stats>,
    resync: Resync,
) {
    let mut unknown = Unknown::default();
    let (mut notifications_open, mut transcripts_open) = (true, true);
    while notifications_open || transcripts_open {
        let event = tokio::select! {
            n = inbound.notifications.recv(), if notifications_open => match n {
                Some(n) => match notification(&client, n, &stats, &resync, &mut unknown) {
                    Some(event) => event,
                    None => continue,
                },
                None => {
                    notifications_open = false;
                    continue;
                }
            },
            t = inbound.transcripts.recv(), if transcripts_open => match t {
                Some(event) => event,
                None => {
                    transcripts_open = false;
                    continue;
                }
            },
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

/// A notification's data as it came, for the DEBUG log of what was skipped.
enum Raw {
    Value(serde_json::Value),
    Text(Payload),
}

impl std::fmt::Display for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Raw::Value(v) => v.fmt(f),
            Raw::Text(t) => t.fmt(f),
        }
    }
}

/// The event a notification means, if any.
fn notification(
    client: &gws::Client,
    notification: Notification,
    stats: &Stats,
    resync: &Resync,
    unknown: &mut Unknown,
) -> Option<Event> {
    let dialect = client.dialect();
    let (channel, parsed, data) = match notification {
        Notification::Connected { .. } => {
            stats.reconnect();
            // A full channel already holds a request: one renewal covers both.
            let _ = resync.session.try_send(());
            return None;
        }
        Notification::Message { channel, data } => {
            let parsed = dialect.parse_notification(&channel, &data);
            (channel, parsed, Raw::Value(data))
        }
        Notification::Payload { channel, data } => {
            let parsed = dialect.parse_notification_text(&channel, data.as_str());
            (channel, parsed, Raw::Text(data))
        }
    };
    stats.notification();
    match parsed {
        Parsed::Event(Event::Chat(update)) => {
            if client
                .async_failure(&update)
                .is_some_and(|r| r.ends_the_bots_part)
            {
                let _ = resync.chats.try_send(());
            }
            Some(Event::Chat(update))
        }
        Parsed::Event(event) => Some(event),
        Parsed::Ignored(reason) => {
            stats.notification_ignored();
            warn!(channel = %channel, reason = %reason, "notification skipped");
            debug!(raw = %data, "skipped notification");
            None
        }
        Parsed::Unknown { message_type } => {
            stats.notification_unknown();
            unknown.report(&channel, message_type);
            debug!(raw = %data, "unknown notification");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ChatId, ChatUpdate, UpdateKind};
    use serde_json::json;

    fn client() -> gws::Client {
        let credentials = gws::Credentials {
            username: "bot".into(),
            password: secrecy::SecretString::from("pw".to_owned()),
        };
        gws::Client::new(gws::ClientConfig::new(
            "http://127.0.0.1:1/api/v2",
            credentials,
        ))
        .unwrap()
    }

    /// Notifications and fetched transcripts leave through the one events channel; a new
    /// connection asks for a session renewal; the pump ends once both inputs are closed.
    #[tokio::test(start_paused = true)]
    async fn notifications_and_transcripts_come_out_as_one_stream() {
        let (notify_tx, notifications) = mpsc::channel(4);
        let (transcript_tx, transcripts) = mpsc::channel(4);
        let (events_tx, mut events) = mpsc::channel(4);
        let (session, mut renewals) = mpsc::channel(1);
        let (chats, _listings) = mpsc::channel(1);
        let stats = Arc::new(Stats::default());
        let pump = tokio::spawn(run(
            client(),
            Inbound {
                notifications,
                transcripts,
            },
            events_tx,
            stats.clone(),
            Resync { session, chats },
        ));

        let offer = json!({"messageType":"InteractionStateMessage",
            "notificationType":"NewInteraction",
            "interaction":{"id":"c1","capabilities":["Accept","Reject"]}});
        notify_tx
            .send(Notification::Message {
                channel: "/v2/me/interactions".into(),
                data: offer,
            })
            .await
            .unwrap();
        let Some(Event::Chat(update)) = events.recv().await else {
            panic!("no offer")
        };
        assert_eq!(
            (update.id, update.kind),
            (ChatId::from("c1"), UpdateKind::NewInteraction)
        );

        let history = ChatUpdate::new(ChatId::from("c1"), UpdateKind::ChatHistory);
        transcript_tx.send(Event::Chat(history)).await.unwrap();
        let Some(Event::Chat(update)) = events.recv().await else {
            panic!("no transcript")
        };
        assert_eq!(update.kind, UpdateKind::ChatHistory);

        notify_tx
            .send(Notification::Connected { first: false })
            .await
            .unwrap();
        renewals.recv().await.expect("a renewal is asked for");
        assert_eq!(stats.snapshot().notifications, 1);
        assert_eq!(stats.snapshot().reconnects, 1);

        drop(notify_tx);
        let late = ChatUpdate::new(ChatId::from("c2"), UpdateKind::ChatHistory);
        transcript_tx.send(Event::Chat(late)).await.unwrap();
        assert!(
            matches!(events.recv().await, Some(Event::Chat(u)) if u.id == ChatId::from("c2")),
            "transcripts still pass once notifications have ended"
        );
        drop(transcript_tx);
        pump.await.unwrap();
        assert!(events.recv().await.is_none(), "the pump is the only sender");
    }
}
