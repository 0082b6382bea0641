//! The control side of the simulator: the in-process [`Control`] handle (chats, customers,
//! human agents, records, fault switches) and the same over HTTP under `/sim` (no auth, JSON).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use super::state::Shared;
use super::types::{
    AgentStep, ChatSnapshot, ChatSpec, Corruption, Delivery, Fault, RecordedRequest, SimAgent,
    SimDialect, SimError, SimEvent,
};
use super::{agents, chats, customer};

/// A cheap, cloneable handle to a running simulator's state.
#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl Control {
    /// Queues a new chat (offered at once if a bot is Ready); returns the interaction id.
    pub fn create_chat(&self, spec: ChatSpec) -> String {
        chats::create(&mut self.shared.lock(), spec)
    }

    /// The customer of `chat` types `text`.
    pub fn customer_says(&self, chat: &str, text: &str) -> Result<(), SimError> {
        customer::says(&mut self.shared.lock(), chat, text)
    }

    /// The customer of `chat` leaves.
    pub fn customer_leaves(&self, chat: &str) -> Result<(), SimError> {
        customer::leaves(&mut self.shared.lock(), chat)
    }

    /// Human agent `agent_id`, who was not consulted (a supervisor looking in), joins live chat
    /// `chat` hidden from the customer, announced per [`super::SimConfig::join_notices`]; they
    /// stay until [`Control::agent_leaves`]. If the bot is consulting that agent, this is the
    /// consulted agent joining at once.
    pub fn agent_joins(&self, chat: &str, agent_id: &str) -> Result<(), SimError> {
        agents::joins(&mut self.shared.lock(), chat, agent_id)
    }

    /// Human agent `agent_id`, who is in `chat`, writes `text`: visibility `Agents` while
    /// consulting or looking in, `All` once in a conference or after a transfer.
    pub fn agent_says(&self, chat: &str, agent_id: &str, text: &str) -> Result<(), SimError> {
        agents::says(&mut self.shared.lock(), chat, agent_id, text)
    }

    /// Human agent `agent_id` leaves `chat`: a `ParticipantLeft` entry, then a participants
    /// update without them.
    pub fn agent_leaves(&self, chat: &str, agent_id: &str) -> Result<(), SimError> {
        agents::leaves(&mut self.shared.lock(), chat, agent_id)
    }

    /// Others finish `chat` (e.g. the conferenced agent ends it): the customer is removed
    /// (`ParticipantLeft` entry, then a participants update) and the bot's copy turns
    /// `Completed`.
    pub fn close_chat(&self, chat: &str) -> Result<(), SimError> {
        agents::close(&mut self.shared.lock(), chat)
    }

    /// What human agent `agent_id` does once conferenced in (from then on; an empty list: nothing).
    pub fn set_conference_script(&self, agent_id: &str, steps: Vec<AgentStep>) {
        self.shared
            .lock()
            .conference_scripts
            .insert(agent_id.to_owned(), steps);
    }

    pub fn chat(&self, id: &str) -> Option<ChatSnapshot> {
        self.shared.lock().chats.get(id).map(|c| c.snapshot())
    }

    /// Every chat, in creation order.
    pub fn chats(&self) -> Vec<ChatSnapshot> {
        let st = self.shared.lock();
        st.chat_order
            .iter()
            .filter_map(|id| st.chats.get(id))
            .map(|c| c.snapshot())
            .collect()
    }

    /// Every `/api/v2/*` request served, in arrival order (the last 100 000).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.iter().cloned().collect()
    }

    /// Every notification handed to a client (the last 100 000).
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock().deliveries.iter().cloned().collect()
    }

    /// Protocol violations by clients (the last 10 000).
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.iter().cloned().collect()
    }

    /// Notifications dropped because a client's queue was full.
    pub fn dropped_notifications(&self) -> u64 {
        self.shared.lock().dropped_notifications
    }

    /// What happens to chats from now on (entries, state changes, ends), as it happens.
    pub fn subscribe(&self) -> broadcast::Receiver<SimEvent> {
        self.shared.lock().events.subscribe()
    }

    /// A counter that moves whenever a request is recorded (on arrival and again when it is
    /// answered), a notification is delivered, a violation is noted or a chat changes (each
    /// [`Control::subscribe`] event): a cue to look at the records again.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.lock().changes.subscribe()
    }

    /// Waits until `probe`, run now and again after each of [`Control::changes`], returns
    /// `Some`. No polling and no deadline: callers put their own timeout around it.
    pub async fn wait_for<T>(&self, mut probe: impl FnMut(&Control) -> Option<T>) -> T {
        let mut changes = self.changes();
        loop {
            // Marked seen before the probe, so a change during the probe wakes the next wait.
            changes.borrow_and_update();
            if let Some(found) = probe(self) {
                return found;
            }
            // The sender lives in the state this handle keeps alive: it cannot close.
            let _ = changes.changed().await;
        }
    }

    /// Adds or changes a human agent (by id); running consultations keep their old timing.
    pub fn set_agent(&self, agent: SimAgent) {
        let mut st = self.shared.lock();
        match st.agents.iter_mut().find(|a| a.id == agent.id) {
            Some(existing) => *existing = agent,
            None => st.agents.push(agent),
        }
    }

    /// Forgets all CometD clients: the next connect gets `402::Unknown client`.
    pub fn drop_cometd_sessions(&self) {
        self.shared.lock().drop_clients(|_| true);
    }

    /// The next `count` REST operation POSTs (not `/notifications`) fail with `fault`.
    pub fn fail_next(&self, count: usize, fault: Fault) {
        self.shared
            .lock()
            .fail_next
            .extend(std::iter::repeat_n(fault, count));
    }

    /// The next `count` requests for operation `name` (e.g. `"SendMessage"`) fail with
    /// `fault`; other operations are not affected.
    pub fn fail_operation(&self, name: &str, count: usize, fault: Fault) {
        self.shared
            .lock()
            .fail_operations
            .entry(name.to_owned())
            .or_default()
            .extend(std::iter::repeat_n(fault, count));
    }

    /// The next `count` requests for operation `name` (by its wire name in the simulator's
    /// dialect) on a chat the bot holds are accepted (`statusCode` 0 with a `referenceId`) but
    /// not carried out: shortly after, the bot gets an `Error` notification for the chat with
    /// that `referenceId` and `message` as its `errorMessage`.
    pub fn fail_operation_async(&self, name: &str, count: usize, message: &str) {
        self.shared
            .lock()
            .fail_async
            .entry(name.to_owned())
            .or_default()
            .extend(std::iter::repeat_n(message.to_owned(), count));
    }

    /// The dialect the simulator speaks.
    pub fn dialect(&self) -> SimDialect {
        self.shared.config.dialect
    }

    /// The next `count` requests for operation `name` are carried out at once but answered
    /// only after `delay`: a client that times out cannot know whether they happened.
    pub fn slow_reply(&self, name: &str, count: usize, delay: Duration) {
        self.shared
            .lock()
            .slow_replies
            .entry(name.to_owned())
            .or_default()
            .extend(std::iter::repeat_n(delay, count));
    }

    /// The next `count` CometD responses that carry notifications carry each one twice.
    pub fn duplicate_next_deliveries(&self, count: usize) {
        self.shared.lock().duplicate_next += count;
    }

    /// The next `count` CometD responses that carry several notifications carry them in
    /// reverse order.
    pub fn reorder_next_deliveries(&self, count: usize) {
        self.shared.lock().reorder_next += count;
    }

    /// The next `count` CometD handshakes are refused (`403::Handshake denied`, advice
    /// `reconnect: none`).
    pub fn refuse_handshakes(&self, count: usize) {
        self.shared.lock().refuse_handshakes += count;
    }

    /// Mangle the body of the next CometD response that carries notifications (those
    /// notifications are lost, as on a real broken wire).
    pub fn corrupt_next_delivery(&self, corruption: Corruption) {
        self.shared.lock().corrupt_next = Some(corruption);
    }

    /// Queue an arbitrary notification for `user`'s clients subscribed to `channel`: for
    /// testing how clients treat unknown types and missing fields.
    pub fn inject(&self, user: &str, channel: &str, data: Value) {
        self.shared.lock().publish(user, channel, data);
    }

    /// Delays every REST response (not `/notifications`) by `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// Every `JSESSIONID` becomes unknown; contact-centre state and chat ownership stay.
    pub fn invalidate_http_sessions(&self) {
        self.shared.lock().sessions.clear();
    }

    /// Every session gets a new CSRF token; the old one is answered 403.
    pub fn rotate_csrf(&self) {
        let mut st = self.shared.lock();
        for session in st.sessions.values_mut() {
            let mut rng = rand::rng();
            session.csrf = format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>());
        }
    }

    /// A server restart: sessions, CometD clients and contact-centre state are lost, and offered
    /// or live chats go back to the queue without an owner.
    pub fn restart(&self) {
        let mut st = self.shared.lock();
        st.sessions.clear();
        st.drop_clients(|_| true);
        for user in st.users.values_mut() {
            *user = Default::default();
        }
        st.requeue(|_| true);
    }
}

/// Body of `POST /sim/chats/{id}/say` and `POST /sim/chats/{id}/agents/{agent}/say`.
#[derive(Deserialize)]
struct Say {
    text: String,
}

/// Body of `POST /sim/faults`; every field is optional.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Faults {
    drop_cometd: bool,
    fail_next: Option<FailNext>,
    delay_ms: Option<u64>,
    invalidate_sessions: bool,
    rotate_csrf: bool,
    restart: bool,
    duplicate_deliveries: usize,
    reorder_deliveries: usize,
    refuse_handshakes: usize,
    /// Restricts `fail_next` to this `operationName`.
    operation: Option<String>,
    fail_async: Option<FailAsync>,
}

/// `{"operation":"SendMessage","count":1,"error_message":"…"}`: see
/// [`Control::fail_operation_async`].
#[derive(Deserialize)]
struct FailAsync {
    operation: String,
    #[serde(default = "one")]
    count: usize,
    error_message: Option<String>,
}

/// `{"count":2,"http":503}` or `{"count":1,"status_code":4,"status_message":"…"}`.
#[derive(Deserialize)]
struct FailNext {
    #[serde(default = "one")]
    count: usize,
    http: Option<u16>,
    status_code: Option<u32>,
    status_message: Option<String>,
}

fn one() -> usize {
    1
}

fn error(status: StatusCode, e: impl ToString) -> Response {
    (status, Json(json!({ "error": e.to_string() }))).into_response()
}

fn sim_result(r: Result<(), SimError>) -> Response {
    match r {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(e @ (SimError::UnknownChat(_) | SimError::UnknownAgent(_))) => {
            error(StatusCode::NOT_FOUND, e)
        }
        Err(e) => error(StatusCode::CONFLICT, e),
    }
}

/// The `/sim` routes.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    fn control(shared: Arc<Shared>) -> Control {
        Control { shared }
    }
    Router::new()
        .route(
            "/sim/chats",
            post(|State(s): State<Arc<Shared>>, Json(spec): Json<ChatSpec>| async move {
                Json(json!({ "id": control(s).create_chat(spec) }))
            })
            .get(|State(s): State<Arc<Shared>>| async move { Json(control(s).chats()) }),
        )
        .route(
            "/sim/chats/{id}",
            get(|State(s): State<Arc<Shared>>, Path(id): Path<String>| async move {
                match control(s).chat(&id) {
                    Some(chat) => Json(chat).into_response(),
                    None => error(StatusCode::NOT_FOUND, SimError::UnknownChat(id)),
                }
            }),
        )
        .route(
            "/sim/chats/{id}/say",
            post(|State(s): State<Arc<Shared>>, Path(id): Path<String>, Json(say): Json<Say>| async move {
                sim_result(control(s).customer_says(&id, &say.text))
            }),
        )
        .route(
            "/sim/chats/{id}/leave",
            post(|State(s): State<Arc<Shared>>, Path(id): Path<String>| async move {
                sim_result(control(s).customer_leaves(&id))
            }),
        )
        .route(
            "/sim/chats/{id}/close",
            post(|State(s): State<Arc<Shared>>, Path(id): Path<String>| async move {
                sim_result(control(s).close_chat(&id))
            }),
        )
        .route(
            "/sim/chats/{id}/agents/{agent}/join",
            post(|State(s): State<Arc<Shared>>, Path((id, agent)): Path<(String, String)>| async move {
                sim_result(control(s).agent_joins(&id, &agent))
            }),
        )
        .route(
            "/sim/chats/{id}/agents/{agent}/say",
            post(|State(s): State<Arc<Shared>>, Path((id, agent)): Path<(String, String)>, Json(say): Json<Say>| async move {
                sim_result(control(s).agent_says(&id, &agent, &say.text))
            }),
        )
        .route(
            "/sim/chats/{id}/agents/{agent}/leave",
            post(|State(s): State<Arc<Shared>>, Path((id, agent)): Path<(String, String)>| async move {
                sim_result(control(s).agent_leaves(&id, &agent))
            }),
        )
        .route(
            "/sim/agents/{agent}/conference_script",
            post(|State(s): State<Arc<Shared>>, Path(agent): Path<String>, Json(steps): Json<Vec<AgentStep>>| async move {
                control(s).set_conference_script(&agent, steps);
                Json(json!({ "ok": true }))
            }),
        )
        .route("/sim/requests", get(|State(s): State<Arc<Shared>>| async move { Json(control(s).requests()) }))
        .route("/sim/deliveries", get(|State(s): State<Arc<Shared>>| async move { Json(control(s).deliveries()) }))
        .route("/sim/violations", get(|State(s): State<Arc<Shared>>| async move { Json(control(s).violations()) }))
        .route("/sim/faults", post(faults))
}

async fn faults(State(s): State<Arc<Shared>>, Json(f): Json<Faults>) -> Response {
    let c = Control { shared: s };
    if let Some(fail) = f.fail_next {
        let fault = match (fail.http, fail.status_code) {
            (Some(code), None) => Fault::Http(code),
            (None, Some(code)) => Fault::StatusCode(
                code,
                fail.status_message
                    .unwrap_or_else(|| "Injected fault".into()),
            ),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "fail_next needs exactly one of http, status_code",
                );
            }
        };
        match &f.operation {
            Some(name) => c.fail_operation(name, fail.count, fault),
            None => c.fail_next(fail.count, fault),
        }
    }
    if let Some(fail) = f.fail_async {
        let message = fail
            .error_message
            .unwrap_or_else(|| "Injected asynchronous failure".into());
        c.fail_operation_async(&fail.operation, fail.count, &message);
    }
    c.duplicate_next_deliveries(f.duplicate_deliveries);
    c.reorder_next_deliveries(f.reorder_deliveries);
    c.refuse_handshakes(f.refuse_handshakes);
    if let Some(ms) = f.delay_ms {
        c.set_delay(Duration::from_millis(ms));
    }
    if f.drop_cometd {
        c.drop_cometd_sessions();
    }
    if f.invalidate_sessions {
        c.invalidate_http_sessions();
    }
    if f.rotate_csrf {
        c.rotate_csrf();
    }
    if f.restart {
        c.restart();
    }
    Json(json!({ "ok": true })).into_response()
}
