//! Reading: a user's history after a cursor (judged stale or not in the same script call) and
//! the heads of the partitions' logs.

use std::sync::Arc;

use redis::Value;

use super::{
    RedisBroker, corrupt,
    reply::{parse_entry, parse_id, stored, text},
};
use crate::{
    broker::{BrokerError, CursorFacts, History, UserHistoryFacts, cursor_is_stale},
    event::{EventId, UserId},
};

impl RedisBroker {
    /// A user's events after `cursor` (at most `limit`), or a reset when the cursor is stale:
    /// the facts and the events come from one script, so they agree.
    pub(super) async fn read_history(
        &self,
        user: &UserId,
        cursor: EventId,
        limit: usize,
    ) -> Result<History, BrokerError> {
        let mut conn = self.conn().await?;
        let p = self.store.partition_of(user.as_str());
        let reply: Value = self
            .read
            .key(self.user_key(user))
            .key(self.pkey(p, "log"))
            .key(self.pkey(p, "epoch"))
            .arg(cursor.to_string())
            .arg(limit.max(1))
            .arg(self.pkey(p, ""))
            .arg(user.as_str())
            .arg(self.settings.history_len)
            .arg(self.settings.history_ttl.as_secs().max(1))
            .invoke_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        let Value::Array(parts) = reply else {
            return Err(corrupt("read reply is not an array"));
        };
        let [head, epoch, exists, deleted, events, now]: [Value; 6] = parts
            .try_into()
            .map_err(|_| corrupt("read reply has the wrong length"))?;
        let head = parse_id(&head)?;
        let facts = CursorFacts {
            head,
            epoch: text(&epoch).and_then(|s| s.parse().ok()),
            user: match exists {
                Value::Int(1) => UserHistoryFacts::Present {
                    max_deleted: parse_id(&deleted)?,
                },
                _ => UserHistoryFacts::Missing,
            },
            now_ms: match now {
                Value::Int(n) => n.max(0) as u64,
                _ => return Err(corrupt("read reply has no time")),
            },
            ttl_ms: self.settings.history_ttl.as_millis() as u64,
        };
        if cursor_is_stale(cursor, &facts) {
            return Ok(History::Reset { head });
        }
        let Value::Array(entries) = events else {
            return Err(corrupt("history is not an array"));
        };
        let events = entries
            .into_iter()
            .map(|e| {
                parse_entry(e)
                    .and_then(|(id, f)| stored(id, &f))
                    .map(Arc::new)
            })
            .collect::<Result<_, _>>()?;
        Ok(History::Events(events))
    }

    /// The newest id in partition `p`'s log (zero when it is empty).
    pub(super) async fn partition_head(&self, p: usize) -> Result<EventId, BrokerError> {
        let mut conn = self.conn().await?;
        let reply: Value = redis::cmd("XREVRANGE")
            .arg(self.pkey(p, "log"))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        match reply {
            Value::Array(mut entries) if !entries.is_empty() => {
                parse_entry(entries.swap_remove(0)).map(|(id, _)| id)
            }
            _ => Ok(EventId::ZERO),
        }
    }
}
