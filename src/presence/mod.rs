//! Presence: whether a user has a live connection (SSE, or a poll within the poll timeout) on
//! any instance.
//!
//! Each instance keeps the hash `presence:<instance>` (user → its live connections there, plus
//! one while a user's last poll is more recent than the poll timeout) and lists itself in the
//! sorted set `instances`, scored by its last heartbeat. The hash expires unless renewed, and a
//! lookup only counts instances with a recent heartbeat, so the users of an instance that died
//! drop out by themselves within [`PRESENCE_TTL`].
//!
//! The hub only marks users as changed on connect and disconnect; a task flushes those users
//! every [`FLUSH_EVERY`] in one pipeline and rewrites the whole hash every [`REWRITE_EVERY`]
//! (which heals a Redis restart or a failed flush). Delivery never touches presence.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use redis::Script;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    broker::BrokerError,
    event::{UserId, now_ms},
    hub::Hub,
    redis_store::RedisStore,
};

/// How often changed users are written to Redis.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// How often the whole hash is rewritten.
pub const REWRITE_EVERY: Duration = Duration::from_secs(30);
/// How long an instance's presence outlives its last heartbeat.
pub const PRESENCE_TTL: Duration = Duration::from_secs(5);

/// The answer to `GET /presence/{user}`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ToSchema)]
#[schema(as = Presence)]
pub struct Status {
    /// True when the user has a live connection on some instance.
    pub online: bool,
    /// Their live connections over all instances.
    pub connections: u64,
}

#[derive(Default)]
struct Polls {
    last: HashMap<UserId, Instant>,
    changed: HashSet<UserId>,
}

/// This instance's side of presence.
pub struct Presence {
    instance: String,
    hub: Arc<Hub>,
    polls: Mutex<Polls>,
    poll_window: Duration,
    redis: Option<Arc<RedisStore>>,
    lookup: Script,
}

impl Presence {
    /// Presence for this instance; shared through Redis when `redis` is given, else local.
    pub fn new(
        instance: String,
        hub: Arc<Hub>,
        redis: Option<Arc<RedisStore>>,
        poll_window: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            instance,
            hub,
            polls: Mutex::new(Polls::default()),
            poll_window,
            redis,
            lookup: Script::new(include_str!("presence.lua")),
        })
    }

    /// This instance's id, as presence (and the admin page) names it.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    fn polls(&self) -> std::sync::MutexGuard<'_, Polls> {
        self.polls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that a poll of `user` just ended: they count as online for the poll timeout.
    pub fn polled(&self, user: &UserId) {
        let mut polls = self.polls();
        if polls.last.insert(user.clone(), Instant::now()).is_none() {
            polls.changed.insert(user.clone());
        }
    }

    fn local_count(&self, user: &UserId) -> u64 {
        let recent = self
            .polls()
            .last
            .get(user)
            .is_some_and(|t| t.elapsed() < self.poll_window);
        self.hub.user_connections(user) as u64 + u64::from(recent)
    }

    /// Users whose count changed: connects and disconnects, and polls starting or running out.
    fn take_changed(&self) -> HashSet<UserId> {
        let mut users = self.hub.take_changed();
        let mut polls = self.polls();
        let window = self.poll_window;
        let mut expired = Vec::new();
        polls.last.retain(|user, at| {
            let keep = at.elapsed() < window;
            if !keep {
                expired.push(user.clone());
            }
            keep
        });
        users.extend(expired);
        users.extend(polls.changed.drain());
        users
    }

    /// Everyone counted here now, for a full rewrite.
    fn everyone(&self) -> HashMap<UserId, u64> {
        let mut all: HashMap<UserId, u64> = self
            .hub
            .all_connections()
            .into_iter()
            .map(|(u, n)| (u, n as u64))
            .collect();
        let window = self.poll_window;
        for (user, at) in &self.polls().last {
            if at.elapsed() < window {
                *all.entry(user.clone()).or_default() += 1;
            }
        }
        all
    }

    /// Whether `user` is online on any instance, and with how many connections.
    pub async fn status(&self, user: &UserId) -> Result<Status, BrokerError> {
        let connections = match &self.redis {
            None => self.local_count(user),
            Some(redis) => {
                let mut conn = redis.connection().await?;
                let cutoff = now_ms().saturating_sub(PRESENCE_TTL.as_millis() as u64);
                // Presence lives under the global tag; the key names its slot for a cluster.
                self.lookup
                    .key(redis.key_of("instances"))
                    .arg(redis.key_of(""))
                    .arg(user.as_str())
                    .arg(cutoff)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(BrokerError::from)?
            }
        };
        Ok(Status {
            online: connections > 0,
            connections,
        })
    }

    /// Flushes changes to Redis until the relay stops (on the memory broker it only keeps
    /// the poll bookkeeping tidy).
    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_rewrite: Option<Instant> = None;
        loop {
            tick.tick().await;
            let users = self.take_changed();
            let Some(redis) = &self.redis else { continue };
            let rewrite = last_rewrite.is_none_or(|t| t.elapsed() >= REWRITE_EVERY);
            match self.write(redis, rewrite, &users).await {
                Ok(()) if rewrite => last_rewrite = Some(Instant::now()),
                Ok(()) => {}
                Err(e) => {
                    // The changes are lost with this batch: rewrite everything next time.
                    tracing::warn!(error = %e, "could not write presence to redis");
                    last_rewrite = None;
                }
            }
        }
    }

    async fn write(
        &self,
        redis: &RedisStore,
        rewrite: bool,
        users: &HashSet<UserId>,
    ) -> Result<(), BrokerError> {
        let key = redis.key_of(&format!("presence:{}", self.instance));
        let instances = redis.key_of("instances");
        let now = now_ms();
        let mut pipe = redis::pipe();
        pipe.atomic();
        if rewrite {
            pipe.cmd("DEL").arg(&key).ignore();
            for (user, n) in self.everyone() {
                pipe.cmd("HSET")
                    .arg(&key)
                    .arg(user.as_str())
                    .arg(n)
                    .ignore();
            }
            // Instances dead for long are forgotten; their hashes expired long ago.
            let forgotten = now.saturating_sub(PRESENCE_TTL.as_millis() as u64 * 10);
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(&instances)
                .arg("-inf")
                .arg(forgotten)
                .ignore();
        } else {
            for user in users {
                match self.local_count(user) {
                    0 => pipe.cmd("HDEL").arg(&key).arg(user.as_str()).ignore(),
                    n => pipe
                        .cmd("HSET")
                        .arg(&key)
                        .arg(user.as_str())
                        .arg(n)
                        .ignore(),
                };
            }
        }
        pipe.cmd("PEXPIRE")
            .arg(&key)
            .arg(PRESENCE_TTL.as_millis() as u64)
            .ignore();
        pipe.cmd("ZADD")
            .arg(&instances)
            .arg(now)
            .arg(&self.instance)
            .ignore();
        let mut conn = redis.connection().await?;
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(BrokerError::from)
    }
}
