//! The memory broker's idempotency records: what each key's first append answered, for a TTL.

use std::collections::{HashMap, VecDeque};

use super::Appended;
use crate::event::IdempotencyKey;

/// Most keys remembered at once; past it the oldest are forgotten before their TTL.
pub const MAX_RECORDS: usize = 100_000;

/// Idempotency records, bounded in number and age.
pub struct OnceRecords {
    ttl_ms: u64,
    answers: HashMap<IdempotencyKey, Appended>,
    /// Keys by when they were recorded, oldest first: every record lives equally long, so
    /// this is also the order in which they expire.
    order: VecDeque<(u64, IdempotencyKey)>,
}

impl OnceRecords {
    /// Records kept for `ttl_ms` each.
    pub fn new(ttl_ms: u64) -> Self {
        Self {
            ttl_ms,
            answers: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// What the first append with `key` answered, if it is still remembered at `now_ms`.
    pub fn get(&mut self, key: &IdempotencyKey, now_ms: u64) -> Option<Appended> {
        self.expire(now_ms);
        self.answers.get(key).copied()
    }

    /// Remembers the answer of the first append with `key`.
    pub fn insert(&mut self, key: IdempotencyKey, answer: Appended, now_ms: u64) {
        self.expire(now_ms);
        while self.order.len() >= MAX_RECORDS {
            self.forget_oldest();
        }
        self.order.push_back((now_ms, key.clone()));
        self.answers.insert(key, answer);
    }

    fn expire(&mut self, now_ms: u64) {
        while self
            .order
            .front()
            .is_some_and(|(at, _)| at.saturating_add(self.ttl_ms) <= now_ms)
        {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((_, key)) = self.order.pop_front() {
            self.answers.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventId;

    #[test]
    fn a_key_is_remembered_for_its_ttl_and_then_forgotten() {
        let mut records = OnceRecords::new(1_000);
        let key = IdempotencyKey::parse("k").unwrap();
        let answer = Appended {
            id: Some(EventId::new(5, 0)),
            recipients: 1,
        };
        records.insert(key.clone(), answer, 10_000);
        assert_eq!(records.get(&key, 10_999), Some(answer));
        assert_eq!(records.get(&key, 11_000), None);
        assert!(records.answers.is_empty() && records.order.is_empty());
    }
}
