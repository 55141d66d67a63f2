//! The recent-event store behind [`super::CachedBroker`]: what this instance's tail has handed
//! over, by user, bounded by a byte budget, and the rules for when it may answer for the store.
//!
//! It answers a read only when the store's answer is certain from what it holds:
//! - the tail has been continuous since `from`: every log entry after it is here, so a cursor at
//!   or after `from` has all of its user's later events here (a cursor before it, or one the tail
//!   has not reached yet, is the store's to judge: trimmed, lost or from the future);
//! - the store would not reset the cursor: a user's history keeps `history_len` events, so more
//!   than that after the cursor means the store trimmed some (a reset), and a cursor close to its
//!   TTL may belong to a history that expired (a reset too). Both are left to the store, so every
//!   reset comes from the store and the store alone decides what a reset says.
//!
//! Eviction is oldest entry first across all users, so "everything after `from`" stays true by
//! moving `from` up to the newest evicted id.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use crate::{
    broker::{History, LogEntry},
    event::{EventId, StoredEvent, UserId, now_ms},
};

/// A cursor this close to its history's TTL (in ms) is left to the store: the store's clock and
/// this instance's may differ, and the memory broker sweeps expired histories only now and then.
const TTL_MARGIN_MS: u64 = 5_000;

/// Rough bytes one event costs besides its text (the `StoredEvent`, its `Arc`, the order entry).
const EVENT_OVERHEAD: usize = 160;

/// Rough bytes one recipient of an event costs (a slot in their queue, their map entry, the name).
const RECIPIENT_OVERHEAD: usize = 96;

/// One user's recent events, oldest first, at most `history_len`.
#[derive(Default)]
struct UserEvents {
    events: VecDeque<Arc<StoredEvent>>,
    /// The newest id dropped to keep `history_len`: a cursor before it lost events in the store.
    trimmed: EventId,
}

/// The cached entries and what they cover; guarded by the broker's mutex.
pub(super) struct Recent {
    budget: usize,
    history_len: usize,
    ttl_ms: u64,
    /// Every log entry after this id is held (or was dropped by `history_len`); `None` until the
    /// tail says where it starts (or hands over its first entry), and again after the tail was
    /// interrupted.
    from: Option<EventId>,
    /// The newest id the tail handed over.
    seen: EventId,
    users: HashMap<UserId, UserEvents>,
    /// Every held entry in log order, with its cost, for eviction.
    order: VecDeque<(LogEntry, usize)>,
    bytes: usize,
}

fn cost(entry: &LogEntry) -> usize {
    let e = &entry.event;
    let text = e.frame.len() + e.data.get().len() + e.event.as_ref().map_or(0, String::len);
    let recipients: usize = entry
        .recipients
        .iter()
        .map(|u| RECIPIENT_OVERHEAD + u.as_str().len())
        .sum();
    EVENT_OVERHEAD + text + recipients
}

impl Recent {
    /// An empty store of at most `budget` bytes, judging cursors like a broker that keeps
    /// `history_len` events per user for `ttl_ms` after their last one.
    pub(super) fn new(budget: usize, history_len: usize, ttl_ms: u64) -> Self {
        Self {
            budget,
            history_len: history_len.max(1),
            ttl_ms,
            from: None,
            seen: EventId::ZERO,
            users: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
        }
    }

    /// The newest id handed over by the tail.
    pub(super) fn seen(&self) -> EventId {
        self.seen
    }

    /// Bytes held, by the estimate the budget is checked against.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Forgets everything: the tail was interrupted, so continuity starts again at its next entry.
    pub(super) fn reset(&mut self) {
        self.from = None;
        self.users.clear();
        self.order.clear();
        self.bytes = 0;
    }

    /// The tail starts after `head`: every later entry will come, so cursors from `head` on
    /// can be answered (unless the window already started).
    pub(super) fn start_at(&mut self, head: EventId) {
        if self.from.is_none() {
            self.from = Some(head);
            self.seen = self.seen.max(head);
        }
    }

    /// Takes the tail's next entry.
    pub(super) fn push(&mut self, entry: &LogEntry) {
        let id = entry.event.id;
        if id <= self.seen && self.from.is_some() {
            // Never expected (the tail hands ids in order); not worth an answer built on it.
            self.reset();
        }
        self.seen = id;
        let cost = cost(entry);
        if cost > self.budget {
            // Too big to hold: everything after it can still be answered.
            self.reset();
            self.from = Some(id);
            return;
        }
        self.from.get_or_insert(id);
        for user in &entry.recipients {
            let held = self.users.entry(user.clone()).or_default();
            held.events.push_back(entry.event.clone());
            if held.events.len() > self.history_len
                && let Some(old) = held.events.pop_front()
            {
                held.trimmed = old.id;
            }
        }
        self.order.push_back((entry.clone(), cost));
        self.bytes += cost;
        while self.bytes > self.budget {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        let Some((entry, cost)) = self.order.pop_front() else {
            self.bytes = 0;
            return;
        };
        self.bytes -= cost;
        let id = entry.event.id;
        self.from = self.from.map(|f| f.max(id));
        for user in &entry.recipients {
            let Some(held) = self.users.get_mut(user) else {
                continue;
            };
            // Already gone from the front when `history_len` dropped it.
            if held.events.front().is_some_and(|e| e.id == id) {
                held.events.pop_front();
            }
            if held.events.is_empty() {
                self.users.remove(user);
            }
        }
    }

    /// The current position, when the store's head is known to be no older than what the tail
    /// handed over.
    pub(super) fn head(&self) -> Option<EventId> {
        self.from.map(|_| self.seen)
    }

    /// The events after `cursor` for `user`, at most `limit`, when that is certainly what the
    /// store holds and the store would not reset the cursor; `None` to ask the store.
    pub(super) fn read_after(
        &self,
        user: &UserId,
        cursor: EventId,
        limit: usize,
    ) -> Option<History> {
        let from = self.from?;
        if cursor < from || cursor > self.seen {
            return None;
        }
        if cursor.ms.saturating_add(self.ttl_ms) <= now_ms().saturating_add(TTL_MARGIN_MS) {
            return None;
        }
        let Some(held) = self.users.get(user) else {
            return Some(History::Events(Vec::new()));
        };
        if cursor < held.trimmed {
            return None;
        }
        let start = held.events.partition_point(|e| e.id <= cursor);
        Some(History::Events(
            held.events
                .iter()
                .skip(start)
                .take(limit.max(1))
                .cloned()
                .collect(),
        ))
    }
}
