//! Where the simulator publishes and serves, per dialect: the CometD topics and the REST
//! collection of chats.

use super::types::SimDialect;

/// Topic of channel-state notifications (both dialects).
pub(crate) const TOPIC_CHANNELS: &str = "/v2/me/channels";
/// Topic of chat notifications, `interactions` dialect.
pub(crate) const TOPIC_INTERACTIONS: &str = "/v2/me/interactions";
/// Topic of chat notifications, `chats` dialect.
pub(crate) const TOPIC_CHATS: &str = "/v2/me/chats";
/// The wildcard subscription a server accepts in both dialects.
const TOPIC_ALL: &str = "/v2/me/*";

/// The topic chat notifications are published on.
pub(crate) fn chat_topic(dialect: SimDialect) -> &'static str {
    match dialect {
        SimDialect::Interactions => TOPIC_INTERACTIONS,
        SimDialect::Chats => TOPIC_CHATS,
    }
}

/// True when a client may subscribe to `topic`.
pub(crate) fn may_subscribe(dialect: SimDialect, topic: &str) -> bool {
    [chat_topic(dialect), TOPIC_CHANNELS, TOPIC_ALL].contains(&topic)
}

/// The REST collection of chats under `/api/v2`.
pub(crate) fn collection(dialect: SimDialect) -> &'static str {
    match dialect {
        SimDialect::Interactions => "/me/interactions",
        SimDialect::Chats => "/me/chats",
    }
}
