//! Idempotency keys: a publisher's name for one event, so that sending it twice stores it once.
//!
//! A key comes in the published JSON (`idempotency_key`), in the `Idempotency-Key` header of
//! `POST /publish`, or from a stream entry's id. The broker records it inside the append, with
//! the event's id, for `NOTIFY_IDEMPOTENCY_TTL_SECS`; an append with a recorded key stores
//! nothing and answers what the first one did.

use std::fmt;

use super::EventError;

/// Longest idempotency key accepted, in characters.
pub const MAX_KEY_CHARS: usize = 128;

/// A validated idempotency key: 1 to 128 of `A-Z a-z 0-9 - _ . : / + =`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses a key given by a publisher.
    pub fn parse(raw: &str) -> Result<Self, EventError> {
        // Safe as part of a Redis key and in logs; covers UUIDs, base64 and stream entry ids.
        let ok_char = |c: char| c.is_ascii_alphanumeric() || "-_.:/+=".contains(c);
        if raw.is_empty() || raw.len() > MAX_KEY_CHARS || !raw.chars().all(ok_char) {
            return Err(EventError::BadIdempotencyKey);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key a stream entry without its own key is stored under: its entry id.
    pub fn for_stream_entry(entry_id: &str) -> Self {
        Self(format!("stream:{entry_id}"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_base64_and_entry_ids_are_keys_and_odd_text_is_not() {
        for good in [
            "8c1f0e2a-3b4c-4d5e-8f90-a1b2c3d4e5f6",
            "aGVsbG8=",
            "1700000000000-0",
            "order:42/retry+1",
        ] {
            assert!(IdempotencyKey::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "with space", "new\nline", "é", &"k".repeat(129)] {
            assert_eq!(
                IdempotencyKey::parse(bad),
                Err(EventError::BadIdempotencyKey),
                "{bad}"
            );
        }
    }
}
