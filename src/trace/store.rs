//! Where trace records live, and how the set of traced users reaches every instance.
//!
//! On Redis: records are pushed (newest first) to the list `trace:u:<user>`, trimmed to
//! [`MAX_RECORDS`] and expiring [`KEEP`] after the last write; every instance writes the same
//! list, so reading it is the merged timeline. Records leave the delivery path through a bounded
//! channel and are written in batches by one task; a full channel drops records rather than
//! wait. The traced users are the hash `trace:active` (user → end in ms), read once a second.
//!
//! On the memory broker there is one process: records stay in a bounded ring per user, for at
//! most [`MAX_USERS`] users.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value;
use tokio::sync::mpsc;

use super::{MAX_RECORDS, Tracer};
use tokio_util::sync::CancellationToken;

use crate::{
    broker::BrokerError,
    event::{UserId, now_ms},
    redis_store::RedisStore,
    tasks::Tasks,
};

/// How long records stay after the last one was written.
pub const KEEP: Duration = Duration::from_secs(2 * 3600);
/// How often each instance reads the set of traced users.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);
/// Most users whose records the memory broker keeps; the stalest are forgotten past it.
pub const MAX_USERS: usize = 100;
/// Records waiting to be written before new ones are dropped.
const QUEUE: usize = 8_192;
/// Most records written in one pipeline.
const BATCH: usize = 512;

/// Records of the memory broker: a bounded ring per traced user, with the number of the push
/// that last touched it (to find the stalest).
#[derive(Default)]
pub struct Memory(Mutex<(u64, Rings)>);

/// Each traced user's records, newest first, with the push that last touched them.
type Rings = HashMap<UserId, (u64, VecDeque<Value>)>;

/// Where records go.
pub enum Store {
    /// This process only.
    Memory,
    /// Shared by every instance.
    Redis {
        /// The writer task's queue.
        tx: mpsc::Sender<(UserId, String)>,
        /// Where records are read from and the traced users kept.
        redis: Arc<RedisStore>,
    },
}

impl Store {
    pub(super) fn push(&self, memory: &Memory, user: &UserId, record: Value) {
        match self {
            Self::Memory => {
                let mut guard = memory.0.lock().unwrap_or_else(|p| p.into_inner());
                let (pushes, rings) = &mut *guard;
                *pushes += 1;
                if !rings.contains_key(user) && rings.len() >= MAX_USERS {
                    forget_stalest(rings);
                }
                let (touched, ring) = rings.entry(user.clone()).or_default();
                *touched = *pushes;
                ring.push_front(record);
                ring.truncate(MAX_RECORDS);
            }
            Self::Redis { tx, .. } => {
                if tx.try_send((user.clone(), record.to_string())).is_err() {
                    tracing::debug!(user = %user, "trace record dropped: the writer is behind");
                }
            }
        }
    }
}

/// Drops the ring that was written to longest ago.
fn forget_stalest(rings: &mut Rings) {
    let stalest = rings
        .iter()
        .min_by_key(|(_, (touched, _))| *touched)
        .map(|(user, _)| user.clone());
    if let Some(user) = stalest {
        rings.remove(&user);
    }
}

impl Tracer {
    /// Names this instance and, on Redis, shares records and traced users through it: starts
    /// the writer and the once-a-second read of the traced users. Called once at start-up.
    pub fn attach(self: &Arc<Self>, instance: &str, redis: Option<Arc<RedisStore>>, tasks: &Tasks) {
        let _ = self.instance.set(instance.to_owned());
        let Some(redis) = redis else { return };
        let (tx, rx) = mpsc::channel(QUEUE);
        if self
            .store
            .set(Store::Redis {
                tx,
                redis: redis.clone(),
            })
            .is_ok()
        {
            let writer = redis.clone();
            tasks.spawn_graceful("trace-writer", move |shutdown| write(rx, writer, shutdown));
            tasks.spawn("trace-sync", sync(Arc::downgrade(self), redis));
        }
    }

    fn redis(&self) -> Option<&Arc<RedisStore>> {
        match self.store() {
            Store::Redis { redis, .. } => Some(redis),
            Store::Memory => None,
        }
    }

    /// Turns `user`'s trace on until `until` (ms since the epoch), on every instance.
    pub async fn start(&self, user: &UserId, until: u64) -> Result<(), BrokerError> {
        if let Some(redis) = self.redis() {
            let mut conn = redis.connection().await?;
            redis::cmd("HSET")
                .arg(redis.key_of("trace:active"))
                .arg(user.as_str())
                .arg(until)
                .query_async::<()>(&mut conn)
                .await
                .map_err(BrokerError::from)?;
        }
        self.update_active(user, Some(until));
        Ok(())
    }

    /// Turns `user`'s trace off everywhere; the records stay until they expire.
    pub async fn stop(&self, user: &UserId) -> Result<(), BrokerError> {
        if let Some(redis) = self.redis() {
            let mut conn = redis.connection().await?;
            redis::cmd("HDEL")
                .arg(redis.key_of("trace:active"))
                .arg(user.as_str())
                .query_async::<()>(&mut conn)
                .await
                .map_err(BrokerError::from)?;
        }
        self.update_active(user, None);
        Ok(())
    }

    /// When `user`'s trace ends, as the shared hash says (this instance's view on memory).
    pub async fn until_shared(&self, user: &UserId) -> Result<Option<u64>, BrokerError> {
        let Some(redis) = self.redis() else {
            return Ok(self.until(user));
        };
        let mut conn = redis.connection().await?;
        let until: Option<u64> = redis::cmd("HGET")
            .arg(redis.key_of("trace:active"))
            .arg(user.as_str())
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        Ok(until.filter(|&t| t > now_ms()))
    }

    /// `user`'s records from every instance, newest first.
    pub async fn records(&self, user: &UserId) -> Result<Vec<Value>, BrokerError> {
        let mut records: Vec<Value> = match self.redis() {
            None => {
                let guard = self.memory.0.lock().unwrap_or_else(|p| p.into_inner());
                guard
                    .1
                    .get(user)
                    .map(|(_, r)| r.iter().cloned().collect())
                    .unwrap_or_default()
            }
            Some(redis) => {
                let mut conn = redis.connection().await?;
                let raw: Vec<String> = redis::cmd("LRANGE")
                    .arg(redis.key_of(&format!("trace:u:{user}")))
                    .arg(0)
                    .arg(MAX_RECORDS - 1)
                    .query_async(&mut conn)
                    .await
                    .map_err(BrokerError::from)?;
                raw.iter()
                    .filter_map(|r| serde_json::from_str(r).ok())
                    .collect()
            }
        };
        // Instances write in batches, so the list is only roughly in time order.
        records.sort_by_key(|r| std::cmp::Reverse(r["at_ms"].as_u64().unwrap_or(0)));
        Ok(records)
    }
}

/// Writes queued records in batches until the relay stops; what is queued then is written
/// before it returns (the connections that recorded it have ended by then).
async fn write(
    mut rx: mpsc::Receiver<(UserId, String)>,
    redis: Arc<RedisStore>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => if n == 0 { return },
            () = shutdown.cancelled() => {
                while batch.len() < BATCH && let Ok(record) = rx.try_recv() {
                    batch.push(record);
                }
                if batch.is_empty() {
                    return;
                }
            }
        }
        let mut pipe = redis::pipe();
        for (user, record) in &batch {
            let key = redis.key_of(&format!("trace:u:{user}"));
            pipe.cmd("LPUSH").arg(&key).arg(record).ignore();
            pipe.cmd("LTRIM")
                .arg(&key)
                .arg(0)
                .arg(MAX_RECORDS - 1)
                .ignore();
            pipe.cmd("PEXPIRE")
                .arg(&key)
                .arg(KEEP.as_millis() as u64)
                .ignore();
        }
        let written = match redis.connection().await {
            Ok(mut conn) => pipe
                .query_async::<()>(&mut conn)
                .await
                .map_err(BrokerError::from),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, records = batch.len(), "could not write trace records");
        }
        batch.clear();
    }
}

/// Reads the traced users once a second while the tracer lives; drops ended traces.
async fn sync(tracer: std::sync::Weak<Tracer>, redis: Arc<RedisStore>) {
    let mut tick = tokio::time::interval(SYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let Some(tracer) = tracer.upgrade() else {
            return;
        };
        let seen = tracer.local_changes();
        match read_active(&redis).await {
            Ok(users) => tracer.set_active(users, seen),
            Err(e) => tracing::debug!(error = %e, "could not read the traced users"),
        }
    }
}

async fn read_active(redis: &RedisStore) -> Result<HashMap<UserId, u64>, BrokerError> {
    let key = redis.key_of("trace:active");
    let mut conn = redis.connection().await?;
    let all: HashMap<String, u64> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .map_err(BrokerError::from)?;
    let now = now_ms();
    let mut users = HashMap::new();
    let mut ended = redis::cmd("HDEL");
    ended.arg(&key);
    let mut any_ended = false;
    for (user, until) in all {
        match UserId::parse(&user) {
            Ok(u) if until > now => {
                users.insert(u, until);
            }
            _ => {
                ended.arg(&user);
                any_ended = true;
            }
        }
    }
    if any_ended {
        ended
            .query_async::<()>(&mut conn)
            .await
            .map_err(BrokerError::from)?;
    }
    Ok(users)
}
