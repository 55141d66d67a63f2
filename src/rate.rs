//! Keyed rate limiters (`governor`'s GCRA: one small state per key, no timers) and the wait
//! they answer, shared by the abuse limits and the wrong-key budget.

use governor::{DefaultKeyedRateLimiter, clock::Clock};

/// A rate limiter with one budget per key.
pub type Limiter<K> = DefaultKeyedRateLimiter<K>;

/// Takes one cell for `key`; refused, the seconds until one is free.
pub fn wait_secs<K>(limiter: &Limiter<K>, key: &K) -> Result<(), u64>
where
    K: Clone + std::hash::Hash + Eq,
{
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(limiter.clock().now());
        // Whole seconds, rounded up: Retry-After has no fractions, and 0 would invite a retry
        // that is refused again.
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
    })
}
