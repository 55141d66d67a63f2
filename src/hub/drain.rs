//! Paced shutdown: on SIGTERM the relay ends its SSE streams spread evenly over `--drain-secs`
//! instead of all at once, so the clients of an instance being restarted reconnect to the others
//! at a steady rate rather than in one storm. Waiting polls answer at once (a poll is cheap to
//! repeat and holds nothing).
//!
//! Each stream ends like one at its maximum lifetime: a last `event: reconnect` frame (no `id:`)
//! behind what it already has queued, so the client resumes from its last id elsewhere. Until its
//! turn a stream keeps receiving live events.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use super::{EndReason, Hub};
use crate::{event::UserId, transport::Transport};

/// How often the drain ends the streams whose turn has come.
const DRAIN_TICK: Duration = Duration::from_millis(10);

impl Hub {
    /// Refuses new subscribers, answers waiting polls, then ends every SSE stream, spread evenly
    /// over `over`; returns when the last one has been ended.
    pub async fn drain(self: &Arc<Self>, over: Duration) {
        self.closed.store(true, Ordering::Release);
        let streams = self.take_polls_and_list_streams();
        tracing::info!(
            streams = streams.len(),
            over_secs = over.as_secs_f64(),
            "draining streams"
        );
        let start = tokio::time::Instant::now();
        let mut ended = 0;
        let mut tick = tokio::time::interval(DRAIN_TICK);
        while ended < streams.len() {
            tick.tick().await;
            let due = if over.is_zero() {
                streams.len()
            } else {
                let share = start.elapsed().as_secs_f64() / over.as_secs_f64();
                // The first stream ends at once, the last one at `over` minus one share.
                ((share * streams.len() as f64).floor() as usize + 1).min(streams.len())
            };
            for (user, id) in &streams[ended..due] {
                self.end(user, *id, EndReason::Shutdown);
            }
            ended = due;
        }
        self.close_all();
    }

    /// Drops every waiting poll (it answers with what it has) and lists the SSE streams.
    fn take_polls_and_list_streams(&self) -> Vec<(UserId, u64)> {
        let mut streams = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            shard.retain(|user, s| {
                let stream = s.transport == Transport::Sse;
                if stream {
                    streams.push((user.clone(), s.id));
                }
                stream
            });
        }
        streams
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::hub::{HubLimits, Push};

    #[tokio::test]
    async fn streams_end_spread_over_the_drain_and_polls_at_once() {
        let hub = Hub::new(
            HubLimits {
                per_user: 100,
                total: 100,
                queue_len: 4,
            },
            crate::metrics::Metrics::new(),
        );
        let user = UserId::parse("a").unwrap();
        let mut poll = hub.subscribe(user.clone(), Transport::Poll).unwrap();
        let mut streams: Vec<_> = (0..10)
            .map(|_| hub.subscribe(user.clone(), Transport::Sse).unwrap())
            .collect();
        let started = Instant::now();
        let draining = tokio::spawn({
            let hub = hub.clone();
            async move { hub.drain(Duration::from_millis(500)).await }
        });
        assert!(poll.rx.recv().await.is_none(), "the poll is let go at once");
        assert!(started.elapsed() < Duration::from_millis(100));
        let mut ends = Vec::new();
        for s in &mut streams {
            assert!(matches!(
                s.rx.recv().await,
                Some(Push::End(EndReason::Shutdown))
            ));
            ends.push(started.elapsed());
            assert!(s.rx.recv().await.is_none());
        }
        draining.await.unwrap();
        assert!(
            ends[0] < Duration::from_millis(100),
            "the first at once: {ends:?}"
        );
        assert!(
            ends[9] >= Duration::from_millis(400),
            "the last near the end: {ends:?}"
        );
        assert!(
            hub.subscribe(user, Transport::Sse).is_err(),
            "no new subscriber"
        );
        assert_eq!(hub.connections(), 0);
    }
}
