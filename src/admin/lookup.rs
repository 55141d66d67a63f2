//! The admin user lookup: a user's presence on each instance, history, contact, notification
//! log and trace state, read from the [`Sources`] the admin side holds.

use serde_json::{Value, json};

use super::{
    Admin,
    figures::{LOG_SHOWN, Sources},
};
use crate::{
    broker::{BrokerError, History},
    event::{EventId, UserId, now_ms},
    presence::PRESENCE_TTL,
};

/// Events of a user's history shown in the lookup.
const HISTORY_SHOWN: usize = 5;

/// `GET /admin/users/{user}`: presence per instance, history head, contact, log and trace.
pub async fn user(admin: &Admin, user: &UserId) -> Result<Value, BrokerError> {
    let Sources {
        hub,
        broker,
        metrics,
        presence,
        email,
        ..
    } = &admin.sources;
    let presence = presence.status(user).await?;
    let per_instance = match &admin.redis {
        None => json!({ admin.instance.clone(): hub.user_connections(user) }),
        Some(redis) => {
            let mut conn = redis.connection().await?;
            let cutoff = now_ms().saturating_sub(PRESENCE_TTL.as_millis() as u64);
            let instances: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                .arg(redis.key_of("instances"))
                .arg(cutoff)
                .arg("+inf")
                .query_async(&mut conn)
                .await
                .map_err(BrokerError::from)?;
            let mut counts = serde_json::Map::new();
            for instance in instances {
                let n: Option<u64> = redis::cmd("HGET")
                    .arg(redis.key_of(&format!("presence:{instance}")))
                    .arg(user.as_str())
                    .query_async(&mut conn)
                    .await
                    .map_err(BrokerError::from)?;
                counts.insert(instance, n.unwrap_or(0).into());
            }
            Value::Object(counts)
        }
    };
    let history = match broker
        .read_after(user, EventId::ZERO, admin.history_len)
        .await?
    {
        History::Events(events) => {
            let shown: Vec<_> = events.iter().rev().take(HISTORY_SHOWN).collect();
            json!({
                "count": events.len(),
                "head": events.last().map(|e| e.id),
                "newest": shown,
            })
        }
        History::Reset { head } => json!({ "count": 0, "head": null, "log_head": head }),
    };
    let (contact, notifications) = match email.store.as_ref() {
        Some(store) => (
            serde_json::to_value(store.contacts.get(user).await?).unwrap_or_default(),
            serde_json::to_value(
                store
                    .notification_log
                    .list(Some(user), None, LOG_SHOWN)
                    .await?
                    .notifications,
            )
            .unwrap_or_default(),
        ),
        None => (Value::Null, json!([])),
    };
    let until = metrics.trace.until_shared(user).await?;
    Ok(json!({
        "user": user.as_str(),
        "presence": {
            "online": presence.online,
            "connections": presence.connections,
            "instances": per_instance,
        },
        "history": history,
        "contact": contact,
        "email_available": email.store.is_some(),
        "notifications": notifications,
        "trace": { "tracing": until.is_some(), "until_ms": until },
    }))
}
