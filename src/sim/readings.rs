//! The readings of the protocol notes (`docs/gws-protocol.md`, §13 lists them) the simulator
//! can produce, where the notes (or the seed page) allow more than one. Each switch names the
//! sentence that allows it, so a test can run the daemon against every reading instead of the
//! one the daemon happens to expect.
//!
//! Two switches sit directly on [`super::SimConfig`] because they matter most for hand-overs:
//! [`ParticipantForm`] (`participants`) and [`Notices`] (`join_notices`). The rest are grouped
//! in [`Readings`] (`readings`). Every default is the reading of §12 of docs/gws-protocol.md.

use serde::{Deserialize, Serialize};

/// How participants are described, in `participants[]` and in entries' `from`.
///
/// §12: "Later servers add `"uri":"{api}/users/{userId}"` (and `path`) to participants
/// and to `from`; older ones give only `type`, `nickname`, `participantId`."
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantForm {
    /// Older servers: only `type`, `nickname` and the opaque `participantId`. The default:
    /// the harder case for a client, which must tell agents apart without user ids.
    #[default]
    Minimal,
    /// Later servers: agents (the bot and humans) also carry `uri` (`{api}/users/{userId}`)
    /// and `path` (`/users/{userId}`); customers carry neither.
    Named,
}

/// How one participant's joining or leaving is announced to the bot: by a `ParticipantsUpdated`
/// chat update, by a `ParticipantJoined` / `ParticipantLeft` transcript entry, or both in
/// either order.
///
/// §12 shows a joining agent as "`ParticipantsUpdated` with an extra `Agent` participant
/// and a `ParticipantJoined` entry", and the customer leaving as "a `ParticipantLeft` entry from
/// the `Customer` and/or `ParticipantsUpdated` without a customer"; the order of two
/// notifications is not fixed anywhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Notices {
    /// The participants update, then the entry (§7's "then").
    #[default]
    ParticipantsFirst,
    /// The entry, then the participants update.
    EntryFirst,
    /// Only the participants update; no entry is written.
    ParticipantsOnly,
    /// Only the entry; the participants list changes silently (later notifications and the
    /// listing show it).
    EntryOnly,
}

impl Notices {
    /// True when a `ParticipantsUpdated` notification is sent.
    pub fn sends_participants(self) -> bool {
        self != Notices::EntryOnly
    }

    /// True when a transcript entry is written (and notified).
    pub fn writes_entry(self) -> bool {
        self != Notices::ParticipantsOnly
    }
}

/// How an agent's joining is announced (consulted, looking in, or conferenced in).
pub type JoinNotices = Notices;

/// The form of the `interactions` dialect's `eventId` cursor (the `chats` `index` is always an
/// integer, per the `chats` contract).
///
/// §6.2: "the cursor is `eventId`", a string (stated by the seed); `"e-17"` is only the notes' example.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EventIds {
    /// `e-1`, `e-2`, … (the notes' example form).
    #[default]
    Sequential,
    /// 16 random upper-case hex digits: nothing to parse, compare or count.
    Opaque,
}

/// Where `RequestChatHistory` with a known `eventId` starts.
///
/// §12: "returns the entries *after* that eventId"; the seed describes the parameter as
/// "event-id-from-which-to-start-chat-history", which also reads as *from* it, inclusive.
/// §12: "Deduplication by cursor makes either safe."
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryStart {
    /// The entries after that `eventId`.
    #[default]
    After,
    /// That entry and the ones after it.
    From,
}

/// The order of a chat's `capabilities`.
///
/// §6.1: "Decide by capabilities, not by state names" — a set; no order is promised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CapabilityOrder {
    /// The order of the notes' examples.
    #[default]
    Listed,
    /// The same list reversed.
    Reversed,
}

/// How the `interactions` dialect lays out a notification's `data`.
///
/// §6.2: "Older builds put the fields at the top level of `data` and name the type
/// `messageTypeName`: accept both."
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `messageType`, the interaction under `data.interaction`.
    #[default]
    Nested,
    /// `messageTypeName`, the interaction's fields at the top level of `data`.
    Flat,
}

/// How operation replies are written.
///
/// §7: "The seed shows `{"status":0}` for consultation operations: accept `statusCode`
/// or `status` (number, or `"ok"`/`"error"` with `errorDescription`)"; §4 step 4:
/// `Ready`/`NotReady` may answer "the older `{"status":"ok"}` /
/// `{"status":"error","errorDescription":"…"}` — accept all".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusForm {
    /// `{"statusCode":N}` everywhere.
    #[default]
    StatusCode,
    /// The seed's forms: `StartChatConsultation`, `CompleteTransfer`, `CompleteConference` and
    /// `LeaveChatConsultation` answer `{"status":N}` (`interactions`), and `Ready`/`NotReady`
    /// answer `{"status":"ok"}` or `{"status":"error","errorDescription":…}` (both dialects).
    Seed,
}

/// The state the bot's copy of a chat shows once it handed the chat to someone else
/// (`Transfer`, `CompleteTransfer`).
///
/// §11: "the agent's own notifications after a transfer (`Completed` vs `Revoked`)" are
/// not known; §6.1: "`Completed`/`Revoked` or gone from the list → finished".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HandedOverState {
    /// §12's reading.
    #[default]
    Completed,
    Revoked,
}

/// The reading switches other than [`ParticipantForm`] and [`JoinNotices`]. JSON keys are the
/// field names; every one may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Readings {
    /// The `interactions` `eventId` form.
    pub event_ids: EventIds,
    /// Where `RequestChatHistory` with a known `eventId` starts.
    pub history_start: HistoryStart,
    /// `interactions`: push a `ChatHistory` after Accept. §12 and the seed ("a cometD
    /// notification will come with complete chat history") both say it is pushed, so `false`
    /// is outside the notes: a robustness variant of a server that loses that notification,
    /// which the client can make up for with `RequestChatHistory` (§10's catch-up).
    pub history_after_accept: bool,
    /// How the customer's leaving is announced (§12: entry "and/or" participants
    /// update). The default, [`Notices::EntryFirst`], is the order of §12's sentence.
    pub customer_leaves: Notices,
    /// The order of capabilities.
    pub capabilities: CapabilityOrder,
    /// `interactions`: nested or older flat notifications.
    pub layout: Layout,
    /// Reply forms of consultation and channel operations.
    pub status_form: StatusForm,
    /// The bot's copy after handing the chat over.
    pub handed_over: HandedOverState,
}

impl Default for Readings {
    /// §12's readings.
    fn default() -> Readings {
        Readings {
            event_ids: EventIds::default(),
            history_start: HistoryStart::default(),
            history_after_accept: true,
            customer_leaves: Notices::EntryFirst,
            capabilities: CapabilityOrder::default(),
            layout: Layout::default(),
            status_form: StatusForm::default(),
            handed_over: HandedOverState::default(),
        }
    }
}
