//! The embedded broker: one process, history in per-user ring buffers, no Redis needed.
//!
//! One mutex guards the id counter, the histories and the hand-off to the tail, so ids are
//! assigned and handed to the tail in the same order. The critical section is a few pointer
//! moves plus the hub's fan-out (non-blocking `try_send`s); nothing awaits while holding it.

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, OnceLock},
    time::Duration,
};

use async_trait::async_trait;

use super::{
    Appended, Broker, BrokerError, CursorFacts, History, LogEntry, TailSink, UserHistoryFacts,
    cursor_is_stale, expand_recipients, once::OnceRecords,
};
use crate::event::{EventId, NewEvent, StoredEvent, Topic, UserId, now_ms};

/// In-process broker; history is lost when the process ends (cursors from before are reset).
pub struct MemoryBroker {
    state: Mutex<State>,
    history_len: usize,
    ttl: Duration,
    /// Most subscribers of a topic a publish may reach (`--max-topic-recipients`).
    max_topic: usize,
    /// The hub, handed each entry under the state lock so it sees ids in order.
    sink: OnceLock<Arc<dyn TailSink>>,
}

struct State {
    /// First id of this process's life: every cursor before it comes from a previous life.
    epoch: EventId,
    last: EventId,
    users: HashMap<UserId, UserHistory>,
    topics: HashMap<Topic, BTreeSet<UserId>>,
    /// What appends with an idempotency key answered.
    once: OnceRecords,
}

struct UserHistory {
    events: VecDeque<Arc<StoredEvent>>,
    max_deleted: EventId,
    last_append_ms: u64,
}

impl MemoryBroker {
    /// Creates a broker keeping `history_len` events per user for `ttl` after their last event.
    pub fn new(history_len: usize, ttl: Duration) -> Arc<Self> {
        Self::with_limits(
            history_len,
            ttl,
            Duration::from_secs(super::DEFAULT_IDEMPOTENCY_TTL_SECS),
            usize::MAX,
        )
    }

    /// Like [`MemoryBroker::new`], remembering idempotency keys for `once_ttl` and refusing
    /// publishes to topics of more than `max_topic` subscribers.
    pub fn with_limits(
        history_len: usize,
        ttl: Duration,
        once_ttl: Duration,
        max_topic: usize,
    ) -> Arc<Self> {
        let epoch = EventId::new(now_ms(), 0);
        Arc::new(Self {
            state: Mutex::new(State {
                epoch,
                last: epoch,
                users: HashMap::new(),
                topics: HashMap::new(),
                once: OnceRecords::new(once_ttl.as_millis() as u64),
            }),
            history_len: history_len.max(1),
            ttl,
            max_topic,
            sink: OnceLock::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind, still consistent enough to
        // serve; poisoning would only turn one bug into an outage.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the histories of users idle for longer than the TTL, so memory follows activity.
    async fn sweep(weak: std::sync::Weak<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            let Some(broker) = weak.upgrade() else { return };
            let cutoff = now_ms().saturating_sub(broker.ttl.as_millis() as u64);
            broker
                .lock()
                .users
                .retain(|_, h| h.last_append_ms >= cutoff);
        }
    }

    /// Appends under the state lock, which the caller holds.
    fn append_locked(
        &self,
        state: &mut State,
        new: &NewEvent,
        now: u64,
    ) -> Result<Appended, BrokerError> {
        let subscribers = new.topic.as_ref().and_then(|t| state.topics.get(t));
        if subscribers.is_some_and(|s| s.len() > self.max_topic) {
            return Err(BrokerError::TopicTooLarge(self.max_topic));
        }
        let recipients = expand_recipients(
            &new.recipients,
            subscribers.into_iter().flatten(),
            &new.exclude,
        );
        if recipients.is_empty() {
            return Ok(Appended {
                id: None,
                recipients: 0,
            });
        }
        let id = Self::next_id(state.last, now);
        let stored = StoredEvent::new(id, new.event.clone(), new.data.clone())
            .map_err(|e| BrokerError::Corrupt(e.to_string()))?;
        let stored = Arc::new(stored);
        state.last = id;
        for user in &recipients {
            let history = state
                .users
                .entry(user.clone())
                .or_insert_with(|| UserHistory {
                    events: VecDeque::new(),
                    max_deleted: EventId::ZERO,
                    last_append_ms: now,
                });
            history.last_append_ms = now;
            history.events.push_back(stored.clone());
            while history.events.len() > self.history_len {
                if let Some(old) = history.events.pop_front() {
                    history.max_deleted = old.id;
                }
            }
        }
        let count = recipients.len();
        if let Some(sink) = self.sink.get() {
            sink.entry(&LogEntry {
                event: stored,
                recipients,
            });
        }
        Ok(Appended {
            id: Some(id),
            recipients: count,
        })
    }

    fn next_id(last: EventId, now: u64) -> EventId {
        if now > last.ms {
            EventId::new(now, 0)
        } else {
            EventId::new(last.ms, last.seq + 1)
        }
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn append(&self, new: &NewEvent) -> Result<Appended, BrokerError> {
        let now = now_ms();
        let mut state = self.lock();
        if let Some(key) = &new.idempotency_key {
            if let Some(first) = state.once.get(key, now) {
                return Ok(first);
            }
            let answer = self.append_locked(&mut state, new, now)?;
            state.once.insert(key.clone(), answer, now);
            return Ok(answer);
        }
        self.append_locked(&mut state, new, now)
    }
    async fn topic_add(&self, topic: &Topic, user: &UserId) -> Result<bool, BrokerError> {
        Ok(self
            .lock()
            .topics
            .entry(topic.clone())
            .or_default()
            .insert(user.clone()))
    }

    async fn topic_remove(&self, topic: &Topic, user: &UserId) -> Result<bool, BrokerError> {
        let mut state = self.lock();
        let Some(set) = state.topics.get_mut(topic) else {
            return Ok(false);
        };
        let removed = set.remove(user);
        if set.is_empty() {
            state.topics.remove(topic);
        }
        Ok(removed)
    }

    async fn topic_replace(&self, topic: &Topic, users: &[UserId]) -> Result<(), BrokerError> {
        let mut state = self.lock();
        if users.is_empty() {
            state.topics.remove(topic);
        } else {
            state
                .topics
                .insert(topic.clone(), users.iter().cloned().collect());
        }
        Ok(())
    }

    async fn topic_members(
        &self,
        topic: &Topic,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, BrokerError> {
        use std::ops::Bound;
        let state = self.lock();
        let Some(set) = state.topics.get(topic) else {
            return Ok(Vec::new());
        };
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(set
            .range((start, Bound::Unbounded))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn read_after(
        &self,
        user: &UserId,
        cursor: EventId,
        limit: usize,
    ) -> Result<History, BrokerError> {
        let state = self.lock();
        let history = state.users.get(user);
        let facts = CursorFacts {
            head: state.last,
            epoch: Some(state.epoch),
            user: match history {
                None => UserHistoryFacts::Missing,
                Some(h) => UserHistoryFacts::Present {
                    max_deleted: h.max_deleted,
                },
            },
            now_ms: now_ms(),
            ttl_ms: self.ttl.as_millis() as u64,
        };
        if cursor_is_stale(cursor, &facts) {
            return Ok(History::Reset { head: state.last });
        }
        let events = history
            .map(|h| {
                let start = h.events.partition_point(|e| e.id <= cursor);
                h.events.iter().skip(start).take(limit).cloned().collect()
            })
            .unwrap_or_default();
        Ok(History::Events(events))
    }

    async fn head(&self) -> Result<EventId, BrokerError> {
        Ok(self.lock().last)
    }

    async fn ping(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    fn start_tail(self: Arc<Self>, sink: Arc<dyn TailSink>, tasks: &crate::tasks::Tasks) {
        // Taken under the lock, so no append can fall between "live" and the first entry.
        let state = self.lock();
        if self.sink.set(sink.clone()).is_ok() {
            sink.live_from(state.last);
            tasks.spawn("memory-sweeper", Self::sweep(Arc::downgrade(&self)));
        }
    }
}

#[cfg(test)]
mod tests;
