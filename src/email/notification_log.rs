//! The notification log: one record per email, from `queued` to `sent` or `failed`.
//!
//! A record is the hash `n:<id>` (the id is the outbox entry's), created by
//! `flush_digests.lua` together with the outbox entry, and listed newest first in the sorted
//! sets `notifications` and `notifications:u:<user>`. Records expire after the retention and
//! the index is capped in count, so the log is bounded.
//!
//! With `--notifications-db`, each change is made by `log_change.lua`, which also queues a copy
//! of the whole record for the SQL table (see [`super::db`]).

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use crate::event::now_ms;
use crate::{broker::BrokerError, event::UserId, redis_store::RedisStore};

/// Records read per round trip while filtering.
const PAGE: usize = 200;
/// Most records one request looks at while filtering by status: a status with few records
/// must not make a request walk the whole index. The SQL table has no such bound.
pub const SCAN_MAX: usize = 2_000;

/// Where an email stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// In the outbox, not sent yet (possibly after failed attempts).
    Queued,
    /// Accepted by the SMTP server.
    Sent,
    /// Given up on; `error_message` says why.
    Failed,
}

impl Status {
    /// The name stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

/// One log record, as `GET /notifications` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
#[schema(as = Notification)]
pub struct Record {
    /// The notification id (the outbox entry id).
    pub id: String,
    /// The recipient.
    pub user: String,
    /// Always `email` for now.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where it stands: `queued`, `sent` or `failed`.
    #[schema(pattern = r"^(queued|sent|failed)$")]
    pub status: String,
    /// SMTP attempts made.
    pub attempts: u64,
    /// The address it went to.
    pub email: Option<String>,
    /// The events it carries.
    pub event_ids: Vec<String>,
    /// The SMTP server's answer on success.
    pub smtp_response: Option<String>,
    /// The last failure, if any.
    pub error_message: Option<String>,
    /// When it was queued, ms since the epoch.
    pub created_at_ms: u64,
    /// When it last changed, ms since the epoch.
    pub updated_at_ms: u64,
}

/// One page of the log, as `GET /notifications` answers it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
#[schema(as = Notifications)]
pub struct Page {
    /// The records, newest first.
    pub notifications: Vec<Record>,
    /// True when a search by `status` in Redis stopped after the newest [`SCAN_MAX`] records
    /// (or `limit`, if more) before finding `limit` matches: older matches may exist. Always
    /// false when the log is read from `--notifications-db`.
    pub partial: bool,
}

/// The log in Redis.
#[derive(Clone)]
pub struct NotificationLog {
    redis: Arc<RedisStore>,
    change: Arc<redis::Script>,
    /// Whether changes are also queued for the SQL table.
    sql: bool,
}

impl NotificationLog {
    /// The log on this relay's Redis; `sql`: also queue each change for the SQL table.
    pub fn new(redis: Arc<RedisStore>, sql: bool) -> Self {
        Self {
            redis,
            change: Arc::new(redis::Script::new(include_str!("log_change.lua"))),
            sql,
        }
    }

    /// Applies one change (`status` empty: count an attempt) and returns the attempts.
    async fn change(
        &self,
        p: usize,
        id: &str,
        status: &str,
        field: &str,
        text: &str,
    ) -> Result<u64, BrokerError> {
        let mut conn = self.redis.connection().await?;
        self.change
            .key(self.record_key(p, id))
            .arg(self.redis.partition_prefix(p))
            .arg(id)
            .arg(now_ms())
            .arg(if self.sql { "1" } else { "0" })
            .arg(status)
            .arg(field)
            .arg(text)
            .invoke_async(&mut conn)
            .await
            .map_err(BrokerError::from)
    }

    /// The Redis the log lives in.
    pub(crate) fn redis(&self) -> &RedisStore {
        &self.redis
    }

    /// Record `id` of partition `p` (the partition of the outbox it was queued in, which is
    /// its user's).
    fn record_key(&self, p: usize, id: &str) -> String {
        self.redis.partition_key(p, &format!("n:{id}"))
    }

    /// Counts one more attempt at record `id` of partition `p` and returns the total (kept
    /// across worker crashes).
    pub async fn attempt(&self, p: usize, id: &str) -> Result<u64, BrokerError> {
        self.change(p, id, "", "", "").await
    }

    /// Records a new status with the server's answer or the error.
    pub async fn update(
        &self,
        p: usize,
        id: &str,
        status: Status,
        field: &str,
        text: &str,
    ) -> Result<(), BrokerError> {
        self.change(p, id, status.as_str(), field, text)
            .await
            .map(drop)
    }

    /// Records, newest first, optionally of one user and in one status, at most `limit`; with
    /// a status, only the newest [`SCAN_MAX`] records (or `limit`, if more) are looked at.
    pub async fn list(
        &self,
        user: Option<&UserId>,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Page, BrokerError> {
        let (p, index) = match user {
            Some(u) => {
                let p = self.redis.partition_of(u.as_str());
                (
                    p,
                    self.redis.partition_key(p, &format!("notifications:u:{u}")),
                )
            }
            None if self.redis.partitions().len() > 1 => {
                return self.list_merged(status, limit).await;
            }
            None => (0, self.redis.partition_key(0, "notifications")),
        };
        let mut conn = self.redis.connection().await?;
        let mut out = Vec::new();
        let mut start = 0;
        let scan_max = SCAN_MAX.max(limit);
        let mut partial = false;
        while out.len() < limit {
            if start >= scan_max {
                partial = true;
                break;
            }
            let page = PAGE.min(scan_max - start);
            let ids: Vec<String> = redis::cmd("ZRANGE")
                .arg(&index)
                .arg(start)
                .arg(start + page - 1)
                .arg("REV")
                .query_async(&mut conn)
                .await
                .map_err(BrokerError::from)?;
            if ids.is_empty() {
                break;
            }
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.cmd("HGETALL").arg(self.record_key(p, id));
            }
            let records: Vec<std::collections::HashMap<String, String>> = pipe
                .query_async(&mut conn)
                .await
                .map_err(BrokerError::from)?;
            let wanted = status.map(Status::as_str);
            out.extend(
                records
                    .into_iter()
                    .filter(|r| !r.is_empty())
                    .map(record)
                    .filter(|r| wanted.is_none_or(|s| r.status == s))
                    .take(limit - out.len()),
            );
            if ids.len() < page {
                break;
            }
            start += page;
        }
        Ok(Page {
            notifications: out,
            partial,
        })
    }
}

impl NotificationLog {
    /// Every user's records on a partitioned store: each partition's index holds the records
    /// of its users, so the newest of each are merged by time. Looks at the newest `limit`
    /// records of each partition, or with a status [`SCAN_MAX`] (or `limit`, if more).
    async fn list_merged(&self, status: Option<Status>, limit: usize) -> Result<Page, BrokerError> {
        let mut conn = self.redis.connection().await?;
        let scan_max = SCAN_MAX.max(limit);
        let each = if status.is_some() { scan_max } else { limit };
        let mut newest: Vec<(f64, usize, String)> = Vec::new();
        let mut capped = false;
        for p in 0..self.redis.partitions().len() {
            let ids: Vec<(String, f64)> = redis::cmd("ZRANGE")
                .arg(self.redis.partition_key(p, "notifications"))
                .arg(0)
                .arg(each.max(1) - 1)
                .arg("REV")
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await
                .map_err(BrokerError::from)?;
            capped |= ids.len() >= each;
            newest.extend(ids.into_iter().map(|(id, at)| (at, p, id)));
        }
        // Newest first; ids (time-based stream ids) break ties.
        newest.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| b.2.cmp(&a.2)));
        capped |= newest.len() > scan_max;
        newest.truncate(scan_max);
        let wanted = status.map(Status::as_str);
        let mut out = Vec::new();
        for chunk in newest.chunks(PAGE) {
            if out.len() >= limit {
                break;
            }
            let mut records = Vec::with_capacity(chunk.len());
            for (_, p, id) in chunk {
                let h: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
                    .arg(self.record_key(*p, id))
                    .query_async(&mut conn)
                    .await
                    .map_err(BrokerError::from)?;
                records.push(h);
            }
            out.extend(
                records
                    .into_iter()
                    .filter(|r| !r.is_empty())
                    .map(record)
                    .filter(|r| wanted.is_none_or(|s| r.status == s))
                    .take(limit - out.len()),
            );
        }
        Ok(Page {
            partial: capped && out.len() < limit && status.is_some(),
            notifications: out,
        })
    }
}

/// A record from its hash fields (also the fields of a copy queued for the SQL table).
pub(crate) fn record(mut h: std::collections::HashMap<String, String>) -> Record {
    let mut take = |k: &str| h.remove(k);
    let num = |v: Option<String>| v.and_then(|s| s.parse().ok()).unwrap_or(0);
    Record {
        id: take("id").unwrap_or_default(),
        user: take("user").unwrap_or_default(),
        kind: take("type").unwrap_or_else(|| "email".into()),
        status: take("status").unwrap_or_default(),
        attempts: num(take("attempts")),
        email: take("email"),
        event_ids: take("event_ids")
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        smtp_response: take("smtp_response"),
        error_message: take("error_message"),
        created_at_ms: num(take("created_at_ms")),
        updated_at_ms: num(take("updated_at_ms")),
    }
}
