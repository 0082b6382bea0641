//! One chat (interaction) in the simulated contact centre, the same model in both dialects: its
//! transcript, participants (each with an opaque `participantId`), consultation, human agents
//! and the bot's presence. What the bot sees of it is rendered by `wire`; the operations that
//! change it live in `ops`; customers in `customer`; human agents in `agents`.

use std::collections::VecDeque;

use rand::Rng;
use tokio::sync::watch;

pub(crate) use super::model::{Chat, Consult, Person, Present, Progress, Role};
use super::state::State;
use super::types::{ChatOutcome, ChatSnapshot, ChatSpec, ChatState, Entry, SimAgent, SimEvent};
use super::wire::{self, Note};

/// Entries kept per chat; older ones are dropped (event ids stay unique).
const MAX_TRANSCRIPT: usize = 10_000;

/// Runs `f` on the chat `id` with the rest of the state available; `None` for an unknown chat.
pub(crate) fn with_chat<R>(
    st: &mut State,
    id: &str,
    f: impl FnOnce(&mut State, &mut Chat) -> R,
) -> Option<R> {
    let mut chat = st.chats.remove(id)?;
    let result = f(st, &mut chat);
    st.chats.insert(id.to_owned(), chat);
    Some(result)
}

/// Creates a queued chat and routes it; returns its id.
pub(crate) fn create(st: &mut State, spec: ChatSpec) -> String {
    let id = st.next_id();
    let customer = if spec.customer.trim().is_empty() {
        "Customer".to_owned()
    } else {
        spec.customer
    };
    let mut chat = Chat {
        id: id.clone(),
        state: ChatState::Queued,
        customer,
        people: Vec::new(),
        agents: Vec::new(),
        conference: None,
        customer_present: true,
        owner: None,
        bot_left: false,
        nickname: None,
        user_data: spec.user_data,
        transcript: VecDeque::new(),
        next_event: 0,
        outcome: None,
        first_event: None,
        consult: None,
        consult_generation: 0,
        script: Some(spec.script),
        progress: watch::Sender::new(Progress::default()),
    };
    chat.pid(st, Person::Customer);
    chat.customer_entry(st, "ParticipantJoined", None);
    if let Some(text) = spec.first_message {
        let entry = chat.customer_entry(st, "Text", Some(text));
        chat.first_event = Some(entry.event_id);
    }
    st.chats.insert(id.clone(), chat);
    st.chat_order.push(id.clone());
    st.queue.push_back(id.clone());
    st.emit(SimEvent::State {
        chat: id.clone(),
        state: ChatState::Queued,
    });
    route(st);
    id
}

/// Offers the queued chat `id` to `user`.
pub(crate) fn offer(st: &mut State, id: &str, user: &str) {
    with_chat(st, id, |st, chat| {
        chat.state = ChatState::Invited;
        chat.owner = Some(user.to_owned());
        let first: Vec<Entry> = chat
            .transcript
            .iter()
            .filter(|e| chat.first_event.as_ref() == Some(&e.event_id))
            .cloned()
            .collect();
        chat.notify(st, Note::Offer(&first), None);
        st.emit(SimEvent::State {
            chat: id.to_owned(),
            state: ChatState::Invited,
        });
    });
}

/// Offers queued chats to eligible users, round-robin.
pub(crate) fn route(st: &mut State) {
    while let Some(id) = st.queue.front().cloned() {
        if !st
            .chats
            .get(&id)
            .is_some_and(|c| c.state == ChatState::Queued)
        {
            st.queue.pop_front();
            continue;
        }
        let Some(user) = st.next_eligible() else {
            break;
        };
        st.queue.pop_front();
        offer(st, &id, &user);
    }
}

impl Chat {
    /// Offered to or owned by a bot.
    pub fn is_with_bot(&self) -> bool {
        matches!(self.state, ChatState::Invited | ChatState::Chatting)
    }

    /// Live with the bot still in it: the bot hears what happens.
    pub fn bot_is_in(&self) -> bool {
        self.state == ChatState::Chatting && !self.bot_left
    }

    /// Back to the queue, ownership and consultation lost (a consulted agent drops out).
    pub fn requeue(&mut self) {
        self.state = ChatState::Queued;
        self.owner = None;
        self.bot_left = false;
        self.nickname = None;
        self.consult = None;
        self.consult_generation += 1;
        self.agents.retain(|a| a.role != Role::Consulting);
    }

    /// The `participantId` of `person`, handed out on first use: 16 random upper-case hex
    /// digits, distinct within the chat and never containing a configured user or agent id.
    pub fn pid(&mut self, st: &State, person: Person) -> String {
        if let Some(pid) = self.pid_of(&person) {
            return pid.to_owned();
        }
        let pid = loop {
            let candidate = format!("{:016X}", rand::rng().random::<u64>());
            let taken = self.people.iter().any(|(_, p)| *p == candidate);
            if !taken && !st.names_a_user(&candidate) {
                break candidate;
            }
        };
        self.people.push((person, pid.clone()));
        pid
    }

    /// The `participantId` of `person`, if they have been in the chat.
    pub fn pid_of(&self, person: &Person) -> Option<&str> {
        self.people
            .iter()
            .find(|(p, _)| p == person)
            .map(|(_, pid)| pid.as_str())
    }

    /// Who has the `participantId` `pid` in this chat.
    pub fn person_of(&self, pid: &str) -> Option<&Person> {
        self.people.iter().find(|(_, p)| p == pid).map(|(p, _)| p)
    }

    /// The human agent `id` if they are in the chat now.
    pub fn present(&self, id: &str) -> Option<&Present> {
        self.agents.iter().find(|a| a.agent.id == id)
    }

    /// Puts `agent` in the chat in `role` (or changes their role), with their `participantId`.
    pub fn enter(&mut self, st: &State, agent: &SimAgent, role: Role) {
        self.pid(st, Person::Agent(agent.id.clone()));
        match self.agents.iter_mut().find(|a| a.agent.id == agent.id) {
            Some(present) => present.role = role,
            None => self.agents.push(Present {
                agent: agent.clone(),
                role,
            }),
        }
    }

    /// Uses up a transcript position without an entry the bot can read (a typing notice):
    /// cursors then have gaps, as on a real server.
    pub fn skip_position(&mut self) {
        self.next_event += 1;
    }

    /// Appends an entry to the transcript and the live feed.
    #[allow(clippy::too_many_arguments)]
    pub fn add_entry(
        &mut self,
        st: &State,
        kind: &str,
        from_type: &str,
        nickname: &str,
        participant_id: &str,
        text: Option<String>,
        visibility: &str,
    ) -> Entry {
        self.next_event += 1;
        let entry = Entry {
            event_id: wire::cursor(st, self.next_event),
            kind: kind.to_owned(),
            from_type: from_type.to_owned(),
            nickname: nickname.to_owned(),
            participant_id: participant_id.to_owned(),
            text,
            visibility: visibility.to_owned(),
            at: st.now(),
        };
        if self.transcript.len() >= MAX_TRANSCRIPT {
            self.transcript.pop_front();
        }
        self.transcript.push_back(entry.clone());
        st.emit(SimEvent::Entry {
            chat: self.id.clone(),
            entry: entry.clone(),
        });
        entry
    }

    pub fn customer_entry(&mut self, st: &State, kind: &str, text: Option<String>) -> Entry {
        let nick = self.customer.clone();
        let pid = self.pid(st, Person::Customer);
        self.add_entry(st, kind, "Customer", &nick, &pid, text, "All")
    }

    /// The `participantId` of the bot that owns the chat.
    pub fn bot_pid(&mut self, st: &State) -> String {
        let owner = self.owner.clone().unwrap_or_default();
        self.pid(st, Person::Bot(owner))
    }

    /// An entry from the bot that owns the chat.
    pub fn bot_entry(&mut self, st: &State, kind: &str, text: Option<String>) -> Entry {
        self.bot_entry_to(st, kind, text, "All")
    }

    /// An entry from the bot that owns the chat, with `visibility`.
    pub fn bot_entry_to(
        &mut self,
        st: &State,
        kind: &str,
        text: Option<String>,
        visibility: &str,
    ) -> Entry {
        let nick = self.nickname.clone().unwrap_or_default();
        let pid = self.bot_pid(st);
        self.add_entry(st, kind, "Agent", &nick, &pid, text, visibility)
    }

    pub fn agent_entry(
        &mut self,
        st: &State,
        agent: &SimAgent,
        kind: &str,
        text: Option<String>,
        visibility: &str,
    ) -> Entry {
        let pid = self.pid(st, Person::Agent(agent.id.clone()));
        self.add_entry(st, kind, "Agent", &agent.nickname, &pid, text, visibility)
    }

    /// Tells the owner's clients about `note` in the simulator's dialect.
    pub fn notify(&self, st: &mut State, note: Note<'_>, reference: Option<u64>) {
        let Some(owner) = self.owner.clone() else {
            return;
        };
        if let Some(data) = wire::render(st, self, note, reference) {
            st.publish(&owner, wire::chat_topic(st.dialect), data);
        }
    }

    /// The bot's copy ends with `outcome`; any script stops.
    /// A bot closing (or others closing) a chat it had conferenced an agent into ends as
    /// [`ChatOutcome::Conference`].
    pub fn finish(&mut self, st: &mut State, outcome: ChatOutcome, reference: Option<u64>) {
        let outcome = match (outcome, &self.conference) {
            (ChatOutcome::ClosedByBot | ChatOutcome::ClosedByOthers, Some(agent)) => {
                ChatOutcome::Conference(agent.clone())
            }
            (outcome, _) => outcome,
        };
        if self.state == ChatState::Chatting && !self.bot_left {
            self.bot_entry(st, "ParticipantLeft", None);
        }
        self.state = ChatState::Ended;
        self.outcome = Some(outcome.clone());
        self.consult_generation += 1;
        self.progress.send_modify(|p| p.ended = true);
        self.notify(st, Note::Status, reference);
        st.emit(SimEvent::State {
            chat: self.id.clone(),
            state: ChatState::Ended,
        });
        st.emit(SimEvent::Ended {
            chat: self.id.clone(),
            outcome,
        });
    }

    pub fn snapshot(&self) -> ChatSnapshot {
        ChatSnapshot {
            id: self.id.clone(),
            state: self.state,
            customer: self.customer.clone(),
            customer_present: self.customer_present,
            owner: self.owner.clone(),
            transcript: self.transcript.iter().cloned().collect(),
            outcome: self.outcome.clone(),
            conference: self.conference.clone(),
            agents_present: self.agents.iter().map(|a| a.agent.id.clone()).collect(),
        }
    }
}
