//! Where events are stored and ordered: the append-only log and each user's history.
//!
//! A broker assigns every appended event an [`EventId`] that is greater than every id before it,
//! keeps the last events of each user for resume, and offers a *tail*: every entry appended after
//! the tail started, in id order. The hub consumes the tail; the broker knows nothing of
//! connections.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    event::{EventId, NewEvent, StoredEvent, Topic, UserId},
    redis_store::StoreError,
};

pub mod cache;
mod cursor;
pub mod memory;
mod once;
pub mod redis;

pub(crate) use cursor::{CursorFacts, UserHistoryFacts, cursor_is_stale};

/// How long an idempotency key is remembered unless told otherwise (`--idempotency-ttl-secs`'s
/// default): a day.
pub const DEFAULT_IDEMPOTENCY_TTL_SECS: u64 = 86_400;

/// What went wrong talking to the store.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The store cannot be reached now; the caller may retry.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The event was stored on the primary but not confirmed by enough replicas in time
    /// (`--redis-wait-replicas`): not acknowledged, and not retried, since it may exist.
    #[error("broker did not confirm the write: {0}")]
    NotReplicated(String),
    /// A fenced append was refused: this instance no longer holds the bridge lease.
    #[error("this instance does not hold the bridge lease")]
    NotLeaseHolder,
    /// The topic has more subscribers than `--max-topic-recipients` allows; nothing was stored.
    #[error("the topic has more than {0} subscribers, the most a publish may reach")]
    TopicTooLarge(usize),
    /// The store answered with something this relay did not write.
    #[error("broker returned unexpected data: {0}")]
    Corrupt(String),
}

/// A store failure as the broker reports it: not replicated (the write may exist) or unavailable.
impl From<StoreError> for BrokerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotReplicated { .. } | StoreError::PrimaryChanged => {
                BrokerError::NotReplicated(e.to_string())
            }
            e => BrokerError::Unavailable(e.to_string()),
        }
    }
}

/// A Redis failure, sorted by the store first.
impl From<::redis::RedisError> for BrokerError {
    fn from(e: ::redis::RedisError) -> Self {
        StoreError::from(e).into()
    }
}

/// The answer to "what did this user get after this cursor?".
#[derive(Debug)]
pub enum History {
    /// The events after the cursor, oldest first, at most the limit asked for.
    Events(Vec<Arc<StoredEvent>>),
    /// Events after the cursor may be gone (trimmed, expired, lost with the store, or the cursor
    /// is from the future): the client must start over from `head`.
    Reset {
        /// The current position: everything after it will be delivered.
        head: EventId,
    },
}

/// One appended event with the users it is for, as the tail delivers it.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// The event, frame already rendered.
    pub event: Arc<StoredEvent>,
    /// The users it is for.
    pub recipients: Vec<UserId>,
}

/// The outcome of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The new event's id; `None` when it had no recipient left (an empty topic), so nothing
    /// was stored.
    pub id: Option<EventId>,
    /// How many users the event was stored for, after topic expansion and `exclude`.
    pub recipients: usize,
}

/// Where the tail hands what it reads, in order; the hub implements it.
///
/// The tail calls it directly rather than through a channel: on the memory broker, fan-out runs
/// on the thread that appended, so an event reaches its connections' queues with no hop through
/// another task (each hop is a cross-thread wake-up per event).
pub trait TailSink: Send + Sync + 'static {
    /// The tail is positioned: no entry appended from now on will be missed.
    fn live(&self);
    /// Like [`Self::live`], naming the position: every entry after `head` will be handed over.
    fn live_from(&self, head: EventId) {
        let _ = head;
        self.live();
    }
    /// The next entry of the log. Must not block: it runs inside the broker's append.
    fn entry(&self, entry: &LogEntry);
    /// The tail lost the store (it resumes where it stopped, but the store may have lost data
    /// meanwhile): whatever was derived from earlier entries may no longer match the store.
    fn interrupted(&self) {}
    /// False once nothing consumes entries any more (shutdown), so a tail task can stop.
    fn open(&self) -> bool;
}

/// Storage for the event log and per-user history.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Stores an event for all its recipients under one new id, atomically. A topic is expanded
    /// to its subscribers in the same step, so each gets the event under that id.
    async fn append(&self, event: &NewEvent) -> Result<Appended, BrokerError>;

    /// Reads a user's events after `cursor`, at most `limit`, or says the cursor is stale.
    async fn read_after(
        &self,
        user: &UserId,
        cursor: EventId,
        limit: usize,
    ) -> Result<History, BrokerError>;

    /// The id of the newest event in the log: a starting cursor that misses nothing after it.
    async fn head(&self) -> Result<EventId, BrokerError>;

    /// A starting cursor for `user` that misses nothing after it: the newest id of the log the
    /// user's events come from (a partitioned store has one log per partition).
    async fn head_for(&self, user: &UserId) -> Result<EventId, BrokerError> {
        let _ = user;
        self.head().await
    }

    /// Checks that the store answers.
    async fn ping(&self) -> Result<(), BrokerError>;

    /// Adds a subscriber to a topic; true if they were not subscribed yet.
    async fn topic_add(&self, topic: &Topic, user: &UserId) -> Result<bool, BrokerError>;

    /// Removes a subscriber from a topic; true if they were subscribed.
    async fn topic_remove(&self, topic: &Topic, user: &UserId) -> Result<bool, BrokerError>;

    /// Replaces a topic's whole subscriber set at once.
    async fn topic_replace(&self, topic: &Topic, users: &[UserId]) -> Result<(), BrokerError>;

    /// A page of a topic's subscribers in byte order, after `after`, at most `limit`.
    async fn topic_members(
        &self,
        topic: &Topic,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, BrokerError>;

    /// Starts the tail (and any upkeep loop of the store) as tasks of `tasks`. Called once:
    /// `sink` hears [`TailSink::live`] and then every entry appended after that point, in
    /// order, across reconnects to the store.
    fn start_tail(self: Arc<Self>, sink: Arc<dyn TailSink>, tasks: &crate::tasks::Tasks);
}

/// The final recipient list: named users, then topic subscribers, without duplicates or excluded.
pub(crate) fn expand_recipients<'a>(
    named: &'a [UserId],
    subscribers: impl IntoIterator<Item = &'a UserId>,
    exclude: &[UserId],
) -> Vec<UserId> {
    let mut seen = std::collections::HashSet::new();
    named
        .iter()
        .chain(subscribers)
        .filter(|u| !exclude.contains(u) && seen.insert(*u))
        .cloned()
        .collect()
}
