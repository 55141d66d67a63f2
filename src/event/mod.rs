//! Event types shared by every layer: who an event is for, its cursor, and its payload.
//!
//! Parsing happens here, at the edge, so that an invalid user id, cursor or message can never
//! reach the broker or the hub.
//!
//! # Layout
//! - [`user`]: who an event is for: [`UserId`], [`Topic`].
//! - [`id`]: where it sits in the log: [`EventId`], the cursor clients hold.
//! - [`message`]: a publisher's message, parsed and limited: [`NewEvent`].
//! - [`stored`]: an event as stored and delivered: [`StoredEvent`].
//! - [`idempotency`]: a publisher's name for one event: [`IdempotencyKey`].

mod id;
mod idempotency;
mod message;
mod stored;
#[cfg(test)]
mod tests;
mod user;

pub use id::{EventId, now_ms};
pub use idempotency::{IdempotencyKey, MAX_KEY_CHARS};
pub use message::{NewEvent, ParseLimits};
pub use stored::StoredEvent;
pub use user::{MAX_TOPIC_CHARS, Topic, UserId};

/// Longest user id accepted, in characters.
pub const MAX_USER_ID_CHARS: usize = 128;
/// Longest SSE event name accepted, in characters.
pub const MAX_EVENT_NAME_CHARS: usize = 64;

/// Event names a publisher may not use: the ones the relay sends itself on a stream (`reset`,
/// `token-expired`, `reconnect`, `keepalive`), and the ones `EventSource` fires for its own
/// state (`open`, `error`), so a published event can never pose as either.
pub const RESERVED_EVENT_NAMES: [&str; 6] = [
    "reset",
    "token-expired",
    "reconnect",
    "keepalive",
    "open",
    "error",
];

/// Fields that only route a message and are taken out of the delivered `data`: recipients must
/// not learn who else got the event, who was left out, or how it falls back.
pub const ROUTING_FIELDS: [&str; 3] = ["user_ids", "exclude", "fallback"];

/// Why a message, user id or cursor was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    /// The bytes are not a JSON object.
    #[error("the message is not a JSON object: {0}")]
    NotJson(String),
    /// Neither `user_id`, a non-empty `user_ids`, nor `topic` was given.
    #[error("the message names no recipient: give user_id, user_ids or topic")]
    NoRecipient,
    /// The topic name is malformed.
    #[error("a topic must be 1 to 128 characters of A-Z a-z 0-9 : _ . - /")]
    BadTopic,
    /// `exclude` is not an array of user ids.
    #[error("exclude must be an array of user ids")]
    BadExclude,
    /// A user id is malformed.
    #[error("a user id {0}")]
    BadUserId(&'static str),
    /// `user_ids` is not an array.
    #[error("user_ids must be an array")]
    BadUserIds,
    /// More recipients than allowed in one event.
    #[error("too many recipients: at most {0}")]
    TooManyRecipients(usize),
    /// The `event` field is not a usable SSE event name.
    #[error("event must be a string of 1 to 64 characters without control characters")]
    BadEventName,
    /// The `event` field names one of the relay's own control events.
    #[error(
        "event {0:?} is reserved for the relay's own frames; reserved names: reset, token-expired, reconnect, keepalive, open, error"
    )]
    ReservedEventName(String),
    /// `fallback` names something other than `"email"`.
    #[error("fallback must be \"email\" (or absent)")]
    BadFallback,
    /// The message is larger than the payload limit.
    #[error("the message is larger than {0} bytes")]
    TooLarge(usize),
    /// A cursor is not of the form `<ms>-<seq>`.
    #[error("the cursor is malformed: expected <ms>-<seq> as sent in an id")]
    BadCursor,
    /// `idempotency_key` (or the `Idempotency-Key` header) is malformed or contradicts the other.
    #[error(
        "idempotency_key must be a string of 1 to 128 of A-Z a-z 0-9 - _ . : / + = (and match the Idempotency-Key header if both are given)"
    )]
    BadIdempotencyKey,
}
