//! The simulator's shared state: HTTP sessions, users' contact-centre state, CometD clients and
//! their queues, chats, routing of queued chats, and the bounded records (requests, deliveries,
//! violations). Everything lives behind one mutex that is never held across an `.await`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::model::Chat;
use super::readings::{JoinNotices, ParticipantForm, Readings};
use super::topics::{self, TOPIC_CHANNELS};
use super::types::{
    AgentStep, ChatState, Corruption, Delivery, Fault, RecordedRequest, SimAgent, SimConfig,
    SimDialect, SimEvent,
};

const MAX_REQUESTS: usize = 100_000;
const MAX_DELIVERIES: usize = 100_000;
const MAX_VIOLATIONS: usize = 10_000;
/// Client ids remembered as handed out (to tell "never handshook" from "dropped").
const MAX_ISSUED_CLIENTS: usize = 100_000;
/// A client without a held connect for longer than this (beyond `connect_timeout`) is dropped
/// at the next handshake of its user, like CometD's `maxInterval`.
const CLIENT_IDLE_GRACE: Duration = Duration::from_secs(60);

/// State shared by the server tasks and the [`super::Control`] handles.
pub(crate) struct Shared {
    pub config: SimConfig,
    pub state: Mutex<State>,
    pub shutdown: CancellationToken,
}

impl Shared {
    /// `api_url` is the API root the chat objects' `uri` fields point into.
    pub fn new(config: SimConfig, api_url: String) -> Shared {
        let (events, _) = broadcast::channel(1024);
        let state = State {
            dialect: config.dialect,
            participants: config.participants,
            join_notices: config.join_notices,
            readings: config.readings.clone(),
            conference_scripts: config.conference_scripts.clone(),
            api_url,
            started: Instant::now(),
            wall_start: SystemTime::now(),
            events,
            changes: watch::Sender::new(0),
            queue_limit: config.queue_limit.max(1),
            agents: config.agents.clone(),
            skills: config.skills.clone(),
            users: config
                .users
                .iter()
                .map(|u| (u.id.clone(), UserState::default()))
                .collect(),
            user_order: config.users.iter().map(|u| u.id.clone()).collect(),
            sessions: HashMap::new(),
            clients: HashMap::new(),
            issued_clients: HashSet::new(),
            issued_order: VecDeque::new(),
            chats: HashMap::new(),
            chat_order: Vec::new(),
            queue: VecDeque::new(),
            rr: 0,
            counter: 0,
            requests: VecDeque::new(),
            first_request_seq: 0,
            deliveries: VecDeque::new(),
            violations: VecDeque::new(),
            dropped_notifications: 0,
            fail_next: VecDeque::new(),
            corrupt_next: None,
            delay: Duration::ZERO,
            fail_operations: HashMap::new(),
            fail_async: HashMap::new(),
            slow_replies: HashMap::new(),
            duplicate_next: 0,
            reorder_next: 0,
            refuse_handshakes: 0,
        };
        Shared {
            config,
            state: Mutex::new(state),
            shutdown: CancellationToken::new(),
        }
    }

    /// Locks the state; a poisoned lock is still usable (every mutation is self-contained).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A logged-in HTTP session (`JSESSIONID`).
pub(crate) struct HttpSession {
    pub user: String,
    pub csrf: String,
}

/// A bot user's contact-centre state.
#[derive(Default)]
pub(crate) struct UserState {
    pub cc_session: bool,
    pub ready: bool,
}

/// Why a held `/meta/connect` is answered before its timeout.
#[derive(Debug)]
pub(crate) enum Release {
    /// Notifications are queued.
    Wake,
    /// Another connect for the same client arrived.
    Superseded,
    /// The client sent `/meta/disconnect`.
    Disconnected,
    /// The server forgot the client.
    Dropped,
}

pub(crate) struct Held {
    pub id: u64,
    pub tx: oneshot::Sender<Release>,
}

/// A CometD client (one `clientId`).
pub(crate) struct Client {
    pub user: String,
    pub subscriptions: BTreeSet<String>,
    pub queue: VecDeque<Value>,
    pub held: Option<Held>,
    /// When the last connect arrived or was answered.
    pub last_seen: Duration,
}

impl Client {
    /// True when one of the subscriptions matches `channel` (`/a/*` matches one more segment).
    pub fn subscribed(&self, channel: &str) -> bool {
        self.subscriptions
            .iter()
            .any(|s| match s.strip_suffix("/*") {
                Some(prefix) => channel
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('/')),
                None => s == channel,
            })
    }

    fn release(&mut self, why: Release) {
        if let Some(held) = self.held.take() {
            let _ = held.tx.send(why);
        }
    }
}

pub(crate) struct State {
    pub dialect: SimDialect,
    pub participants: ParticipantForm,
    pub join_notices: JoinNotices,
    pub readings: Readings,
    /// What each human agent does once conferenced in, by agent id.
    pub conference_scripts: BTreeMap<String, Vec<AgentStep>>,
    /// The API root, e.g. `http://127.0.0.1:8090/api/v2`.
    pub api_url: String,
    pub started: Instant,
    wall_start: SystemTime,
    pub events: broadcast::Sender<SimEvent>,
    /// Bumped by [`State::changed`] whenever something a test may wait for is recorded.
    pub changes: watch::Sender<u64>,
    pub queue_limit: usize,
    pub agents: Vec<SimAgent>,
    pub skills: Vec<String>,
    pub users: HashMap<String, UserState>,
    user_order: Vec<String>,
    pub sessions: HashMap<String, HttpSession>,
    pub clients: HashMap<String, Client>,
    issued_clients: HashSet<String>,
    issued_order: VecDeque<String>,
    pub chats: HashMap<String, Chat>,
    pub chat_order: Vec<String>,
    pub queue: VecDeque<String>,
    rr: usize,
    counter: u64,
    pub requests: VecDeque<RecordedRequest>,
    first_request_seq: u64,
    pub deliveries: VecDeque<Delivery>,
    pub violations: VecDeque<String>,
    pub dropped_notifications: u64,
    pub fail_next: VecDeque<Fault>,
    pub delay: Duration,
    /// Wire corruption for the next CometD response that carries notifications.
    pub corrupt_next: Option<Corruption>,
    /// Faults for the next requests naming a given `operationName`.
    pub fail_operations: HashMap<String, VecDeque<Fault>>,
    /// Error messages for the next requests naming a given `operationName`: each is accepted
    /// (`statusCode` 0, a `referenceId`), not carried out, and then fails with an `Error`
    /// notification carrying that `referenceId`.
    pub fail_async: HashMap<String, VecDeque<String>>,
    /// Delays of the answers to the next requests naming a given `operationName`, which are
    /// carried out at once.
    pub slow_replies: HashMap<String, VecDeque<Duration>>,
    /// The next this many CometD responses with notifications carry each one twice.
    pub duplicate_next: usize,
    /// The next this many CometD responses with several notifications carry them reversed.
    pub reorder_next: usize,
    /// The next this many handshakes are refused with `reconnect: none`.
    pub refuse_handshakes: usize,
}

impl State {
    /// Time since sim start.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// The wall-clock time of a moment given as time since sim start.
    pub fn wall_clock(&self, at: Duration) -> SystemTime {
        self.wall_start + at
    }

    /// A fresh number, unique within this simulator.
    pub fn next_number(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A fresh opaque id: 16 upper-case hex digits, unique and unpredictable.
    pub fn next_id(&mut self) -> String {
        let n = self.next_number();
        let r: u64 = rand::rng().random();
        format!("{:06X}{:010X}", n & 0xFF_FFFF, r & 0xFF_FFFF_FFFF)
    }

    /// True when `id` equals or contains a configured bot user id or human agent id (in any
    /// case): such an id would leak who a participant is.
    pub fn names_a_user(&self, id: &str) -> bool {
        let upper = id.to_uppercase();
        self.user_order
            .iter()
            .chain(self.agents.iter().map(|a| &a.id))
            .filter(|u| !u.is_empty())
            .any(|u| upper.contains(&u.to_uppercase()))
    }

    pub fn emit(&self, event: SimEvent) {
        let _ = self.events.send(event);
        self.changed();
    }

    /// Tells [`super::Control::changes`] watchers that the records or a chat changed.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn violation(&mut self, text: String) {
        tracing::warn!(violation = %text, "client protocol violation");
        if self.violations.len() >= MAX_VIOLATIONS {
            self.violations.pop_front();
        }
        self.violations.push_back(text);
        self.changed();
    }

    /// Records a request at arrival; returns its sequence number for [`State::finish_request`].
    pub fn record_request(&mut self, request: RecordedRequest) -> u64 {
        if self.requests.len() >= MAX_REQUESTS {
            self.requests.pop_front();
            self.first_request_seq += 1;
        }
        self.requests.push_back(request);
        self.changed();
        self.first_request_seq + self.requests.len() as u64 - 1
    }

    pub fn finish_request(&mut self, seq: u64, http_status: u16, status_code: Option<i64>) {
        let Some(index) = seq.checked_sub(self.first_request_seq) else {
            return;
        };
        if let Some(r) = usize::try_from(index)
            .ok()
            .and_then(|i| self.requests.get_mut(i))
        {
            r.http_status = http_status;
            r.status_code = status_code;
        }
        self.changed();
    }

    pub fn record_delivery(&mut self, delivery: Delivery) {
        if self.deliveries.len() >= MAX_DELIVERIES {
            self.deliveries.pop_front();
        }
        self.deliveries.push_back(delivery);
        self.changed();
    }

    /// Registers a new CometD client of `user` and returns its id. Clients of that user that
    /// have not connected for a while are dropped first.
    pub fn new_client(&mut self, user: &str, connect_timeout: Duration) -> String {
        let now = self.now();
        let idle = connect_timeout + CLIENT_IDLE_GRACE;
        self.drop_clients(|c| {
            c.user == user && c.held.is_none() && now.saturating_sub(c.last_seen) > idle
        });
        let id = self.next_id().to_lowercase();
        if self.issued_order.len() >= MAX_ISSUED_CLIENTS {
            if let Some(old) = self.issued_order.pop_front() {
                self.issued_clients.remove(&old);
            }
        }
        self.issued_order.push_back(id.clone());
        self.issued_clients.insert(id.clone());
        let client = Client {
            user: user.to_owned(),
            subscriptions: BTreeSet::new(),
            queue: VecDeque::new(),
            held: None,
            last_seen: now,
        };
        self.clients.insert(id.clone(), client);
        id
    }

    /// True when `id` was handed out by a handshake (it may have been dropped since).
    pub fn was_issued(&self, id: &str) -> bool {
        self.issued_clients.contains(id)
    }

    /// Queues a notification for every client of `user` subscribed to `channel`.
    pub fn publish(&mut self, user: &str, channel: &str, data: Value) {
        let message = json!({ "channel": channel, "data": data });
        for client in self.clients.values_mut() {
            if client.user != user || !client.subscribed(channel) {
                continue;
            }
            if client.queue.len() >= self.queue_limit {
                client.queue.pop_front();
                self.dropped_notifications += 1;
            }
            client.queue.push_back(message.clone());
            client.release(Release::Wake);
        }
    }

    /// Publishes the user's chat-channel state.
    pub fn publish_channel_state(&mut self, user: &str, state: &str) {
        let data = json!({
            "messageType": "ChannelStateChangeMessage",
            "channels": [{ "channel": "chat",
                           "userState": { "state": state, "displayName": state, "id": format!("chat-{state}") } }],
        });
        self.publish(user, TOPIC_CHANNELS, data);
    }

    /// Forgets every CometD client for which `pred` holds; held connects get `402::Unknown client`.
    pub fn drop_clients(&mut self, pred: impl Fn(&Client) -> bool) {
        let gone: Vec<String> = self
            .clients
            .iter()
            .filter(|(_, c)| pred(c))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(mut client) = self.clients.remove(&id) {
                client.release(Release::Dropped);
            }
        }
    }

    /// Puts the offered or live chats matching `pred` back in the queue, ownership lost.
    pub fn requeue(&mut self, pred: impl Fn(&Chat) -> bool) {
        let ids: Vec<String> = self
            .chat_order
            .iter()
            .filter(|id| {
                self.chats
                    .get(*id)
                    .is_some_and(|c| c.is_with_bot() && pred(c))
            })
            .cloned()
            .collect();
        for id in ids {
            if let Some(chat) = self.chats.get_mut(&id) {
                chat.requeue();
                self.queue.push_back(id.clone());
                self.emit(SimEvent::State {
                    chat: id,
                    state: ChatState::Queued,
                });
            }
        }
    }

    fn eligible(&self, user: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|u| u.cc_session && u.ready)
            && self
                .clients
                .values()
                .any(|c| c.user == user && c.subscribed(topics::chat_topic(self.dialect)))
    }

    pub(crate) fn next_eligible(&mut self) -> Option<String> {
        let n = self.user_order.len();
        for i in 0..n {
            let index = (self.rr + i) % n;
            if self.eligible(&self.user_order[index]) {
                self.rr = index + 1;
                return Some(self.user_order[index].clone());
            }
        }
        None
    }
}

/// Sleeps unless the simulator shuts down first; true when the time passed.
pub(crate) async fn pause(shared: &Shared, after: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(after) => true,
        () = shared.shutdown.cancelled() => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(subs: &[&str]) -> Client {
        Client {
            user: "u".into(),
            subscriptions: subs.iter().map(|s| s.to_string()).collect(),
            queue: VecDeque::new(),
            held: None,
            last_seen: Duration::ZERO,
        }
    }

    #[test]
    fn wildcard_matches_one_segment() {
        let c = client(&["/v2/me/*"]);
        assert!(c.subscribed("/v2/me/interactions"));
        assert!(c.subscribed("/v2/me/channels"));
        assert!(!c.subscribed("/v2/me"));
        assert!(!c.subscribed("/v2/me/a/b"));
        assert!(!c.subscribed("/v2/mex/channels"));
        let d = client(&["/v2/me/channels"]);
        assert!(!d.subscribed("/v2/me/interactions"));
    }

    #[test]
    fn publish_drops_oldest_beyond_limit() {
        let shared = Shared::new(
            SimConfig {
                queue_limit: 2,
                ..SimConfig::default()
            },
            "http://127.0.0.1:1/api/v2".into(),
        );
        let mut st = shared.lock();
        st.clients.insert("c".into(), client(&[TOPIC_CHANNELS]));
        for i in 0..3 {
            st.publish("u", TOPIC_CHANNELS, json!(i));
            st.publish("u", topics::TOPIC_INTERACTIONS, json!("not subscribed"));
        }
        let queue: Vec<Value> = st.clients["c"]
            .queue
            .iter()
            .map(|m| m["data"].clone())
            .collect();
        assert_eq!(queue, vec![json!(1), json!(2)]);
        assert_eq!(st.dropped_notifications, 1);
    }
}
