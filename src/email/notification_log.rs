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

mod list;

use crate::event::now_ms;
use crate::{broker::BrokerError, redis_store::RedisStore};

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
