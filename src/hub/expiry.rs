//! Ending SSE streams on time: when the token that opened them expires, or when they reach the
//! maximum stream lifetime.
//!
//! There is no timer per stream. A stream with a deadline is filed in one wheel of one-second
//! buckets; a single task ([`Hub::run_deadlines`]) wakes once a second, takes the buckets that are
//! due and ends those streams through the hub: it queues a last frame (`event: token-expired` or
//! `event: reconnect`) behind whatever the stream already has queued and drops the hub's sender, so
//! the stream ends right after it. Nothing is lost: the stream's last `id:` is the client's
//! cursor, and the reconnect replays what came after it from history.
//!
//! Buckets are rounded down, so a stream ends up to a second *before* its deadline, never after
//! it (plus the task's scheduling delay): a user whose access was withdrawn stops receiving
//! within the lifetime of their last token. A stream that goes away first takes its entry out of
//! the wheel, so the wheel holds only live streams.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;

use super::{Hub, HubError, Push, Subscription};
use crate::{event::UserId, sse, transport::Transport};

/// Why the relay ended a stream; the stream's last frame says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The token that opened the stream expired: reconnect with a fresh one.
    TokenExpired,
    /// The stream reached the maximum lifetime: reconnect (to any instance).
    MaxLifetime,
    /// The relay is shutting down (paced, over `--drain-secs`): reconnect to another instance.
    Shutdown,
}

impl EndReason {
    /// The stream's last frame. It has no `id:` line, so the client's cursor stays the id of
    /// the last event it got. Static bytes: ending a stream allocates nothing.
    pub fn frame(self) -> Bytes {
        match self {
            Self::TokenExpired => sse::TOKEN_EXPIRED,
            Self::MaxLifetime => sse::MAX_LIFETIME,
            Self::Shutdown => sse::SHUTDOWN,
        }
    }
}

/// A stream that must end at its bucket's time.
struct Due {
    user: UserId,
    id: u64,
    reason: EndReason,
}

/// The wheel: deadline buckets (whole seconds since `start`) to the streams due in them.
pub(super) struct Deadlines {
    start: Instant,
    /// One lock for the wheel: touched once when a stream with a deadline opens and once when
    /// it closes, never on delivery, and never held across an await.
    wheel: Mutex<BTreeMap<u64, Vec<Due>>>,
}

impl Deadlines {
    pub(super) fn new() -> Self {
        Self {
            start: Instant::now(),
            wheel: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Vec<Due>>> {
        self.wheel.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rounded down: a deadline is met early rather than late.
    fn bucket(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_secs()
    }

    fn insert(&self, at: Instant, due: Due) -> u64 {
        let bucket = self.bucket(at);
        self.lock().entry(bucket).or_default().push(due);
        bucket
    }

    pub(super) fn cancel(&self, bucket: u64, id: u64) {
        let mut wheel = self.lock();
        if let Some(dues) = wheel.get_mut(&bucket) {
            dues.retain(|d| d.id != id);
            if dues.is_empty() {
                wheel.remove(&bucket);
            }
        }
    }

    /// Takes every entry whose bucket has begun.
    fn take_due(&self, now: Instant) -> Vec<Due> {
        let mut wheel = self.lock();
        let later = wheel.split_off(&(self.bucket(now) + 1));
        let due = std::mem::replace(&mut *wheel, later);
        due.into_values().flatten().collect()
    }

    /// Streams waiting for a deadline.
    fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}

impl Hub {
    /// Registers an SSE stream that the hub ends at `deadline` (if any), for `reason`.
    pub fn subscribe_until(
        self: &Arc<Self>,
        user: UserId,
        deadline: Option<(Instant, EndReason)>,
    ) -> Result<Subscription, HubError> {
        let mut sub = self.subscribe(user.clone(), Transport::Sse)?;
        if let Some((at, reason)) = deadline {
            let id = sub.id;
            sub.deadline = Some(self.deadlines.insert(at, Due { user, id, reason }));
        }
        Ok(sub)
    }

    /// Streams that have a deadline pending.
    pub fn pending_deadlines(&self) -> usize {
        self.deadlines.len()
    }

    /// Ends one subscriber: its last frame goes behind what it has queued, then its queue closes.
    /// A subscriber whose queue is full just closes; its client resumes all the same.
    pub(super) fn end(&self, user: &UserId, id: u64, reason: EndReason) {
        if let Some(sub) = self.shard(user).remove(user, id) {
            let _ = sub.tx.try_send(Push::End(reason));
            tracing::debug!(user = %user, ?reason, "stream ended at its deadline");
        }
    }

    /// Ends every stream whose deadline has come.
    pub fn end_due(&self, now: Instant) {
        for due in self.deadlines.take_due(now) {
            self.end(&due.user, due.id, due.reason);
        }
    }

    /// Once a second, ends the streams that are due, until the hub is closed. One task for
    /// all streams instead of a timer per stream.
    pub async fn run_deadlines(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.closed.load(std::sync::atomic::Ordering::Acquire) {
            tick.tick().await;
            self.end_due(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HubLimits;

    fn hub() -> Arc<Hub> {
        Hub::new(
            HubLimits {
                per_user: 4,
                total: 100,
                queue_len: 4,
            },
            crate::metrics::Metrics::new(),
        )
    }

    fn user(u: &str) -> UserId {
        UserId::parse(u).unwrap()
    }

    #[tokio::test]
    async fn a_due_stream_gets_its_last_frame_and_then_ends() {
        let hub = hub();
        let now = Instant::now();
        let mut sub = hub
            .subscribe_until(user("a"), Some((now, EndReason::TokenExpired)))
            .unwrap();
        let mut other = hub.subscribe(user("a"), Transport::Sse).unwrap();
        hub.end_due(now);
        assert!(matches!(
            sub.rx.recv().await,
            Some(Push::End(EndReason::TokenExpired))
        ));
        assert!(sub.rx.recv().await.is_none());
        assert!(other.rx.try_recv().is_err(), "the other stream stays open");
        assert_eq!(hub.connections(), 1);
    }

    #[tokio::test]
    async fn a_stream_that_is_not_due_yet_stays_open() {
        let hub = hub();
        let now = Instant::now();
        let mut sub = hub
            .subscribe_until(
                user("a"),
                Some((now + Duration::from_secs(5), EndReason::MaxLifetime)),
            )
            .unwrap();
        hub.end_due(now);
        assert!(sub.rx.try_recv().is_err());
        hub.end_due(now + Duration::from_secs(6));
        assert!(matches!(
            sub.rx.recv().await,
            Some(Push::End(EndReason::MaxLifetime))
        ));
    }

    #[tokio::test]
    async fn a_closed_stream_leaves_the_wheel() {
        let hub = hub();
        let at = Instant::now() + Duration::from_secs(60);
        let sub = hub
            .subscribe_until(user("a"), Some((at, EndReason::TokenExpired)))
            .unwrap();
        assert_eq!(hub.pending_deadlines(), 1);
        drop(sub);
        assert_eq!(hub.pending_deadlines(), 0);
        assert_eq!(hub.connections(), 0);
    }
}
