//! The Redis side of stream ingest: the consumer group, reading and claiming entries,
//! acknowledging them, the lag, and trimming what the group has acknowledged.
//!
//! The stream is named by the operator (`NOTIFY_INGEST_STREAM`) and written by the app, so its
//! name is used as given, outside this relay's `<prefix>:{0}:` layout: every command here
//! touches the stream alone, so on a cluster it may live in any slot. The idempotency records
//! its events are appended under do follow the layout (`<prefix>:{0}:idem:<key>`): the append
//! script writes them with the log.

use std::time::Duration;

use redis::Value;

use super::{RedisBroker, reply::text};
use crate::{broker::BrokerError, redis_store::BlockingConnection};

/// One stream entry: its id and its `data` field, if it has one.
#[derive(Debug, Clone)]
pub struct IngestEntry {
    /// The entry id, `<ms>-<seq>`.
    pub id: String,
    /// The `data` field's bytes, or `None` when the entry has no such field.
    pub data: Option<Vec<u8>>,
}

/// Where a consumer group stands, for the metrics and for trimming.
#[derive(Debug, Clone, Default)]
pub struct GroupState {
    /// Entries not yet read by the group (`None` when Redis cannot tell).
    pub lag: Option<u64>,
    /// Entries read but not yet acknowledged.
    pub pending: u64,
    /// The last entry the group has read.
    pub last_delivered: Option<String>,
}

impl RedisBroker {
    /// A connection of its own for blocking reads, which would hold up shared connections.
    pub async fn stream_connection(
        &self,
        block: Duration,
    ) -> Result<BlockingConnection, BrokerError> {
        Ok(self
            .store
            .blocking_connection(block + Duration::from_secs(5))
            .await?)
    }

    /// Creates the stream and its group if missing; a new group starts at the stream's
    /// beginning, so entries written before any relay ever ran are delivered too.
    pub async fn ensure_group(&self, stream: &str, group: &str) -> Result<(), BrokerError> {
        let mut conn = self.conn().await?;
        let created: Result<String, _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(BrokerError::from(e)),
        }
    }

    /// Reads up to `count` entries never delivered to the group, waiting up to `block`.
    pub async fn read_group(
        &self,
        conn: &mut BlockingConnection,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<IngestEntry>, BrokerError> {
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS")
            .arg(stream)
            .arg(">")
            .query_async(conn)
            .await
            .map_err(|e| {
                if e.code() == Some("NOGROUP") {
                    BrokerError::Unavailable("the ingest stream or its group was deleted".into())
                } else {
                    BrokerError::from(e)
                }
            })?;
        let entries = super::reply::xread_entries(reply)?;
        Ok(entries.into_iter().filter_map(ingest_entry).collect())
    }

    /// Claims entries pending for at least `min_idle` (read by an instance that then died or
    /// lost the lease), oldest first, up to `count` from `cursor`; returns them and the cursor
    /// to continue from (`0-0` when the scan is complete).
    pub async fn claim_pending(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        cursor: &str,
        count: usize,
    ) -> Result<(Vec<IngestEntry>, String), BrokerError> {
        let mut conn = self.conn().await?;
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(stream)
            .arg(group)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg(cursor)
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        let Value::Array(mut parts) = reply else {
            return Err(super::corrupt("XAUTOCLAIM reply is not an array"));
        };
        if parts.len() < 2 {
            return Err(super::corrupt("XAUTOCLAIM reply is too short"));
        }
        let entries = match parts.swap_remove(1) {
            Value::Array(entries) => entries.into_iter().filter_map(ingest_entry).collect(),
            _ => Vec::new(),
        };
        let next = text(&parts[0]).unwrap_or_else(|| "0-0".into());
        Ok((entries, next))
    }

    /// Acknowledges entries: their events are stored (or they were malformed).
    pub async fn ack(&self, stream: &str, group: &str, ids: &[&str]) -> Result<(), BrokerError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        redis::cmd("XACK")
            .arg(stream)
            .arg(group)
            .arg(ids)
            .query_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(BrokerError::from)
    }

    /// The group's lag, pending count and last read entry.
    pub async fn group_state(&self, stream: &str, group: &str) -> Result<GroupState, BrokerError> {
        let mut conn = self.conn().await?;
        let reply: Value = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(stream)
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        let Value::Array(groups) = reply else {
            return Ok(GroupState::default());
        };
        for g in groups {
            let fields = pairs(g);
            let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            if field("name").and_then(text).as_deref() != Some(group) {
                continue;
            }
            let number = |v: Option<&Value>| match v {
                Some(Value::Int(n)) => u64::try_from(*n).ok(),
                _ => None,
            };
            return Ok(GroupState {
                lag: number(field("lag")),
                pending: number(field("pending")).unwrap_or(0),
                last_delivered: field("last-delivered-id").and_then(text),
            });
        }
        Ok(GroupState::default())
    }

    /// Removes entries older than `min_id` (every one of them acknowledged by the group).
    pub async fn trim_before(&self, stream: &str, min_id: &str) -> Result<u64, BrokerError> {
        let mut conn = self.conn().await?;
        redis::cmd("XTRIM")
            .arg(stream)
            .arg("MINID")
            .arg(min_id)
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)
    }

    /// Removes consumers with nothing pending that have been idle longer than `idle` (instances
    /// gone for good: each instance reads under a name of its own), except `me`.
    pub async fn drop_idle_consumers(
        &self,
        stream: &str,
        group: &str,
        me: &str,
        idle: Duration,
    ) -> Result<(), BrokerError> {
        let mut conn = self.conn().await?;
        let reply: Value = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(stream)
            .arg(group)
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        let Value::Array(consumers) = reply else {
            return Ok(());
        };
        for c in consumers {
            let fields = pairs(c);
            let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            let (Some(name), Some(Value::Int(pending)), Some(Value::Int(idle_ms))) = (
                field("name").and_then(text),
                field("pending"),
                field("idle"),
            ) else {
                continue;
            };
            if name != me && *pending == 0 && *idle_ms as u128 > idle.as_millis() {
                redis::cmd("XGROUP")
                    .arg("DELCONSUMER")
                    .arg(stream)
                    .arg(group)
                    .arg(&name)
                    .query_async::<i64>(&mut conn)
                    .await
                    .map_err(BrokerError::from)?;
            }
        }
        Ok(())
    }

    /// The oldest entry the group has read but not acknowledged, if any.
    pub async fn oldest_pending(
        &self,
        stream: &str,
        group: &str,
    ) -> Result<Option<String>, BrokerError> {
        let mut conn = self.conn().await?;
        let reply: Value = redis::cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        match reply {
            Value::Array(parts) if parts.len() >= 2 => Ok(text(&parts[1])),
            _ => Ok(None),
        }
    }
}

/// A reply's key/value pairs, from a RESP2 flat array or a RESP3 map.
fn pairs(v: Value) -> Vec<(String, Value)> {
    let flat: Vec<Value> = match v {
        Value::Array(items) => items,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => return Vec::new(),
    };
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let Some(k) = text(&k) {
            out.push((k, v));
        }
    }
    out
}

/// An entry of an XREADGROUP/XAUTOCLAIM reply; `None` for a deleted entry (nil fields).
fn ingest_entry(v: Value) -> Option<IngestEntry> {
    let Value::Array(mut parts) = v else {
        return None;
    };
    if parts.len() != 2 {
        return None;
    }
    let fields = parts.pop()?;
    let id = text(&parts[0])?;
    let data = pairs(fields)
        .into_iter()
        .find(|(k, _)| k == "data")
        .and_then(|(_, v)| match v {
            Value::BulkString(b) => Some(b),
            Value::SimpleString(s) => Some(s.into_bytes()),
            _ => None,
        });
    Some(IngestEntry { id, data })
}
