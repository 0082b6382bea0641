//! Where to pick a chat up after a restart, a lost session or a re-offer: which entries of the
//! transcript the bot has already handled, and whether it has greeted the customer.
//!
//! The saved [`Record`] says what the bot had finished; the transcript says what actually
//! reached the customer. Together they settle the one unclear case, a crash between sending an
//! answer and saving that it was sent: the record names the message being answered, and a
//! bot text after it in the transcript proves the answer went out. When there is no record at
//! all, every customer message the bot has already replied to counts as handled. Both rules
//! prefer a missing answer over a repeated one only where the transcript cannot tell.

use crate::event::{Message, MessageKind, ParticipantKind, Visibility};
use crate::store::state::Record;

/// What the transcript tells about a chat being resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// Entries up to and including this index are handled; `None`: nothing is.
    pub handled_through: Option<usize>,
    /// The customer has been greeted already (by the record or by a bot text).
    pub greeted: bool,
}

/// True for a text the bot (shown as `bot`) sent to the customer.
pub fn is_bot_text(m: &Message, bot: &str) -> bool {
    m.kind == MessageKind::Text
        && m.visibility == Visibility::All
        && m.from.kind == ParticipantKind::Agent
        && m.from.nickname.as_deref() == Some(bot)
}

/// Decide where to resume in `history` (oldest first). `since_cursor` is true when the history
/// was asked for with the record's cursor, so it holds only entries after it.
pub fn resume(
    history: &[Message],
    record: Option<&Record>,
    bot: &str,
    since_cursor: bool,
) -> Resume {
    let index_of = |id: &Option<String>| {
        id.as_ref()
            .and_then(|id| history.iter().position(|m| m.event_id.as_ref() == Some(id)))
    };
    let last_bot_text = history.iter().rposition(|m| is_bot_text(m, bot));
    let greeted = record.is_some_and(|r| r.greeted) || last_bot_text.is_some();
    let Some(record) = record else {
        return Resume {
            handled_through: last_bot_text,
            greeted,
        };
    };
    let cursor = index_of(&record.cursor);
    let mut handled = match cursor {
        Some(i) => Some(i),
        None if since_cursor && record.cursor.is_some() => None,
        // The cursor is unknown to the server (or there is none): fall back to the
        // transcript, where every message already replied to counts as handled.
        None => last_bot_text,
    };
    if let Some(a) = index_of(&record.answering)
        && handled.is_none_or(|h| a > h)
        && history[a + 1..].iter().any(|m| is_bot_text(m, bot))
    {
        handled = Some(a);
    }
    Resume {
        handled_through: handled,
        greeted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Participant;

    fn entry(id: &str, kind: ParticipantKind, nick: &str, text: &str) -> Message {
        Message {
            event_id: Some(id.into()),
            kind: MessageKind::Text,
            text: Some(text.into()),
            visibility: Visibility::All,
            from: Participant {
                kind,
                nickname: Some(nick.into()),
                ..Participant::default()
            },
        }
    }
    fn customer(id: &str) -> Message {
        entry(id, ParticipantKind::Customer, "Pat", "question")
    }
    fn bot(id: &str) -> Message {
        entry(id, ParticipantKind::Agent, "Ava", "answer")
    }
    fn record(cursor: Option<&str>, answering: Option<&str>) -> Record {
        Record {
            greeted: true,
            cursor: cursor.map(Into::into),
            answering: answering.map(Into::into),
            ..Record::default()
        }
    }

    #[test]
    fn without_a_record_what_the_bot_replied_to_is_handled() {
        let h = [customer("e-1"), bot("e-2"), customer("e-3")];
        assert_eq!(
            resume(&h, None, "Ava", false),
            Resume {
                handled_through: Some(1),
                greeted: true
            }
        );
        let fresh = [customer("e-1")];
        assert_eq!(
            resume(&fresh, None, "Ava", false),
            Resume {
                handled_through: None,
                greeted: false
            }
        );
        // Another agent with a different nickname is not the bot.
        let other = [entry("e-1", ParticipantKind::Agent, "Sam", "hi")];
        assert!(!resume(&other, None, "Ava", false).greeted);
    }

    #[test]
    fn the_cursor_marks_what_is_handled() {
        let h = [
            customer("e-1"),
            bot("e-2"),
            customer("e-3"),
            customer("e-4"),
        ];
        let r = record(Some("e-3"), None);
        assert_eq!(resume(&h, Some(&r), "Ava", false).handled_through, Some(2));
    }

    #[test]
    fn an_answer_in_flight_counts_when_the_transcript_shows_it() {
        // Crashed after sending the answer to e-3 and before saving: e-4 is still pending.
        let sent = [
            customer("e-1"),
            customer("e-3"),
            customer("e-4"),
            bot("e-5"),
        ];
        let r = record(Some("e-1"), Some("e-3"));
        assert_eq!(
            resume(&sent, Some(&r), "Ava", false).handled_through,
            Some(1)
        );
        // Crashed before the answer went out: e-3 is answered again.
        let unsent = [customer("e-1"), customer("e-3")];
        assert_eq!(
            resume(&unsent, Some(&r), "Ava", false).handled_through,
            Some(0)
        );
    }

    #[test]
    fn history_since_the_cursor_is_all_new() {
        let h = [customer("e-4"), bot("e-5"), customer("e-6")];
        let r = record(Some("e-3"), None);
        assert_eq!(resume(&h, Some(&r), "Ava", true).handled_through, None);
        let r = record(Some("e-3"), Some("e-4"));
        assert_eq!(resume(&h, Some(&r), "Ava", true).handled_through, Some(0));
    }

    #[test]
    fn a_record_without_a_greeting_and_no_bot_text_greets() {
        let r = Record::default();
        assert!(!resume(&[customer("e-1")], Some(&r), "Ava", false).greeted);
    }
}
