//! Domain events: what the GWS notifications mean, independent of the API dialect.
//!
//! The dialect parsers in `gws::dialect` turn raw CometD payloads into these types; `dispatch`
//! routes them and `chat` acts on them. Nothing here knows JSON field names.

use std::collections::BTreeMap;
use std::fmt;

/// A capability a chat lists: what the bot may do with it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// An offer: the bot may take it.
    Accept,
    /// A live chat the bot is in.
    SendMessage,
    /// (`chats`) The chat can be completed: with neither of the above, the bot has left it.
    Complete,
}

impl Capability {
    /// The name GWS lists it under.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Accept => "Accept",
            Capability::SendMessage => "SendMessage",
            Capability::Complete => "Complete",
        }
    }
}

/// An interaction (chat) id as GWS assigns it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatId(pub String);

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<&str> for ChatId {
    fn from(s: &str) -> Self {
        ChatId(s.to_owned())
    }
}

/// Attached data ("user data") of an interaction: string keys, JSON values.
pub type UserData = BTreeMap<String, serde_json::Value>;

/// Everything the daemon learns from the notification stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Something about one chat changed; routed to that chat's task.
    Chat(ChatUpdate),
    /// The agent's state on the chat channel changed (e.g. `Ready`, `NotReady`).
    ChannelState { state: String },
    /// The notification stream was re-established after a gap (re-handshake or transport
    /// error): notifications may have been missed, every chat must catch up from its cursor.
    Reconnected,
}

/// Why GWS sent a chat notification (`notificationType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateKind {
    NewInteraction,
    StatusChange,
    ParticipantsUpdated,
    PropertiesUpdated,
    NewMessages,
    ChatHistory,
    Error,
    /// A type this build does not know; kept so it can be logged.
    Other(String),
}

/// One chat notification, flattened. Fields the notification did not carry are `None` (or
/// empty for `messages`): an absent list is "unchanged", not "empty".
#[derive(Debug, Clone, PartialEq)]
pub struct ChatUpdate {
    pub id: ChatId,
    pub kind: UpdateKind,
    pub reference_id: Option<u64>,
    /// The state name as sent (`Invited`, `Chatting`, `Completed`, …). Decide by
    /// `capabilities` where possible; state names differ between builds.
    pub state: Option<String>,
    pub capabilities: Option<Vec<String>>,
    pub participants: Option<Vec<Participant>>,
    pub user_data: Option<UserData>,
    /// Transcript entries in the order the server sent them.
    pub messages: Vec<Message>,
    /// For `UpdateKind::Error`: the server's description.
    pub error: Option<String>,
}

impl ChatUpdate {
    /// An update with only the id and kind set.
    pub fn new(id: ChatId, kind: UpdateKind) -> Self {
        ChatUpdate {
            id,
            kind,
            reference_id: None,
            state: None,
            capabilities: None,
            participants: None,
            user_data: None,
            messages: Vec::new(),
            error: None,
        }
    }

    /// True when the server lists `cap` among the chat's capabilities (any letter case).
    pub fn has_capability(&self, cap: Capability) -> bool {
        self.capabilities
            .as_ref()
            .is_some_and(|caps| caps.iter().any(|c| c.eq_ignore_ascii_case(cap.name())))
    }
}

/// Who a participant or message author is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParticipantKind {
    Customer,
    Agent,
    /// Supervisors, the system, or a type this build does not know.
    #[default]
    Other,
}

/// A chat participant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Participant {
    pub kind: ParticipantKind,
    pub nickname: Option<String>,
    /// An opaque id of this participant's place in the chat (`participantId`): never a user
    /// id (docs/gws-protocol.md, the readings section).
    pub participant_id: Option<String>,
    /// The user this participant is, where the server names one (`uri`/`path` ending in
    /// `/users/{id}`, or `userId`/`agentId`); older servers name none.
    pub user: Option<String>,
}

/// How the bot knows itself among a chat's participants: the nickname it accepted chats with
/// and, once logged in, its own user id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Me {
    pub nickname: String,
    pub user: Option<String>,
}

impl Participant {
    /// What tells this participant apart from the others of one chat: its `participantId`,
    /// else its user, else its nickname.
    pub fn key(&self) -> Option<&str> {
        self.participant_id
            .as_deref()
            .or(self.user.as_deref())
            .or(self.nickname.as_deref())
    }

    /// The bot itself: its own user where both are known, else its nickname.
    pub fn is_me(&self, me: &Me) -> bool {
        if self.kind != ParticipantKind::Agent {
            return false;
        }
        match (&self.user, &me.user) {
            (Some(user), Some(mine)) => user == mine,
            _ => self.nickname.as_deref() == Some(me.nickname.as_str()),
        }
    }

    /// A human agent: an `Agent` participant who is not the bot.
    pub fn is_human_agent(&self, me: &Me) -> bool {
        self.kind == ParticipantKind::Agent && !self.is_me(me)
    }

    /// Whether this participant may be the consulted user `consulted` having joined: a human
    /// agent who was not in the chat when the consultation began (`before`: their keys) and,
    /// where the server names users, that very user. Servers that name nobody (only type,
    /// nickname and an opaque `participantId`) leave the newcomer as the only clue
    /// (docs/gws-protocol.md, the readings section).
    pub fn may_be(&self, consulted: &str, me: &Me, before: &[String]) -> bool {
        self.is_human_agent(me)
            && self
                .key()
                .is_none_or(|key| !before.iter().any(|b| b == key))
            && self.user.as_deref().is_none_or(|user| user == consulted)
    }
}

/// Transcript entry type (`messages[].type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    Text,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantRejoined,
    TypingStarted,
    TypingStopped,
    PushUrl,
    Notice,
    CustomNotice,
    NicknameUpdated,
    Other(String),
}

/// Who may see a transcript entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    All,
    Agents,
    Supervisors,
}

/// One transcript entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The cursor (`eventId` in the `interactions` dialect, `index` as a string in `chats`).
    pub event_id: Option<String>,
    pub kind: MessageKind,
    /// `text` for `Text`, `noticeText` for notices, `url` for `PushUrl`.
    pub text: Option<String>,
    pub visibility: Visibility,
    pub from: Participant,
}

impl Message {
    /// A customer's text that everyone can see: the only kind of entry the bot answers.
    pub fn is_customer_text(&self) -> bool {
        self.kind == MessageKind::Text
            && self.visibility == Visibility::All
            && self.from.kind == ParticipantKind::Customer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(pid: &str, nick: &str, user: Option<&str>) -> Participant {
        Participant {
            kind: ParticipantKind::Agent,
            nickname: Some(nick.into()),
            participant_id: Some(pid.into()),
            user: user.map(Into::into),
        }
    }

    #[test]
    fn the_bot_is_known_by_its_user_where_named_else_by_its_nickname() {
        let me = Me {
            nickname: "Ava".into(),
            user: Some("bot01".into()),
        };
        assert!(agent("00AF", "Ava", None).is_me(&me));
        assert!(agent("00AF", "Ava", Some("bot01")).is_me(&me));
        assert!(agent("00AF", "Bot", Some("bot01")).is_me(&me));
        // A human who happens to share the nickname, but is named as somebody else.
        assert!(!agent("00B0", "Ava", Some("agent-7")).is_me(&me));
        let customer = Participant {
            kind: ParticipantKind::Customer,
            ..agent("00B1", "Ava", None)
        };
        assert!(!customer.is_me(&me) && !customer.is_human_agent(&me));
    }

    #[test]
    fn the_consulted_agent_is_a_newcomer_and_where_named_the_consulted_user() {
        let me = Me {
            nickname: "Ava".into(),
            user: Some("bot01".into()),
        };
        let before = vec!["00C0".to_owned()];
        // Servers that name nobody: any human newcomer.
        assert!(agent("00C1", "Sam", None).may_be("agent-7", &me, &before));
        assert!(!agent("00C0", "Sue", None).may_be("agent-7", &me, &before));
        assert!(!agent("00C2", "Ava", None).may_be("agent-7", &me, &before));
        // Servers that name users: only the consulted one.
        assert!(agent("00C3", "Sam", Some("agent-7")).may_be("agent-7", &me, &before));
        assert!(!agent("00C4", "Lee", Some("agent-8")).may_be("agent-7", &me, &before));
        assert!(!agent("00C5", "Ava", Some("bot01")).may_be("bot01", &me, &before));
        // The participantId is never compared with the user id.
        assert!(!agent("agent-7", "X", Some("agent-8")).may_be("agent-7", &me, &before));
    }
}
