//! Which request a `referenceId` belongs to. GWS accepts an operation with
//! `{"statusCode":0,"referenceId":N}` and may report later, in an `Error` notification with
//! the same `referenceId`, that it failed after all; this table lets that report name the
//! operation (and the chat). It is bounded in size and age: a report that comes after the
//! entry was dropped is still logged, without the operation.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::event::ChatId;

/// How many accepted requests are remembered at most.
pub const DEFAULT_CAPACITY: usize = 1024;
/// How long an accepted request is remembered.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);

/// An accepted request that may still fail asynchronously.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub chat: ChatId,
    /// `Operation::label()` (or the wire step of a multi-step operation).
    pub operation: &'static str,
    /// See `Operation::ends_the_bots_part`: when it fails, the chat is still the bot's.
    pub ends_the_bots_part: bool,
}

/// The remembered requests, oldest first.
#[derive(Debug)]
pub struct References {
    entries: VecDeque<(u64, Instant, Request)>,
    capacity: usize,
    ttl: Duration,
}

impl Default for References {
    fn default() -> Self {
        References::new(DEFAULT_CAPACITY, DEFAULT_TTL)
    }
}

impl References {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        References {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// Remember that `reference_id` is `request`, forgetting expired and excess entries.
    pub fn remember(&mut self, reference_id: u64, request: Request) {
        let now = Instant::now();
        self.expire(now);
        while self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back((reference_id, now, request));
    }

    /// The request `reference_id` on `chat` belonged to, if still remembered; it is forgotten.
    /// The chat must match too: reference ids start again in a new session.
    pub fn take(&mut self, reference_id: u64, chat: &ChatId) -> Option<Request> {
        self.expire(Instant::now());
        let at = self
            .entries
            .iter()
            .rposition(|(id, _, r)| *id == reference_id && r.chat == *chat)?;
        self.entries.remove(at).map(|(_, _, r)| r)
    }

    fn expire(&mut self, now: Instant) {
        while self
            .entries
            .front()
            .is_some_and(|(_, at, _)| now.duration_since(*at) >= self.ttl)
        {
            self.entries.pop_front();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(chat: &str, operation: &'static str) -> Request {
        Request {
            chat: ChatId::from(chat),
            operation,
            ends_the_bots_part: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_reference_names_its_request_once() {
        let mut refs = References::default();
        refs.remember(1, request("c1", "send_message"));
        refs.remember(2, request("c1", "transfer_agent"));
        assert_eq!(refs.take(3, &ChatId::from("c1")), None);
        assert_eq!(refs.take(2, &ChatId::from("c2")), None, "other chat");
        assert_eq!(
            refs.take(2, &ChatId::from("c1")),
            Some(request("c1", "transfer_agent"))
        );
        assert_eq!(refs.take(2, &ChatId::from("c1")), None, "taken");
        assert_eq!(refs.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_in_size_and_age() {
        let mut refs = References::new(2, Duration::from_secs(60));
        for id in 1..=3 {
            refs.remember(id, request("c", "x"));
        }
        assert_eq!(refs.len(), 2);
        assert_eq!(refs.take(1, &ChatId::from("c")), None, "oldest dropped");
        tokio::time::advance(Duration::from_secs(30)).await;
        refs.remember(4, request("c", "y"));
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(refs.take(2, &ChatId::from("c")), None, "expired");
        assert_eq!(
            refs.take(4, &ChatId::from("c")).map(|r| r.operation),
            Some("y")
        );
    }
}
