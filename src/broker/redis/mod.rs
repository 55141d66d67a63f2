//! The Redis broker: the log and per-user histories in Redis Streams, shared by every instance.
//!
//! Layout (hash-tagged for Redis Cluster), per partition `{p}` (one partition, `{0}`, without a
//! cluster; see docs/CLUSTER.md): `<prefix>:{p}:log` holds every event of the partition's users
//! with its recipients; `<prefix>:{p}:u:<user>` holds a user's recent events under the same ids;
//! `<prefix>:{p}:epoch` holds the first id appended since the partition was last empty;
//! `<prefix>:{p}:t:<topic>` the topic's subscribers that live in the partition;
//! `<prefix>:{p}:r:<id>` the subscribers an event to a big topic also goes to (a snapshot the
//! tail reads to learn them, see `append.lua`). A user's events all come from their partition's
//! log, so each user's ids strictly increase.
//!
//! Connections and key names come from the [`RedisStore`]. The tail runs on a blocking
//! connection of its own; after any error it reconnects with backoff and resumes from the last
//! id it delivered (or from the log's head when the log ends before that id, as on a promoted
//! replica), so nothing appended while it was away is skipped.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use redis::Script;

mod append;
mod batch;
mod partitioned;
mod progress;
mod read;
pub use progress::{BatchProgress, ItemOutcome};
mod reply;
mod stream;
pub use stream::{GroupState, IngestEntry};
mod tail;

use super::{Appended, Broker, BrokerError, History, TailSink};
use crate::{
    event::{EventId, NewEvent, Topic, UserId},
    redis_store::{RedisStore, StoreConnection},
};

/// How long the tail blocks in one `XREAD`, in ms.
const TAIL_BLOCK_MS: u64 = 5_000;
/// Entries read per `XREAD`.
const TAIL_BATCH: usize = 512;
/// A big append still unfinished after this long (its relay died) is finished by any relay.
const STALE_PENDING_MS: u64 = 10_000;

/// Settings of the Redis broker.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// Events kept per user.
    pub history_len: usize,
    /// Seconds a user's history lives after their last event.
    pub history_ttl: Duration,
    /// Approximate length of the shared log.
    pub log_len: usize,
    /// Most user histories one script writes, so a topic with many subscribers never holds
    /// Redis for long: the rest follow in batches of this size (see `pending.lua`).
    pub append_batch: usize,
    /// How long a recipient has to see an email-fallback event live before it is due for email.
    pub email_grace: Duration,
    /// How long an idempotency key is remembered.
    pub idempotency_ttl: Duration,
    /// Most subscribers of a topic a publish may reach (`--max-topic-recipients`).
    pub max_topic_recipients: usize,
}

/// Broker backed by Redis Streams.
pub struct RedisBroker {
    store: Arc<RedisStore>,
    settings: RedisSettings,
    append: Script,
    read: Script,
    lease: Script,
    topic_replace: Script,
    /// Where the tail's reconnects are counted (the metrics' counter, shared).
    reconnects: prometheus::IntCounter,
    append_more: Script,
}

/// A script that writes user histories, with the shared pending-append helpers in front.
fn history_script(body: &str) -> Script {
    Script::new(&format!("{}\n{body}", include_str!("pending.lua")))
}

impl RedisBroker {
    /// Creates the broker on `store`, which connects lazily, so it can start while Redis is down.
    pub fn new(
        store: Arc<RedisStore>,
        settings: RedisSettings,
        reconnects: prometheus::IntCounter,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            settings,
            append: history_script(&format!(
                "local function append_event()\n{}\nend\n{}",
                include_str!("append.lua"),
                include_str!("once.lua")
            )),
            read: history_script(include_str!("read.lua")),
            append_more: history_script(include_str!("append_more.lua")),
            lease: Script::new(include_str!("lease.lua")),
            topic_replace: Script::new(include_str!("topic_replace.lua")),
            reconnects,
        })
    }

    /// The store this broker's connections and key names come from.
    pub fn store(&self) -> &Arc<RedisStore> {
        &self.store
    }

    /// A key of partition `p`.
    fn pkey(&self, p: usize, suffix: &str) -> String {
        self.store.partition_key(p, suffix)
    }

    fn user_key(&self, user: &UserId) -> String {
        let p = self.store.partition_of(user.as_str());
        self.pkey(p, &format!("u:{user}"))
    }

    /// The set of the topic's subscribers that live in partition `p`.
    fn topic_key(&self, p: usize, topic: &Topic) -> String {
        self.pkey(p, &format!("t:{topic}"))
    }

    fn partitions(&self) -> usize {
        self.store.partitions().len()
    }

    async fn conn(&self) -> Result<StoreConnection, BrokerError> {
        Ok(self.store.connection().await?)
    }
}

fn corrupt(what: &str) -> BrokerError {
    BrokerError::Corrupt(what.to_owned())
}

#[async_trait]
impl Broker for RedisBroker {
    async fn append(&self, new: &NewEvent) -> Result<Appended, BrokerError> {
        self.append_partitioned(new, "", None).await
    }

    async fn topic_add(&self, topic: &Topic, user: &UserId) -> Result<bool, BrokerError> {
        let mut conn = self.conn().await?;
        let p = self.store.partition_of(user.as_str());
        let added: i64 = redis::cmd("ZADD")
            .arg(self.topic_key(p, topic))
            .arg(0)
            .arg(user.as_str())
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        Ok(added == 1)
    }

    async fn topic_remove(&self, topic: &Topic, user: &UserId) -> Result<bool, BrokerError> {
        let mut conn = self.conn().await?;
        let p = self.store.partition_of(user.as_str());
        let removed: i64 = redis::cmd("ZREM")
            .arg(self.topic_key(p, topic))
            .arg(user.as_str())
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        Ok(removed == 1)
    }

    async fn topic_replace(&self, topic: &Topic, users: &[UserId]) -> Result<(), BrokerError> {
        // Atomic per partition: each partition's share is replaced in one step.
        let by_partition = self.group_by_partition(users.iter());
        let runs = by_partition
            .iter()
            .enumerate()
            .map(|(p, users)| async move {
                let mut conn = self.conn().await?;
                let mut call = self.topic_replace.key(self.topic_key(p, topic));
                for user in users {
                    call.arg(user.as_str());
                }
                call.invoke_async::<i64>(&mut conn)
                    .await
                    .map(drop)
                    .map_err(BrokerError::from)
            });
        futures_util::future::try_join_all(runs).await.map(drop)
    }

    async fn topic_members(
        &self,
        topic: &Topic,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, BrokerError> {
        let start = after.map_or_else(|| "-".to_owned(), |u| format!("({u}"));
        // Each partition's page, then the first `limit` of their merge: every member of the
        // merged page is among the first `limit` of its own partition.
        let pages = (0..self.partitions()).map(|p| {
            let start = start.clone();
            async move {
                let mut conn = self.conn().await?;
                redis::cmd("ZRANGE")
                    .arg(self.topic_key(p, topic))
                    .arg(start)
                    .arg("+")
                    .arg("BYLEX")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit)
                    .query_async::<Vec<String>>(&mut conn)
                    .await
                    .map_err(BrokerError::from)
            }
        });
        let mut members: Vec<String> = futures_util::future::try_join_all(pages)
            .await?
            .into_iter()
            .flatten()
            .collect();
        // Byte order, as ZRANGE BYLEX gives within one partition.
        members.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        members.truncate(limit);
        members
            .iter()
            .map(|m| UserId::parse(m).map_err(|e| corrupt(&e.to_string())))
            .collect()
    }

    async fn read_after(
        &self,
        user: &UserId,
        cursor: EventId,
        limit: usize,
    ) -> Result<History, BrokerError> {
        self.read_history(user, cursor, limit).await
    }

    async fn head(&self) -> Result<EventId, BrokerError> {
        let heads = (0..self.partitions()).map(|p| self.partition_head(p));
        let heads = futures_util::future::try_join_all(heads).await?;
        Ok(heads.into_iter().max().unwrap_or(EventId::ZERO))
    }

    async fn head_for(&self, user: &UserId) -> Result<EventId, BrokerError> {
        self.partition_head(self.store.partition_of(user.as_str()))
            .await
    }

    async fn ping(&self) -> Result<(), BrokerError> {
        let mut conn = self.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
            .map_err(BrokerError::from)
    }

    fn start_tail(self: Arc<Self>, sink: Arc<dyn TailSink>, tasks: &crate::tasks::Tasks) {
        let sink = tail::Positions::wrap(sink, self.partitions());
        for p in 0..self.partitions() {
            tasks.spawn(format!("tail-{p}"), self.clone().run_tail(p, sink.clone()));
        }
    }
}
