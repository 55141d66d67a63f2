//! The Redis broker: the log and per-user histories in Redis Streams, shared by every instance.
//!
//! Layout (hash-tagged for Redis Cluster): `<prefix>:{0}:log` holds every event with its
//! recipients; `<prefix>:{0}:u:<user>` holds a user's recent events under the same ids;
//! `<prefix>:{0}:epoch` holds the first id appended since the store was last empty.
//!
//! Commands go through a [`ConnectionManager`], which reconnects by itself. The tail runs on its
//! own connection because `XREAD BLOCK` would trip the manager's response timeout; after any
//! error it reconnects with backoff and resumes from the last id it delivered, so nothing
//! appended while it was away is skipped.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use redis::{
    AsyncConnectionConfig, Client, Script, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::sync::OnceCell;

use super::{
    Appended, Broker, BrokerError, CursorFacts, History, LogEntry, TailSink, UserHistoryFacts,
    cursor_is_stale,
};
use crate::{
    backoff::Backoff,
    event::{EventId, NewEvent, StoredEvent, Topic, UserId},
    metrics::Metrics,
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
    /// `redis://` URL.
    pub url: String,
    /// Key prefix, so several deployments can share one Redis.
    pub prefix: String,
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
}

/// Broker backed by Redis Streams.
pub struct RedisBroker {
    client: Client,
    settings: RedisSettings,
    conn: OnceCell<ConnectionManager>,
    append: Script,
    read: Script,
    lease: Script,
    topic_replace: Script,
    /// Where the tail's reconnects are counted.
    metrics: Arc<Metrics>,
    append_more: Script,
}

/// A script that writes user histories, with the shared pending-append helpers in front.
fn history_script(body: &str) -> Script {
    Script::new(&format!("{}\n{body}", include_str!("pending.lua")))
}

impl RedisBroker {
    /// Creates the broker; it connects lazily, so it can start while Redis is down.
    pub fn new(settings: RedisSettings, metrics: Arc<Metrics>) -> Result<Arc<Self>, BrokerError> {
        let client = Client::open(settings.url.as_str())
            .map_err(|e| BrokerError::Unavailable(format!("bad redis url: {e}")))?;
        Ok(Arc::new(Self {
            client,
            settings,
            conn: OnceCell::new(),
            append: history_script(include_str!("append.lua")),
            read: history_script(include_str!("read.lua")),
            append_more: history_script(include_str!("append_more.lua")),
            lease: Script::new(include_str!("lease.lua")),
            topic_replace: Script::new(include_str!("topic_replace.lua")),
            metrics,
        }))
    }

    /// The Redis client, for other parts (pub/sub ingest) that need their own connections.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A handle on the shared, self-reconnecting connection, for other Redis-backed parts.
    pub async fn connection(&self) -> Result<ConnectionManager, BrokerError> {
        self.conn().await
    }

    /// The full name of a key of this relay's layout: `<prefix>:{0}:<suffix>`.
    pub fn key_of(&self, suffix: &str) -> String {
        self.key(suffix)
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}:{{0}}:{suffix}", self.settings.prefix)
    }

    fn user_key(&self, user: &UserId) -> String {
        self.key(&format!("u:{user}"))
    }

    fn topic_key(&self, topic: &Topic) -> String {
        self.key(&format!("t:{topic}"))
    }

    async fn conn(&self) -> Result<ConnectionManager, BrokerError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            .set_number_of_retries(2);
        self.conn
            .get_or_try_init(|| self.client.get_connection_manager_with_config(config))
            .await
            .cloned()
            .map_err(unavailable)
    }

    /// Runs the tail until the sink closes.
    async fn run_tail(self: Arc<Self>, sink: Arc<dyn TailSink>) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut last: Option<EventId> = None;
        let mut connected_before = false;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_millis(TAIL_BLOCK_MS + 5_000)));
        loop {
            let result = async {
                let mut conn = self
                    .client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(unavailable)?;
                if connected_before {
                    self.metrics.broker_reconnects.inc();
                }
                connected_before = true;
                let from = match last {
                    Some(id) => id,
                    None => {
                        let head = self.head().await?;
                        last = Some(head);
                        sink.live();
                        head
                    }
                };
                tracing::info!(from = %from, "tailing the redis log");
                backoff.reset();
                self.tail_from(&mut conn, from, &mut last, &*sink).await
            }
            .await;
            if !sink.open() {
                return;
            }
            if let Err(e) = result {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "redis tail lost");
                tokio::time::sleep(delay).await;
            }
        }
    }

    async fn tail_from(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        mut from: EventId,
        last: &mut Option<EventId>,
        sink: &dyn TailSink,
    ) -> Result<(), BrokerError> {
        let log = self.key("log");
        let mut last_sweep = std::time::Instant::now();
        loop {
            let reply: Value = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(TAIL_BATCH)
                .arg("BLOCK")
                .arg(TAIL_BLOCK_MS)
                .arg("STREAMS")
                .arg(&log)
                .arg(from.to_string())
                .query_async(conn)
                .await
                .map_err(unavailable)?;
            if last_sweep.elapsed() > Duration::from_millis(STALE_PENDING_MS / 2) {
                last_sweep = std::time::Instant::now();
                if let Err(e) = self.finish_stale_pending().await {
                    tracing::warn!(error = %e, "could not finish stale big appends");
                }
            }
            for entry in xread_entries(reply)? {
                let entry = parse_log_entry(entry)?;
                from = entry.event.id;
                *last = Some(from);
                sink.entry(&entry);
            }
            if !sink.open() {
                return Ok(());
            }
        }
    }
}

fn unavailable(e: redis::RedisError) -> BrokerError {
    BrokerError::Unavailable(e.to_string())
}

fn corrupt(what: &str) -> BrokerError {
    BrokerError::Corrupt(what.to_owned())
}

impl RedisBroker {
    /// Appends only while `lease_token` holds the bridge lease, so that of several instances
    /// bridging pub/sub exactly one appends each message, even while the lease changes hands.
    pub async fn append_fenced(
        &self,
        new: &NewEvent,
        lease_token: &str,
    ) -> Result<Appended, BrokerError> {
        self.append_with(new, lease_token).await
    }

    /// Takes the bridge lease if it is free, or renews it if `token` holds it; true if held.
    pub async fn hold_lease(&self, token: &str, lease: Duration) -> Result<bool, BrokerError> {
        let mut conn = self.conn().await?;
        let held: i64 = self
            .lease
            .key(self.key("bridge-lease"))
            .arg(token)
            .arg(lease.as_millis() as u64)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(held == 1)
    }

    async fn append_with(
        &self,
        new: &NewEvent,
        lease_token: &str,
    ) -> Result<Appended, BrokerError> {
        let mut conn = self.conn().await?;
        let json = |users: &[UserId]| {
            let users: Vec<&str> = users.iter().map(UserId::as_str).collect();
            serde_json::to_string(&users).map_err(|e| corrupt(&e.to_string()))
        };
        let topic_key = match &new.topic {
            Some(topic) => self.topic_key(topic),
            None => self.key("log"),
        };
        let reply: (Option<String>, usize, usize) = self
            .append
            .key(self.key("log"))
            .key(self.key("epoch"))
            .key(self.key("bridge-lease"))
            .key(topic_key)
            .arg(&new.data)
            .arg(new.event.as_deref().unwrap_or(""))
            .arg(json(&new.recipients)?)
            .arg(self.settings.history_len)
            .arg(self.settings.history_ttl.as_secs().max(1))
            .arg(self.settings.log_len)
            .arg(lease_token)
            .arg(self.key(""))
            .arg(if new.topic.is_some() { "1" } else { "" })
            .arg(json(&new.exclude)?)
            .arg(self.settings.append_batch.max(1))
            .arg(if new.fallback { "1" } else { "" })
            .arg(self.settings.email_grace.as_millis() as u64)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| {
                if e.to_string().contains("NOTLEASE") {
                    BrokerError::NotLeaseHolder
                } else {
                    unavailable(e)
                }
            })?;
        let (id, recipients, pending) = reply;
        if pending > 0
            && let Some(id) = &id
        {
            self.finish_pending(&mut conn, id).await?;
        }
        let id = id
            .map(|id| id.parse().map_err(|_| corrupt("append returned a bad id")))
            .transpose()?;
        Ok(Appended { id, recipients })
    }

    /// Writes a big append's remaining histories, one bounded batch per script call, so other
    /// clients' commands run in between.
    async fn finish_pending(
        &self,
        conn: &mut ConnectionManager,
        id: &str,
    ) -> Result<(), BrokerError> {
        loop {
            let left: u64 = self
                .append_more
                .arg(self.key(""))
                .arg(id)
                .arg(self.settings.append_batch.max(1))
                .arg(self.settings.history_len)
                .arg(self.settings.history_ttl.as_secs().max(1))
                .invoke_async(conn)
                .await
                .map_err(unavailable)?;
            if left == 0 {
                return Ok(());
            }
        }
    }

    /// Finishes big appends whose relay died before writing every history.
    async fn finish_stale_pending(&self) -> Result<(), BrokerError> {
        let mut conn = self.conn().await?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let stale: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.key("pending"))
            .arg("-inf")
            .arg(now_ms.saturating_sub(STALE_PENDING_MS))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        for id in stale {
            tracing::warn!(%id, "finishing a big append another relay left unfinished");
            self.finish_pending(&mut conn, &id).await?;
        }
        Ok(())
    }
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
            .map_err(unavailable)?;
        Ok(added == 1)
    }

    async fn topic_remove(&self, topic: &Topic, user: &UserId) -> Result<bool, BrokerError> {
        let mut conn = self.conn().await?;
        let removed: i64 = redis::cmd("ZREM")
            .arg(self.topic_key(topic))
            .arg(user.as_str())
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
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
            .map_err(unavailable)
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
            .map_err(unavailable)?;
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
            .map_err(unavailable)?;
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
            .map_err(unavailable)?;
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
            .map_err(unavailable)
    }

    fn start_tail(self: Arc<Self>, sink: Arc<dyn TailSink>) {
        tokio::spawn(self.run_tail(sink));
    }
}

/// Fields of one stream entry, by name.
struct Fields {
    data: Option<String>,
    event: Option<String>,
    users: Option<String>,
    fallback: bool,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn parse_id(v: &Value) -> Result<EventId, BrokerError> {
    text(v)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| corrupt("bad stream id"))
}

fn parse_entry(v: Value) -> Result<(EventId, Fields), BrokerError> {
    let Value::Array(parts) = v else {
        return Err(corrupt("stream entry is not an array"));
    };
    let [id, fields]: [Value; 2] = parts
        .try_into()
        .map_err(|_| corrupt("stream entry has the wrong shape"))?;
    let id = parse_id(&id)?;
    let pairs: Vec<Value> = match fields {
        Value::Array(items) => items,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => return Err(corrupt("stream fields are not a list")),
    };
    let mut out = Fields {
        data: None,
        event: None,
        users: None,
        fallback: false,
    };
    for pair in pairs.chunks(2) {
        let (Some(name), Some(value)) = (pair.first().and_then(text), pair.get(1).and_then(text))
        else {
            continue;
        };
        match name.as_str() {
            "d" => out.data = Some(value),
            "e" => out.event = Some(value).filter(|e| !e.is_empty()),
            "u" => out.users = Some(value),
            "f" => out.fallback = value == "1",
            _ => {}
        }
    }
    Ok((id, out))
}

fn stored(id: EventId, fields: &Fields) -> Result<StoredEvent, BrokerError> {
    let data = fields
        .data
        .clone()
        .ok_or_else(|| corrupt("entry has no data"))?;
    StoredEvent::new(id, fields.event.clone(), data)
        .map(|e| e.with_fallback(fields.fallback))
        .map_err(|e| corrupt(&e.to_string()))
}

fn parse_log_entry(v: Value) -> Result<LogEntry, BrokerError> {
    let (id, fields) = parse_entry(v)?;
    let users: Vec<String> = fields
        .users
        .as_deref()
        .and_then(|u| serde_json::from_str(u).ok())
        .ok_or_else(|| corrupt("log entry has no recipients"))?;
    let recipients = users
        .iter()
        .map(|u| UserId::parse(u))
        .collect::<Result<_, _>>()
        .map_err(|e| corrupt(&e.to_string()))?;
    Ok(LogEntry {
        event: Arc::new(stored(id, &fields)?),
        recipients,
    })
}

/// The entries of an `XREAD` reply on one stream (nil when the block timed out).
fn xread_entries(reply: Value) -> Result<Vec<Value>, BrokerError> {
    let stream = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(mut streams) if !streams.is_empty() => match streams.swap_remove(0) {
            Value::Array(mut pair) if pair.len() == 2 => pair.swap_remove(1),
            _ => return Err(corrupt("xread stream has the wrong shape")),
        },
        Value::Map(mut streams) if !streams.is_empty() => streams.swap_remove(0).1,
        _ => return Err(corrupt("xread reply has the wrong shape")),
    };
    match stream {
        Value::Array(entries) => Ok(entries),
        _ => Err(corrupt("xread entries are not an array")),
    }
}
