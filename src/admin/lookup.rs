//! The admin user lookup: a user's presence on each instance, history, contact, notification
//! log and trace state, read from the [`Sources`] the admin side holds.

use std::collections::BTreeMap;

use super::{
    Admin,
    bodies::{HistorySummary, PresenceByInstance, TraceSwitch, UserLookup},
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
pub async fn user(admin: &Admin, user: &UserId) -> Result<UserLookup, BrokerError> {
    let Sources {
        hub,
        broker,
        metrics,
        presence,
        email,
        ..
    } = &admin.sources;
    let presence = presence.status(user).await?;
    let instances = match &admin.redis {
        None => BTreeMap::from([(admin.instance.clone(), hub.user_connections(user) as u64)]),
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
            let mut counts = BTreeMap::new();
            for instance in instances {
                let n: Option<u64> = redis::cmd("HGET")
                    .arg(redis.key_of(&format!("presence:{instance}")))
                    .arg(user.as_str())
                    .query_async(&mut conn)
                    .await
                    .map_err(BrokerError::from)?;
                counts.insert(instance, n.unwrap_or(0));
            }
            counts
        }
    };
    let history = match broker
        .read_after(user, EventId::ZERO, admin.history_len)
        .await?
    {
        History::Events(events) => HistorySummary {
            count: events.len(),
            head: events.last().map(|e| e.id),
            newest: Some(events.iter().rev().take(HISTORY_SHOWN).cloned().collect()),
            log_head: None,
        },
        History::Reset { head } => HistorySummary {
            count: 0,
            head: None,
            newest: None,
            log_head: Some(head),
        },
    };
    let (contact, notifications) = match email.store.as_ref() {
        Some(store) => (
            store.contacts.get(user).await?,
            store
                .notification_log
                .list(Some(user), None, LOG_SHOWN)
                .await?
                .notifications,
        ),
        None => (None, Vec::new()),
    };
    let until = metrics.trace.until_shared(user).await?;
    Ok(UserLookup {
        user: user.as_str().to_owned(),
        presence: PresenceByInstance {
            online: presence.online,
            connections: presence.connections,
            instances,
        },
        history,
        contact,
        email_available: email.store.is_some(),
        notifications,
        trace: TraceSwitch {
            tracing: until.is_some(),
            until_ms: until,
        },
    })
}
