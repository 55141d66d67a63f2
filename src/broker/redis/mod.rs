//! The Redis broker: the log and per-user histories in Redis Streams, shared by every instance.
//!
//! Layout (hash-tagged for Redis Cluster): `<prefix>:{0}:log` holds every event with its
//! recipients; `<prefix>:{0}:u:<user>` holds a user's recent events under the same ids;
//! `<prefix>:{0}:epoch` holds the first id appended since the store was last empty.
//!
//! Connections and key names come from the [`RedisStore`]. The tail runs on a blocking
//! connection of its own; after any error it reconnects with backoff and resumes from the last
//! id it delivered (or from the log's head when the log ends before that id, as on a promoted
//! replica), so nothing appended while it was away is skipped.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use redis::{Script, Value, aio::ConnectionManager};

mod append;
mod batch;
pub use batch::{BatchProgress, ItemOutcome};
mod reply;
mod stream;
pub use stream::{GroupState, IngestEntry};
mod tail;

use reply::{parse_entry, parse_id, stored, text};

use super::{
    Appended, Broker, BrokerError, CursorFacts, History, TailSink, UserHistoryFacts,
    cursor_is_stale,
};
use crate::{
    event::{EventId, NewEvent, Topic, UserId},
    redis_store::RedisStore,
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

    fn key(&self, suffix: &str) -> String {
        self.store.key_of(suffix)
    }

    fn user_key(&self, user: &UserId) -> String {
        self.key(&format!("u:{user}"))
    }

    fn topic_key(&self, topic: &Topic) -> String {
        self.key(&format!("t:{topic}"))
    }

    async fn conn(&self) -> Result<ConnectionManager, BrokerError> {
        Ok(self.store.connection().await?)
    }
}

fn corrupt(what: &str) -> BrokerError {
    BrokerError::Corrupt(what.to_owned())
}

#[async_trait]
impl Broker for RedisBroker {
    async fn append(&self, new: &NewEvent) -> Result<Appended, BrokerError> {
        self.append_with(new, "").await
    }

    async fn topic_add(&self, topic: &Topic, user: &UserId) -> Result<bool, BrokerError> {
        let mut conn = self.conn().await?;
        let added: i64 = redis::cmd("ZADD")
            .arg(self.topic_key(topic))
            .arg(0)
            .arg(user.as_str())
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        Ok(added == 1)
    }

    async fn topic_remove(&self, topic: &Topic, user: &UserId) -> Result<bool, BrokerError> {
        let mut conn = self.conn().await?;
        let removed: i64 = redis::cmd("ZREM")
            .arg(self.topic_key(topic))
            .arg(user.as_str())
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        Ok(removed == 1)
    }

    async fn topic_replace(&self, topic: &Topic, users: &[UserId]) -> Result<(), BrokerError> {
        let mut conn = self.conn().await?;
        let mut call = self.topic_replace.key(self.topic_key(topic));
        for user in users {
            call.arg(user.as_str());
        }
        call.invoke_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(BrokerError::from)
    }

    async fn topic_members(
        &self,
        topic: &Topic,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, BrokerError> {
        let mut conn = self.conn().await?;
        let start = after.map_or_else(|| "-".to_owned(), |u| format!("({u}"));
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.topic_key(topic))
            .arg(start)
            .arg("+")
            .arg("BYLEX")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
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
        let mut conn = self.conn().await?;
        let reply: Value = self
            .read
            .key(self.user_key(user))
            .key(self.key("log"))
            .key(self.key("epoch"))
            .arg(cursor.to_string())
            .arg(limit.max(1))
            .arg(self.key(""))
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

    async fn head(&self) -> Result<EventId, BrokerError> {
        let mut conn = self.conn().await?;
        let reply: Value = redis::cmd("XREVRANGE")
            .arg(self.key("log"))
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

    async fn ping(&self) -> Result<(), BrokerError> {
        let mut conn = self.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
            .map_err(BrokerError::from)
    }

    fn start_tail(self: Arc<Self>, sink: Arc<dyn TailSink>) {
        tokio::spawn(self.run_tail(sink));
    }
}
