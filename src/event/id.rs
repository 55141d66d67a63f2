//! Where an event sits in the log: its id, which is also the cursor after it.

use std::{cmp::Ordering, fmt, str::FromStr};

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use super::EventError;

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
            .description(Some(
                "An event id, `<ms>-<seq>`: also the cursor after that event",
            ))
            .into()
    }
}

impl ToSchema for EventId {}

/// Milliseconds since the Unix epoch (0 for a clock before it): the clock event ids are made of,
/// and the one every stored timestamp and deadline is read from.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
