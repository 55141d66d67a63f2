//! Event types shared by every layer: who an event is for, its cursor, and its payload.
//!
//! Parsing happens here, at the edge, so that an invalid user id, cursor or message can never
//! reach the broker or the hub.

use std::{cmp::Ordering, fmt, str::FromStr, sync::Arc};

use bytes::Bytes;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, value::RawValue};
use utoipa::ToSchema;

use crate::{idempotency::IdempotencyKey, sse};

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

/// A user that events are addressed to; `42` and `"42"` are the same user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Arc<str>);

/// The largest whole number an f64 holds exactly.
const MAX_EXACT_F64: f64 = 9_007_199_254_740_992.0;

impl UserId {
    /// Parses a user id given as a string: 1 to 128 characters, no control characters.
    pub fn parse(raw: &str) -> Result<Self, EventError> {
        let chars = raw.chars().count();
        if chars == 0 || chars > MAX_USER_ID_CHARS {
            return Err(EventError::BadUserId("must be 1 to 128 characters"));
        }
        if raw.chars().any(char::is_control) {
            return Err(EventError::BadUserId("must not contain control characters"));
        }
        Ok(Self(raw.into()))
    }

    /// Parses a user id from JSON: an integer or a string.
    pub fn from_json(value: &Value) -> Result<Self, EventError> {
        match value {
            Value::String(s) => Self::parse(s),
            Value::Number(n) if n.is_i64() || n.is_u64() => Self::parse(&n.to_string()),
            // JSON (and JSON Schema) make no difference between 42 and 42.0: the same user.
            // Only up to 2^53, where every whole number is exact, so no two ids collide.
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() <= MAX_EXACT_F64 => {
                    Self::parse(&(f as i64).to_string())
                }
                _ => Err(EventError::BadUserId("a number must be an integer")),
            },
            _ => Err(EventError::BadUserId("must be a string or an integer")),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest topic name accepted, in characters.
pub const MAX_TOPIC_CHARS: usize = 128;

/// A named set of users kept by the relay (the followers of `image:42`), to publish to at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Arc<str>);

impl Topic {
    /// Parses a topic name: 1 to 128 of `A-Z a-z 0-9 : _ . - /`.
    pub fn parse(raw: &str) -> Result<Self, EventError> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || ":_.-/".contains(c);
        if raw.is_empty() || raw.len() > MAX_TOPIC_CHARS || !raw.chars().all(ok_char) {
            return Err(EventError::BadTopic);
        }
        Ok(Self(raw.into()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A position in the event log, `<ms>-<seq>` like a Redis stream id; the cursor clients hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EventId {
    /// Milliseconds since the Unix epoch at which the event was appended.
    pub ms: u64,
    /// Order among events appended in the same millisecond.
    pub seq: u64,
}

impl EventId {
    /// The position before every event.
    pub const ZERO: EventId = EventId { ms: 0, seq: 0 };

    /// Builds an id from its two parts.
    pub const fn new(ms: u64, seq: u64) -> Self {
        Self { ms, seq }
    }
}

impl Ord for EventId {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.ms, self.seq).cmp(&(other.ms, other.seq))
    }
}

impl PartialOrd for EventId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl FromStr for EventId {
    type Err = EventError;

    /// Accepts exactly `<digits>-<digits>`, each part fitting in a u64.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ms, seq) = s.split_once('-').ok_or(EventError::BadCursor)?;
        let part = |p: &str| -> Result<u64, EventError> {
            if p.is_empty() || p.len() > 20 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(EventError::BadCursor);
            }
            p.parse().map_err(|_| EventError::BadCursor)
        };
        Ok(Self::new(part(ms)?, part(seq)?))
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl utoipa::PartialSchema for EventId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^[0-9]+-[0-9]+$"))
            .description(Some("An event id, `<ms>-<seq>`: also the cursor after that event"))
            .into()
    }
}

impl ToSchema for EventId {}

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

/// Limits applied when parsing a publisher's message.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Largest message, in bytes.
    pub max_bytes: usize,
    /// Most recipients in one message.
    pub max_recipients: usize,
}

/// A publisher's message, validated and ready to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The users named directly, without duplicates, in the order given.
    pub recipients: Vec<UserId>,
    /// A topic whose subscribers are recipients too, expanded when the event is appended.
    pub topic: Option<Topic>,
    /// Users left out even if named or subscribed (say, the one who made the change).
    pub exclude: Vec<UserId>,
    /// SSE event name, if the publisher set `event`.
    pub event: Option<String>,
    /// The published object without its [`ROUTING_FIELDS`], as compact JSON: what subscribers
    /// receive as `data`.
    pub data: String,
    /// True when a recipient who does not see the event live gets it by email (`"fallback":
    /// "email"`, or a pub/sub channel configured for it).
    pub fallback: bool,
    /// The publisher's name for this event: a second append with it stores nothing.
    pub idempotency_key: Option<IdempotencyKey>,
}

impl NewEvent {
    /// Parses a publisher's message (pub/sub payload or `POST /publish` body).
    pub fn parse(bytes: &[u8], limits: ParseLimits) -> Result<Self, EventError> {
        if bytes.len() > limits.max_bytes {
            return Err(EventError::TooLarge(limits.max_bytes));
        }
        let mut object: Map<String, Value> =
            serde_json::from_slice(bytes).map_err(|e| EventError::NotJson(e.to_string()))?;
        // Between publisher and relay only: taken out of what recipients receive.
        let idempotency_key = match object.remove("idempotency_key") {
            None | Some(Value::Null) => None,
            Some(Value::String(key)) => Some(IdempotencyKey::parse(&key)?),
            Some(_) => return Err(EventError::BadIdempotencyKey),
        };
        let topic = match object.get("topic") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(Topic::parse(t)?),
            Some(_) => return Err(EventError::BadTopic),
        };
        // The routing fields are taken out as they are read (no lookup more than reading them),
        // in place so the publisher's field order stays (`remove` would swap the last one in).
        let user_ids = object.shift_remove("user_ids");
        let recipients = recipients(
            &object,
            user_ids.as_ref(),
            limits.max_recipients,
            topic.is_some(),
        )?;
        let exclude = match object.shift_remove("exclude") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(users)) if users.len() <= limits.max_recipients => users
                .iter()
                .map(UserId::from_json)
                .collect::<Result<_, _>>()
                .map_err(|_| EventError::BadExclude)?,
            Some(_) => return Err(EventError::BadExclude),
        };
        let event = match object.get("event") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) if RESERVED_EVENT_NAMES.contains(&name.as_str()) => {
                return Err(EventError::ReservedEventName(name.clone()));
            }
            Some(Value::String(name)) if valid_event_name(name) => Some(name.clone()),
            Some(_) => return Err(EventError::BadEventName),
        };
        let fallback = match object.shift_remove("fallback") {
            None | Some(Value::Null) => false,
            Some(Value::String(f)) if f == "email" => true,
            Some(_) => return Err(EventError::BadFallback),
        };
        let data = Value::Object(object).to_string();
        Ok(Self {
            recipients,
            topic,
            exclude,
            event,
            data,
            fallback,
            idempotency_key,
        })
    }
}

fn valid_event_name(name: &str) -> bool {
    let chars = name.chars().count();
    (1..=MAX_EVENT_NAME_CHARS).contains(&chars) && !name.chars().any(char::is_control)
}

fn recipients(
    object: &Map<String, Value>,
    user_ids: Option<&Value>,
    max: usize,
    has_topic: bool,
) -> Result<Vec<UserId>, EventError> {
    let mut users = Vec::new();
    if let Some(one) = object.get("user_id").filter(|v| !v.is_null()) {
        users.push(UserId::from_json(one)?);
    }
    match user_ids {
        None | Some(Value::Null) => {}
        Some(Value::Array(many)) => {
            if many.len() > max {
                return Err(EventError::TooManyRecipients(max));
            }
            for value in many {
                let user = UserId::from_json(value)?;
                if !users.contains(&user) {
                    users.push(user);
                }
            }
        }
        Some(_) => return Err(EventError::BadUserIds),
    }
    if users.is_empty() && !has_topic {
        return Err(EventError::NoRecipient);
    }
    if users.len() > max {
        return Err(EventError::TooManyRecipients(max));
    }
    Ok(users)
}

/// An event as stored and delivered: its id, name, data, and its SSE frame rendered once.
/// Described to API clients as the event a poll answers (`PolledEvent`).
#[derive(Debug, ToSchema)]
#[schema(as = PolledEvent)]
pub struct StoredEvent {
    /// The event's id, also the cursor after it.
    pub id: EventId,
    /// The SSE event name, if the publisher gave one.
    pub event: Option<String>,
    /// The object the publisher sent (less its routing fields), compact JSON.
    #[schema(value_type = Object)]
    pub data: Box<RawValue>,
    /// `id:`/`event:`/`data:` lines ready to write to every SSE connection; shared, not copied.
    #[schema(ignore)]
    pub frame: Bytes,
    /// True for an event that falls back to email: its deliveries are reported (see
    /// [`crate::email::delivery`]); every other event costs delivery nothing extra.
    #[schema(ignore)]
    pub fallback: bool,
}

impl StoredEvent {
    /// Builds a stored event from trusted parts (already validated when appended).
    pub fn new(id: EventId, event: Option<String>, data: String) -> Result<Self, EventError> {
        let data = RawValue::from_string(data).map_err(|e| EventError::NotJson(e.to_string()))?;
        let frame = sse::message_frame(&id.to_string(), event.as_deref(), data.get());
        Ok(Self {
            id,
            event,
            data,
            frame,
            fallback: false,
        })
    }

    /// Marks the event as one that falls back to email.
    pub fn with_fallback(mut self, fallback: bool) -> Self {
        self.fallback = fallback;
        self
    }
}

impl Serialize for StoredEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Event", 3)?;
        s.serialize_field("id", &self.id)?;
        s.serialize_field("event", &self.event)?;
        s.serialize_field("data", &self.data)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ParseLimits = ParseLimits {
        max_bytes: 1024,
        max_recipients: 3,
    };

    #[test]
    fn the_php_seed_message_parses_with_the_number_as_a_user() {
        let e = NewEvent::parse(br#"{"user_id":42,"img_url":"/uploads/abc.jpg"}"#, LIMITS).unwrap();
        assert_eq!(e.recipients, vec![UserId::parse("42").unwrap()]);
        assert_eq!(e.event, None);
        assert_eq!(e.data, r#"{"user_id":42,"img_url":"/uploads/abc.jpg"}"#);
    }

    #[test]
    fn routing_fields_are_taken_out_of_the_data_and_the_rest_keeps_its_order() {
        let e = NewEvent::parse(
            br#"{"z":1,"user_ids":[2],"user_id":1,"exclude":[3],"topic":"t","fallback":"email","event":"e","a":[1]}"#,
            LIMITS,
        )
        .unwrap();
        assert_eq!(
            e.data,
            r#"{"z":1,"user_id":1,"topic":"t","event":"e","a":[1]}"#
        );
        assert_eq!(e.exclude, vec![UserId::parse("3").unwrap()]);
        assert!(e.fallback);
    }

    #[test]
    fn number_and_string_ids_are_the_same_user_and_deduplicated() {
        let e = NewEvent::parse(br#"{"user_id":"42","user_ids":[42,"7"]}"#, LIMITS).unwrap();
        let ids: Vec<_> = e.recipients.iter().map(UserId::as_str).collect();
        assert_eq!(ids, ["42", "7"]);
    }

    #[test]
    fn a_whole_number_written_with_a_fraction_is_the_same_user() {
        let e = NewEvent::parse(br#"{"user_ids":[42.0,-7.0,42]}"#, LIMITS).unwrap();
        let ids: Vec<_> = e.recipients.iter().map(UserId::as_str).collect();
        assert_eq!(ids, ["42", "-7"], "42.0 and 42 are one recipient");
    }

    #[test]
    fn bad_messages_are_refused_with_the_reason() {
        let p = |s: &str| NewEvent::parse(s.as_bytes(), LIMITS).unwrap_err();
        assert!(matches!(p("nope"), EventError::NotJson(_)));
        assert!(matches!(p("[1]"), EventError::NotJson(_)));
        assert_eq!(p(r#"{"img":1}"#), EventError::NoRecipient);
        assert_eq!(p(r#"{"user_ids":[]}"#), EventError::NoRecipient);
        assert_eq!(
            p(r#"{"user_id":1.5}"#),
            EventError::BadUserId("a number must be an integer")
        );
        assert!(matches!(p(r#"{"user_id":""}"#), EventError::BadUserId(_)));
        assert!(matches!(
            p(r#"{"user_id":"a\nb"}"#),
            EventError::BadUserId(_)
        ));
        assert_eq!(p(r#"{"user_ids":"1"}"#), EventError::BadUserIds);
        assert_eq!(
            p(r#"{"user_ids":[1,2,3,4]}"#),
            EventError::TooManyRecipients(3)
        );
        assert_eq!(
            p(r#"{"user_id":1,"event":"a\nb"}"#),
            EventError::BadEventName
        );
        assert_eq!(p(r#"{"user_id":1,"event":5}"#), EventError::BadEventName);
        let big = format!(r#"{{"user_id":1,"x":"{}"}}"#, "a".repeat(2000));
        assert_eq!(p(&big), EventError::TooLarge(1024));
        assert_eq!(p(r#"{"topic":"no spaces"}"#), EventError::BadTopic);
        assert_eq!(p(r#"{"topic":7}"#), EventError::BadTopic);
        assert_eq!(p(r#"{"topic":"t","exclude":"1"}"#), EventError::BadExclude);
        assert_eq!(p(r#"{"topic":"t","exclude":[{}]}"#), EventError::BadExclude);
    }

    #[test]
    fn the_relays_own_event_names_are_refused() {
        for name in RESERVED_EVENT_NAMES {
            let msg = format!(r#"{{"user_id":1,"event":"{name}","cursor":"1-0"}}"#);
            assert_eq!(
                NewEvent::parse(msg.as_bytes(), LIMITS).unwrap_err(),
                EventError::ReservedEventName(name.to_owned())
            );
        }
        let near = NewEvent::parse(br#"{"user_id":1,"event":"Reset"}"#, LIMITS).unwrap();
        assert_eq!(near.event.as_deref(), Some("Reset"));
    }

    #[test]
    fn a_topic_alone_is_a_recipient_and_exclude_is_kept() {
        let e = NewEvent::parse(
            br#"{"topic":"image:42","exclude":[7],"img_url":"/a.jpg"}"#,
            LIMITS,
        )
        .unwrap();
        assert_eq!(e.topic, Some(Topic::parse("image:42").unwrap()));
        assert!(e.recipients.is_empty());
        assert_eq!(e.exclude, vec![UserId::parse("7").unwrap()]);
    }

    #[test]
    fn fallback_email_is_recognised_and_other_values_are_refused() {
        let p = |s: &str| NewEvent::parse(s.as_bytes(), LIMITS);
        assert!(p(r#"{"user_id":1,"fallback":"email"}"#).unwrap().fallback);
        assert!(!p(r#"{"user_id":1}"#).unwrap().fallback);
        assert!(!p(r#"{"user_id":1,"fallback":null}"#).unwrap().fallback);
        assert_eq!(
            p(r#"{"user_id":1,"fallback":"sms"}"#).unwrap_err(),
            EventError::BadFallback
        );
        assert_eq!(
            p(r#"{"user_id":1,"fallback":true}"#).unwrap_err(),
            EventError::BadFallback
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let deep = format!(
            r#"{{"user_id":1,"x":{}{}}}"#,
            "[".repeat(500),
            "]".repeat(500)
        );
        let limits = ParseLimits {
            max_bytes: 10_000,
            max_recipients: 3,
        };
        assert!(matches!(
            NewEvent::parse(deep.as_bytes(), limits),
            Err(EventError::NotJson(_))
        ));
    }

    #[test]
    fn cursors_parse_strictly_and_order_numerically() {
        let a: EventId = "1732550400000-9".parse().unwrap();
        let b: EventId = "1732550400000-10".parse().unwrap();
        assert!(a < b);
        assert_eq!(b.to_string(), "1732550400000-10");
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-1-1",
            "+1-1",
            "1--1",
            " 1-1",
            "99999999999999999999999-0",
        ] {
            assert_eq!(
                bad.parse::<EventId>(),
                Err(EventError::BadCursor),
                "{bad:?}"
            );
        }
    }
}
