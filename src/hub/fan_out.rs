//! Fan-out: the broker's tail hands each entry to the hub, which queues it for every subscriber
//! of its recipients; and the keepalive ticker.
//!
//! Fan-out takes one [`LogEntry`] from the broker's tail and hands the same `Arc` to every queue
//! of every recipient: the SSE frame was rendered once when the event was read, so delivery
//! copies nothing. Each subscriber has a bounded queue; when it is full the subscriber is dropped
//! from the hub, its stream ends after what is queued, and the browser reconnects with
//! `Last-Event-ID` and catches up from history. A slow client therefore never slows the others
//! and never makes the relay buffer without bound.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use super::{Hub, Push, SHARDS, queue};
use crate::{
    broker::{LogEntry, TailSink},
    transport::Transport,
};

impl Hub {
    /// Hands an entry to every subscriber of its recipients; drops subscribers that are full.
    pub fn fan_out(&self, entry: &LogEntry) {
        self.metrics.tail_entries.inc();
        self.metrics.trace.tail(entry);
        for user in &entry.recipients {
            let mut shard = self.shard(user);
            let dropped_some = shard.retain_user(user, |sub| {
                match sub.tx.try_send(Push::Event(entry.event.clone())) {
                    Ok(()) => true,
                    Err(queue::TrySendError::Full(_)) => {
                        self.metrics.slow_disconnects.inc();
                        self.metrics.trace.skipped(user, entry.event.id, "queue_full");
                        tracing::info!(user = %user, "subscriber too slow: queue full, disconnecting");
                        false
                    }
                    Err(queue::TrySendError::Closed(_)) => false,
                }
            });
            if dropped_some {
                // Rare path (a slow or gone subscriber was dropped): presence must hear of it.
                drop(shard);
                self.mark_changed(user);
            }
        }
    }

    /// Queues a keepalive for every SSE stream of one shard; a full queue is busy anyway and
    /// needs no keepalive.
    fn ping_shard(&self, index: usize) {
        let shard = self.shards[index % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for sub in shard.subscribers() {
            if sub.transport == Transport::Sse {
                let _ = sub.tx.try_send(Push::Ping);
            }
        }
    }

    /// Sends keepalives every `every` until the hub is closed.
    ///
    /// One ticker for all streams instead of a timer per stream, walking one shard per tick so
    /// that each stream still gets a keepalive every `every`, but the writes are spread over the
    /// interval: pinging 10,000 streams at once is a burst of writes that delays real events
    /// queued behind it by tens of milliseconds.
    pub async fn run_keepalive(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every / SHARDS as u32);
        tick.tick().await;
        let mut next = 0;
        while !self.closed.load(Ordering::Acquire) {
            tick.tick().await;
            self.ping_shard(next);
            next = (next + 1) % SHARDS;
        }
    }
}

/// The broker's tail hands the hub each entry directly: fan-out is a few non-blocking
/// `try_send`s, safe to run inside the broker's append.
impl TailSink for Hub {
    fn live(&self) {
        self.live.store(true, Ordering::Release);
    }

    fn entry(&self, entry: &LogEntry) {
        self.fan_out(entry);
    }

    fn open(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
    }
}
