//! An event as stored and delivered, with its SSE frame rendered once and shared.

use bytes::Bytes;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::{EventError, EventId};
use crate::sse;

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
