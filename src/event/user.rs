//! Who an event is for: a user, or a topic naming many.

use std::{fmt, sync::Arc};

use serde_json::Value;

use super::{EventError, MAX_USER_ID_CHARS};

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
