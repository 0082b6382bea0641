//! What the chat remembers of its notifications: participants, attached data, the transcript
//! cursor and the entries already seen, so that a message is never answered twice; what each
//! update brings that is new; and the cut of customer texts that are too long.

use std::collections::HashSet;

use tracing::warn;

use crate::event::{ChatUpdate, Message, MessageKind, Participant, ParticipantKind, UserData};

/// A customer text and its transcript entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    pub id: Option<String>,
    pub text: String,
}

/// What the chat noticed while taking in an update.
#[derive(Debug, Default)]
pub struct Observed {
    /// Customer texts not seen before, in order.
    pub texts: Vec<Said>,
    pub customer_left: bool,
    /// GWS says the bot's part in the chat is over.
    pub finished: bool,
    /// The message the bot was answering when it stopped, which this update showed answered
    /// (see [`Memory::judge_later`]): handled now, to be saved as such.
    pub answered: Option<String>,
}

/// Cut `text` to at most `max` characters, so that absurd messages never reach the rules.
pub fn limit_text(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => {
            warn!(
                chars = text.chars().count(),
                max, "customer message too long; only its beginning is read"
            );
            text[..cut].to_owned()
        }
        None => text,
    }
}

/// What the bot remembers of a chat's notifications: participants, attached data, the
/// transcript cursor and which entries it has already seen.
#[derive(Debug, Default)]
pub struct Memory {
    customer: Option<String>,
    pub(super) user_data: UserData,
    /// The last customer and bot texts, for responders (`ChatView::recent`).
    pub(super) recent: Vec<crate::responder::Line>,
    pub(super) participants: Vec<Participant>,
    seen: HashSet<String>,
    pub(super) cursor: Option<String>,
    /// The saved cursor: it and every entry before it are handled.
    handled_through: Option<String>,
    /// The message the bot was answering when it stopped, not yet judged against a transcript,
    /// and the bot's nickname (see [`Memory::judge_later`]).
    unjudged: Option<(String, String)>,
}

impl Memory {
    /// The memory of a chat resumed with a saved cursor: an update that replays the
    /// transcript (the history after a re-offer) holds nothing new up to that entry.
    pub fn resumed_at(cursor: Option<String>) -> Memory {
        Memory {
            handled_through: cursor,
            ..Memory::default()
        }
    }

    /// The saved cursor moved: entries up to `id` are handled.
    pub fn handled_through(&mut self, id: Option<String>) {
        if id.is_some() {
            self.handled_through = id;
        }
    }

    /// The transcript that would have told whether the message `answering` (saved as being
    /// answered when the bot stopped) was answered did not come. The first update that shows
    /// it decides instead, as `crate::chat::resume` would have: a text of the bot (`bot`) after it
    /// proves the answer went out, and it and what precedes it are handled; else it is new.
    /// Without this a later catch-up, holding the message after the saved cursor, has it
    /// answered twice.
    pub fn judge_later(&mut self, answering: Option<String>, bot: &str) {
        self.unjudged = answering.map(|id| (id, bot.to_owned()));
    }

    /// Take in what an update says about the chat, and return what is new.
    pub fn absorb(&mut self, update: &ChatUpdate) -> Observed {
        let mut seen = Observed::default();
        if let Some(data) = &update.user_data {
            self.user_data = data.clone();
        }
        if let Some(participants) = &update.participants {
            let had_customer = self.has_customer();
            self.participants = participants.clone();
            if self.customer.is_none() {
                self.customer = participants
                    .iter()
                    .find(|p| p.kind == ParticipantKind::Customer)
                    .and_then(|p| p.nickname.clone());
            }
            if had_customer && !self.has_customer() {
                seen.customer_left = true;
            }
        }
        let state_done = update.state.as_deref().is_some_and(|s| {
            s.eq_ignore_ascii_case("Completed") || s.eq_ignore_ascii_case("Revoked")
        });
        let no_capabilities = update.capabilities.as_ref().is_some_and(|c| c.is_empty());
        seen.finished = state_done || no_capabilities;
        // A transcript is in order: in a replay (the whole history after a re-offer, a
        // catch-up), the saved cursor and what precedes it are old. (Entries before one seen
        // already may be new: a customer can write while nobody receives notifications.)
        let mut old = update
            .messages
            .iter()
            .rposition(|m| m.event_id.is_some() && m.event_id == self.handled_through)
            .map_or(0, |i| i + 1);
        if let Some((id, bot)) = &self.unjudged {
            let at = update
                .messages
                .iter()
                .position(|m| m.event_id.as_deref() == Some(id.as_str()));
            if let Some(at) = at {
                if update.messages[at + 1..]
                    .iter()
                    .any(|m| crate::chat::resume::is_bot_text(m, bot))
                {
                    old = old.max(at + 1);
                    self.handled_through = Some(id.clone());
                    seen.answered = Some(id.clone());
                }
                self.unjudged = None;
            }
        }
        for message in &update.messages[..old] {
            self.first_sight(message);
        }
        for message in &update.messages[old..] {
            if !self.first_sight(message) {
                continue;
            }
            if message.is_customer_text() {
                if let Some(text) = &message.text {
                    seen.texts.push(Said {
                        id: message.event_id.clone(),
                        text: text.clone(),
                    });
                }
            } else if message.kind == MessageKind::ParticipantLeft
                && message.from.kind == ParticipantKind::Customer
            {
                seen.customer_left = true;
            } else if message.from.kind == ParticipantKind::Agent {
                self.roster_entry(message);
            }
        }
        seen
    }

    /// An agent's join or leave entry updates who is in the chat.
    fn roster_entry(&mut self, message: &Message) {
        let Some(key) = message.from.key() else {
            return;
        };
        let at = self.participants.iter().position(|p| p.key() == Some(key));
        match (&message.kind, at) {
            (MessageKind::ParticipantJoined | MessageKind::ParticipantRejoined, None) => {
                self.participants.push(message.from.clone());
            }
            (MessageKind::ParticipantLeft, Some(at)) => {
                self.participants.remove(at);
            }
            _ => {}
        }
    }

    /// Record a transcript entry; false if it was seen before.
    fn first_sight(&mut self, message: &Message) -> bool {
        let Some(id) = &message.event_id else {
            return true;
        };
        if !self.seen.insert(id.clone()) {
            return false;
        }
        self.cursor = Some(id.clone());
        true
    }

    /// Whether this transcript entry was taken in already.
    pub(super) fn has_seen(&self, message: &Message) -> bool {
        message
            .event_id
            .as_ref()
            .is_some_and(|id| self.seen.contains(id))
    }

    fn has_customer(&self) -> bool {
        self.participants
            .iter()
            .any(|p| p.kind == ParticipantKind::Customer)
    }

    /// The customer's nickname, once known.
    pub fn customer(&self) -> Option<&str> {
        self.customer.as_deref()
    }

    /// The last transcript entry seen (the catch-up cursor).
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }
}

#[cfg(test)]
mod tests {
    // The whole state machine runs against the simulator in the integration tests; what
    // the chat remembers of notifications is tested here.
    use super::*;
    use crate::event::{ChatId, UpdateKind, Visibility};

    fn person(kind: ParticipantKind, id: &str) -> Participant {
        Participant {
            kind,
            nickname: Some(format!("nick-{id}")),
            participant_id: Some(id.into()),
            user: None,
        }
    }

    fn entry(id: &str, kind: MessageKind, from: Participant, text: &str) -> Message {
        Message {
            event_id: Some(id.into()),
            kind,
            text: Some(text.into()),
            visibility: Visibility::All,
            from,
        }
    }

    fn update(kind: UpdateKind, messages: Vec<Message>) -> ChatUpdate {
        ChatUpdate {
            messages,
            ..ChatUpdate::new(ChatId::from("c1"), kind)
        }
    }

    #[test]
    fn customer_text_is_taken_once_and_moves_the_cursor() {
        let mut m = Memory::default();
        let customer = person(ParticipantKind::Customer, "p-1");
        let hello = entry("e-1", MessageKind::Text, customer.clone(), "hello");
        let first = m.absorb(&update(UpdateKind::NewMessages, vec![hello.clone()]));
        assert_eq!(
            first.texts,
            vec![Said {
                id: Some("e-1".into()),
                text: "hello".into()
            }]
        );
        assert_eq!(m.cursor(), Some("e-1"));
        // The same entry again, as a catch-up would deliver it: nothing new.
        let again = m.absorb(&update(UpdateKind::ChatHistory, vec![hello]));
        assert!(again.texts.is_empty());
    }

    /// The chaos test's duplicate answer with seed 2 on a loaded machine: the daemon died
    /// after sending an answer and before saving it; the transcript asked for on restart never
    /// came; the catch-up after the next reconnect brought the whole transcript. The message
    /// was answered twice.
    #[test]
    fn a_message_answered_before_a_crash_is_judged_by_the_first_transcript_showing_it() {
        let customer = person(ParticipantKind::Customer, "p-1");
        let mut bot = person(ParticipantKind::Agent, "p-2");
        bot.nickname = Some("Ava".into());
        let said = |id: &str| entry(id, MessageKind::Text, customer.clone(), id);
        let answer = |id: &str| entry(id, MessageKind::Text, bot.clone(), "answer");
        let texts = |o: &Observed| o.texts.iter().map(|s| s.text.clone()).collect::<Vec<_>>();
        let transcript = update(
            UpdateKind::ChatHistory,
            vec![said("1"), answer("2"), said("3"), answer("4"), said("5")],
        );
        let mut m = Memory::resumed_at(Some("2".into()));
        m.judge_later(Some("3".into()), "Ava");
        let seen = m.absorb(&transcript);
        assert_eq!(texts(&seen), ["5"]);
        assert_eq!(seen.answered.as_deref(), Some("3"));
        // Judged once: the next replay goes by the cursor, now past 3.
        let mut m2 = Memory::resumed_at(Some("2".into()));
        m2.judge_later(Some("3".into()), "Ava");
        m2.absorb(&update(UpdateKind::NewMessages, vec![said("5")]));
        let seen = m2.absorb(&transcript);
        assert!(texts(&seen).is_empty(), "{:?}", texts(&seen));
        // No answer after it: the answer never went out, and the message is answered now.
        let mut m = Memory::resumed_at(Some("2".into()));
        m.judge_later(Some("3".into()), "Ava");
        let cut = update(
            UpdateKind::ChatHistory,
            vec![said("1"), answer("2"), said("3")],
        );
        let seen = m.absorb(&cut);
        assert_eq!(texts(&seen), ["3"]);
        assert_eq!(seen.answered, None);
    }

    #[test]
    fn a_replayed_transcript_is_new_only_after_the_saved_cursor() {
        let customer = person(ParticipantKind::Customer, "p-1");
        let said = |id: &str| entry(id, MessageKind::Text, customer.clone(), id);
        let texts = |o: Observed| o.texts.into_iter().map(|s| s.text).collect::<Vec<_>>();
        let replay = update(
            UpdateKind::ChatHistory,
            vec![said("1"), said("2"), said("3"), said("4")],
        );
        // A chat resumed at saved cursor 2 gets the whole transcript (after a re-offer).
        let mut m = Memory::resumed_at(Some("2".into()));
        assert_eq!(texts(m.absorb(&replay)), ["3", "4"]);
        assert_eq!(m.cursor(), Some("4"));
        // A running chat whose saved cursor moved to 3, and that has seen only 4 (a customer
        // wrote 1..3 while nobody was notified): 4 is not new, the rest up to 3 is handled.
        let mut m = Memory::default();
        m.absorb(&update(UpdateKind::NewMessages, vec![said("4")]));
        m.handled_through(Some("3".into()));
        assert!(texts(m.absorb(&replay)).is_empty());
        // Without a cursor, all that was not seen is new, even before an entry seen already.
        let mut m = Memory::default();
        m.absorb(&update(UpdateKind::NewMessages, vec![said("3")]));
        assert_eq!(texts(m.absorb(&replay)), ["1", "2", "4"]);
    }

    #[test]
    fn the_bots_own_and_agent_only_messages_are_not_customer_text() {
        let mut m = Memory::default();
        let bot = person(ParticipantKind::Agent, "bot");
        let mut hidden = entry(
            "e-2",
            MessageKind::Text,
            person(ParticipantKind::Customer, "p"),
            "x",
        );
        hidden.visibility = Visibility::Agents;
        let seen = m.absorb(&update(
            UpdateKind::NewMessages,
            vec![entry("e-1", MessageKind::Text, bot, "Hi!"), hidden],
        ));
        assert!(seen.texts.is_empty());
        assert_eq!(m.cursor(), Some("e-2"));
    }

    #[test]
    fn participants_show_who_joined_and_who_left() {
        let mut m = Memory::default();
        let customer = person(ParticipantKind::Customer, "p-1");
        let agent = person(ParticipantKind::Agent, "agent-101");
        let mut u = ChatUpdate::new(ChatId::from("c1"), UpdateKind::ParticipantsUpdated);
        u.participants = Some(vec![customer.clone()]);
        assert!(!m.absorb(&u).customer_left);
        assert_eq!(m.customer(), Some("nick-p-1"));
        u.participants = Some(vec![customer, agent.clone()]);
        m.absorb(&u);
        assert_eq!(m.participants.len(), 2);
        u.participants = Some(vec![agent]);
        assert!(m.absorb(&u).customer_left);
        let left = entry(
            "e-9",
            MessageKind::ParticipantLeft,
            person(ParticipantKind::Customer, "p-1"),
            "",
        );
        assert!(
            m.absorb(&update(UpdateKind::NewMessages, vec![left]))
                .customer_left
        );
    }

    #[test]
    fn join_and_leave_entries_keep_the_roster_in_any_order_with_the_list() {
        let customer = person(ParticipantKind::Customer, "0A1B");
        let agent = person(ParticipantKind::Agent, "7F3C");
        let event = |id: &str, kind: MessageKind| {
            let mut e = entry(id, kind, agent.clone(), "");
            e.visibility = Visibility::Agents;
            update(UpdateKind::NewMessages, vec![e])
        };
        let list = |people: Vec<Participant>| {
            let mut u = ChatUpdate::new(ChatId::from("c1"), UpdateKind::ParticipantsUpdated);
            u.participants = Some(people);
            u
        };
        let agents = |m: &Memory| {
            m.participants
                .iter()
                .filter(|p| p.kind == ParticipantKind::Agent)
                .count()
        };
        // The entry first, then the list: one agent, not two.
        let mut m = Memory::default();
        m.absorb(&list(vec![customer.clone()]));
        m.absorb(&event("1", MessageKind::ParticipantJoined));
        assert_eq!(agents(&m), 1);
        m.absorb(&list(vec![customer.clone(), agent.clone()]));
        assert_eq!(agents(&m), 1);
        // The entry alone is enough, and so is the leave entry alone.
        let mut m = Memory::default();
        m.absorb(&list(vec![customer.clone()]));
        m.absorb(&event("1", MessageKind::ParticipantJoined));
        assert_eq!(agents(&m), 1);
        m.absorb(&event("2", MessageKind::ParticipantLeft));
        assert_eq!(agents(&m), 0);
        // A repeated join entry (a duplicate delivery) changes nothing.
        m.absorb(&event("1", MessageKind::ParticipantJoined));
        assert_eq!(agents(&m), 0);
    }

    #[test]
    fn completed_or_no_capabilities_means_finished() {
        let mut m = Memory::default();
        let mut u = ChatUpdate::new(ChatId::from("c1"), UpdateKind::StatusChange);
        u.state = Some("Chatting".into());
        u.capabilities = Some(vec!["SendMessage".into()]);
        assert!(!m.absorb(&u).finished);
        u.state = Some("Completed".into());
        assert!(m.absorb(&u).finished);
        u.state = None;
        u.capabilities = Some(vec![]);
        assert!(m.absorb(&u).finished);
    }

    #[test]
    fn long_texts_are_cut_on_char_boundaries() {
        assert_eq!(limit_text("héllo".into(), 2), "hé");
        assert_eq!(limit_text("short".into(), 100), "short");
    }
}
