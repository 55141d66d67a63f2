//! Contacts: a user's email address and whether events may fall back to it, registered by the
//! app ahead of time (the relay never asks the app anything at delivery time).
//!
//! Stored in the hash `contact:<user>` (`email`, `email_fallback` as `1`/`0`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::EmailError;
use crate::{broker::BrokerError, event::UserId, redis_store::RedisStore};

/// A user's contact, validated (the address trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Contact {
    /// Where email goes.
    pub email: String,
    /// Whether events the user missed may be emailed.
    pub email_fallback: bool,
}

/// The `PUT /users/{user}/contact` body (the description's `maxLength` of `email` is written
/// from [`super::address::MAX_ADDRESS_BYTES`]).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    /// An email address (surrounding spaces are trimmed).
    #[schema(format = Email)]
    email: String,
    /// Whether events the user missed may be emailed (default true).
    #[serde(default = "yes")]
    #[schema(default = true)]
    email_fallback: bool,
}

fn yes() -> bool {
    true
}

impl Contact {
    /// Parses a `PUT /users/{user}/contact` body: `{"email": "...", "email_fallback": true}`.
    pub fn parse(body: &[u8]) -> Result<Self, EmailError> {
        let body: ContactBody = serde_json::from_slice(body).map_err(|e| {
            EmailError::BadContact(format!(
                "expected {{\"email\": \"...\", \"email_fallback\": true}}: {e}"
            ))
        })?;
        let email = body.email.trim();
        super::address::recipient(email).map_err(EmailError::BadContact)?;
        Ok(Self {
            email: email.to_owned(),
            email_fallback: body.email_fallback,
        })
    }
}

/// The contact store in Redis.
pub struct Contacts {
    redis: Arc<RedisStore>,
}

impl Contacts {
    /// The store on this relay's Redis.
    pub fn new(redis: Arc<RedisStore>) -> Self {
        Self { redis }
    }

    /// In the user's partition: the partition's mover script reads it with the due entries.
    fn key(&self, user: &UserId) -> String {
        let p = self.redis.partition_of(user.as_str());
        self.redis.partition_key(p, &format!("contact:{user}"))
    }

    /// Sets a user's contact, replacing any previous one.
    pub async fn put(&self, user: &UserId, contact: &Contact) -> Result<(), BrokerError> {
        let mut conn = self.redis.connection().await?;
        let key = self.key(user);
        redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(&key)
            .ignore()
            .cmd("HSET")
            .arg(&key)
            .arg("email")
            .arg(&contact.email)
            .arg("email_fallback")
            .arg(if contact.email_fallback { "1" } else { "0" })
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(BrokerError::from)
    }

    /// A user's contact, if registered.
    pub async fn get(&self, user: &UserId) -> Result<Option<Contact>, BrokerError> {
        let mut conn = self.redis.connection().await?;
        let (email, fallback): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(self.key(user))
            .arg("email")
            .arg("email_fallback")
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        Ok(email.map(|email| Contact {
            email,
            email_fallback: fallback.as_deref() == Some("1"),
        }))
    }

    /// Removes a user's contact; true if there was one.
    pub async fn delete(&self, user: &UserId) -> Result<bool, BrokerError> {
        let mut conn = self.redis.connection().await?;
        let removed: i64 = redis::cmd("DEL")
            .arg(self.key(user))
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        Ok(removed == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_contact_parses_and_fallback_defaults_to_on() {
        let c = Contact::parse(br#"{"email":" ann@example.com "}"#).unwrap();
        assert_eq!(c.email, "ann@example.com");
        assert!(c.email_fallback);
        let c = Contact::parse(br#"{"email":"a@b.c","email_fallback":false}"#).unwrap();
        assert!(!c.email_fallback);
    }

    #[test]
    fn bad_contacts_are_refused_with_the_reason() {
        for bad in [
            &br#"{"email":"not an address"}"#[..],
            br#"{"email":"a@"}"#,
            br#"{}"#,
            br#"{"email":"a@b.c","extra":1}"#,
            br#"{"email":"a@b.c","email_fallback":"yes"}"#,
            b"nope",
        ] {
            let err = Contact::parse(bad).unwrap_err();
            assert!(matches!(err, EmailError::BadContact(_)), "{err}");
        }
    }
}
