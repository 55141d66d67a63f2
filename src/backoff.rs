//! Capped exponential backoff with jitter, for reconnecting to Redis.

use std::time::Duration;

/// Reconnect delays: doubling from `min` up to `max`, each scaled by a random factor in
/// [0.5, 1.0) so that many relays restarted together do not reconnect in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// A backoff starting at `min` and capped at `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            next: min,
            min,
            max,
        }
    }

    /// The delay to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        base.mul_f64(0.5 + rand::random::<f64>() / 2.0)
    }

    /// Call after a success: the next failure starts from the minimum again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let d: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        assert!(d[0] >= Duration::from_millis(50) && d[0] < Duration::from_millis(100));
        assert!(d[4] >= Duration::from_millis(200) && d[4] < Duration::from_millis(400));
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(100));
    }
}
