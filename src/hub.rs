//! The per-instance registry of live subscribers (SSE streams and waiting polls), keyed by user.
//!
//! Each subscriber has a bounded queue, filled by the fan-out of the broker's tail
//! (`hub/fan_out.rs`: a full queue drops its subscriber, so a slow client never slows the
//! others and never makes the relay buffer without bound).
//!
//! The registry is split into shards by user so that fan-out for different users, connects and
//! disconnects rarely contend on one lock. Locks are std mutexes held for a few pointer moves and
//! never across an await.

use std::{
    collections::HashSet,
    hash::{BuildHasher, RandomState},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
};

use crate::{
    event::{StoredEvent, UserId},
    metrics::Metrics,
    transport::Transport,
};

mod drain;
mod expiry;
mod fan_out;
pub mod queue;
mod shard;

use shard::{Shard, Subscriber};

pub use expiry::EndReason;

const SHARDS: usize = 64;

/// What a subscriber's queue carries.
#[derive(Debug, Clone)]
pub enum Push {
    /// An event for this subscriber's user.
    Event(Arc<StoredEvent>),
    /// Time for a keepalive comment (SSE only).
    Ping,
    /// The relay ended this stream (SSE only): the last frame; the queue closes after it.
    End(EndReason),
}

/// Limits on subscribers.
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    /// Most live subscribers per user.
    pub per_user: usize,
    /// Most live subscribers in this instance.
    pub total: usize,
    /// Capacity of each subscriber's queue.
    pub queue_len: usize,
}

/// Why a subscriber was not admitted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HubError {
    /// The user already has the most connections allowed.
    #[error("this user already has {0} open connections")]
    UserLimit(usize),
    /// The instance already serves the most connections allowed.
    #[error("the relay is at its connection limit")]
    TotalLimit,
    /// The relay is shutting down.
    #[error("the relay is shutting down")]
    ShuttingDown,
}

/// Live subscribers of this instance, by user.
pub struct Hub {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    next_id: AtomicU64,
    /// Live subscribers in this instance, kept by the shards.
    total: Arc<AtomicUsize>,
    limits: HubLimits,
    live: AtomicBool,
    closed: AtomicBool,
    /// Users whose connection count changed since presence last looked (connect and disconnect
    /// paths only; delivery never touches it).
    changed: Mutex<HashSet<UserId>>,
    /// Streams that must end at a given time (token expiry, maximum lifetime).
    deadlines: expiry::Deadlines,
    /// Where slow-client disconnects and tail entries are counted.
    metrics: Arc<Metrics>,
}

/// A registered subscriber; dropping it unregisters it.
pub struct Subscription {
    hub: Arc<Hub>,
    user: UserId,
    id: u64,
    /// The subscriber's queue; ends when the hub drops it (slow client, deadline or shutdown).
    pub rx: queue::Receiver,
    /// The deadline bucket this subscriber is filed in, if it has one.
    deadline: Option<u64>,
}

impl Subscription {
    /// The user this subscriber listens for.
    pub fn user(&self) -> &UserId {
        &self.user
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.remove(&self.user, self.id);
        if let Some(bucket) = self.deadline {
            self.hub.deadlines.cancel(bucket, self.id);
        }
    }
}

impl Hub {
    /// An empty hub.
    pub fn new(limits: HubLimits, metrics: Arc<Metrics>) -> Arc<Self> {
        let total = Arc::new(AtomicUsize::new(0));
        Arc::new(Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard::new(total.clone())))
                .collect(),
            hasher: RandomState::new(),
            next_id: AtomicU64::new(1),
            total,
            limits,
            live: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            changed: Mutex::new(HashSet::new()),
            deadlines: expiry::Deadlines::new(),
            metrics,
        })
    }

    fn shard(&self, user: &UserId) -> MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(user) as usize) % SHARDS;
        // Shards hold plain data; a panic elsewhere must not take delivery down with it.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True once the broker's tail is positioned: before that, a subscriber could miss events.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Live subscribers in this instance.
    pub fn connections(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Registers a subscriber for `user`. Register before reading history: then every event is
    /// either in the history read or in the queue (possibly both; callers skip ids already sent).
    pub fn subscribe(
        self: &Arc<Self>,
        user: UserId,
        transport: Transport,
    ) -> Result<Subscription, HubError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(HubError::ShuttingDown);
        }
        let (tx, rx) = queue::channel(self.limits.queue_len.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut shard = self.shard(&user);
            if shard.count(&user) >= self.limits.per_user {
                return Err(HubError::UserLimit(self.limits.per_user));
            }
            if self.total.fetch_add(1, Ordering::AcqRel) >= self.limits.total {
                self.total.fetch_sub(1, Ordering::AcqRel);
                return Err(HubError::TotalLimit);
            }
            // The user's entry is made only once admitted: a refused user must leave nothing
            // behind for presence to write.
            shard.add(user.clone(), Subscriber { id, transport, tx });
        }
        self.mark_changed(&user);
        Ok(Subscription {
            hub: self.clone(),
            user,
            id,
            rx,
            deadline: None,
        })
    }

    fn remove(&self, user: &UserId, id: u64) {
        self.shard(user).remove(user, id);
        self.mark_changed(user);
    }

    fn mark_changed(&self, user: &UserId) {
        let mut changed = self.changed.lock().unwrap_or_else(|p| p.into_inner());
        changed.insert(user.clone());
    }

    /// Takes the users whose connection count changed since the last call (for presence).
    pub fn take_changed(&self) -> HashSet<UserId> {
        std::mem::take(&mut *self.changed.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Live subscribers of `user` in this instance.
    pub fn user_connections(&self, user: &UserId) -> usize {
        self.shard(user).count(user)
    }

    /// How many users have a live subscriber here (counts, copies no user id).
    pub fn users_online(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).users())
            .sum()
    }

    /// Every user with a live subscriber here, with their count (for a full presence rewrite).
    pub fn all_connections(&self) -> Vec<(UserId, usize)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            out.extend(shard.counts().map(|(u, n)| (u.clone(), n)));
        }
        out
    }

    /// Ends every subscriber and refuses new ones: streams end after what is queued, and waiting
    /// polls answer at once, so clients reconnect (to another instance) without waiting.
    pub fn close_all(&self) {
        self.closed.store(true, Ordering::Release);
        for shard in self.shards.iter() {
            shard.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }
}

#[cfg(test)]
mod tests;
