//! A recent-event cache in front of a broker: resumes and polls whose cursor lies inside what
//! this instance's tail has seen continuously are answered from memory, without a round trip to
//! the store; every other read (and every write) goes to the store.
//!
//! Every instance already tails every event for its hub, so the cache costs no extra reads: it
//! sits between the store's tail and the hub ([`TailSink`]) and keeps each user's recent events
//! within a byte budget (`--cache-bytes`). What it may answer, and why the answer is the store's
//! own, is in [`recent`]. Two timing rules keep it honest:
//! - the cache is filled before the hub fans out an entry, so a subscriber registered before a
//!   read gets every later entry either from the read or from its queue;
//! - a read first waits (briefly) until the tail has handed over what this instance itself
//!   appended, so a client that publishes and then reads here sees its event, as from the store.
//!   Events appended through other instances may reach the cache a moment later than the store;
//!   a reader then gets them from its queue instead (nothing is lost or repeated).
//!
//! When the tail is interrupted (the store went away, and may have lost data) the cache forgets
//! everything and starts again at the tail's next entry; so does a failed append.

use std::{
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{Appended, Broker, BrokerError, History, LogEntry, TailSink};
use crate::event::{EventId, NewEvent, Topic, UserId};

mod recent;

#[cfg(test)]
mod tests;

use recent::Recent;

/// Longest a read waits for the tail to hand over this instance's own appends before it asks
/// the store instead.
const CATCH_UP: Duration = Duration::from_millis(50);

/// A broker whose reads are answered from recently tailed events when that is certain.
pub struct CachedBroker {
    inner: Arc<dyn Broker>,
    recent: Mutex<Recent>,
    /// The newest id this instance appended; reads wait for the tail to reach it.
    appended: Mutex<EventId>,
    /// Woken after an entry when a read is waiting for the tail to catch up.
    tailed: Notify,
    waiting: AtomicUsize,
}

impl CachedBroker {
    /// Wraps `inner`, holding at most `budget` bytes of events. `history_len` and `ttl` must be
    /// the store's own, so that the cache knows which cursors the store would reset.
    pub fn new(
        inner: Arc<dyn Broker>,
        budget: usize,
        history_len: usize,
        ttl: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            inner,
            recent: Mutex::new(Recent::new(budget, history_len, ttl.as_millis() as u64)),
            appended: Mutex::new(EventId::ZERO),
            tailed: Notify::new(),
            waiting: AtomicUsize::new(0),
        })
    }

    fn recent(&self) -> MutexGuard<'_, Recent> {
        // Plain data: a panic elsewhere must not take reads down with it.
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn appended(&self) -> EventId {
        *self.appended.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes of events held now (an estimate).
    pub fn bytes(&self) -> usize {
        self.recent().bytes()
    }

    /// Waits until the tail has handed over this instance's newest append; false after
    /// [`CATCH_UP`].
    async fn caught_up(&self) -> bool {
        let target = self.appended();
        if self.recent().seen() >= target {
            return true;
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        let reached = loop {
            // Created before the check, so an entry handed over after it wakes this waiter.
            let notified = self.tailed.notified();
            if self.recent().seen() >= target {
                break true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break false;
            }
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        reached
    }

    fn forget(&self) {
        self.recent().reset();
    }
}

#[async_trait]
impl Broker for CachedBroker {
    async fn append(&self, event: &NewEvent) -> Result<Appended, BrokerError> {
        match self.inner.append(event).await {
            Ok(appended) => {
                if let Some(id) = appended.id {
                    let mut newest = self.appended.lock().unwrap_or_else(|p| p.into_inner());
                    *newest = (*newest).max(id);
                }
                Ok(appended)
            }
            Err(e) => {
                // The store may be going away, or back with less than before: trust only what
                // the tail hands over from now on.
                if matches!(e, BrokerError::Unavailable(_)) {
                    self.forget();
                }
                Err(e)
            }
        }
    }

    async fn read_after(
        &self,
        user: &UserId,
        cursor: EventId,
        limit: usize,
    ) -> Result<History, BrokerError> {
        if self.caught_up().await
            && let Some(history) = self.recent().read_after(user, cursor, limit)
        {
            return Ok(history);
        }
        self.inner.read_after(user, cursor, limit).await
    }

    async fn head(&self) -> Result<EventId, BrokerError> {
        if self.caught_up().await
            && let Some(head) = self.recent().head()
        {
            return Ok(head);
        }
        self.inner.head().await
    }

    async fn ping(&self) -> Result<(), BrokerError> {
        self.inner.ping().await
    }

    async fn topic_add(&self, topic: &Topic, user: &UserId) -> Result<bool, BrokerError> {
        self.inner.topic_add(topic, user).await
    }

    async fn topic_remove(&self, topic: &Topic, user: &UserId) -> Result<bool, BrokerError> {
        self.inner.topic_remove(topic, user).await
    }

    async fn topic_replace(&self, topic: &Topic, users: &[UserId]) -> Result<(), BrokerError> {
        self.inner.topic_replace(topic, users).await
    }

    async fn topic_members(
        &self,
        topic: &Topic,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, BrokerError> {
        self.inner.topic_members(topic, after, limit).await
    }

    fn start_tail(self: Arc<Self>, sink: Arc<dyn TailSink>, tasks: &crate::tasks::Tasks) {
        let inner = self.inner.clone();
        inner.start_tail(Arc::new(Tee { cache: self, sink }), tasks);
    }
}

/// Sits between the store's tail and the hub: the cache takes each entry first.
struct Tee {
    cache: Arc<CachedBroker>,
    sink: Arc<dyn TailSink>,
}

impl TailSink for Tee {
    fn live(&self) {
        self.sink.live();
    }

    fn live_from(&self, head: EventId) {
        self.cache.recent().start_at(head);
        self.sink.live_from(head);
    }

    fn entry(&self, entry: &LogEntry) {
        self.cache.recent().push(entry);
        if self.cache.waiting.load(Ordering::SeqCst) > 0 {
            self.cache.tailed.notify_waiters();
        }
        self.sink.entry(entry);
    }

    fn interrupted(&self) {
        self.cache.forget();
        self.sink.interrupted();
    }

    fn open(&self) -> bool {
        self.sink.open()
    }
}
