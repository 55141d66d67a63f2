//! The log tail: `XREAD BLOCK` on its own connection, resumed from the last id after any error.

use std::{sync::Arc, time::Duration};

use redis::Value;

use super::{
    RedisBroker, STALE_PENDING_MS, TAIL_BATCH, TAIL_BLOCK_MS, reply::parse_log_entry,
    reply::xread_entries,
};
use crate::{
    backoff::Backoff,
    broker::{Broker, BrokerError, TailSink},
    event::EventId,
};

impl RedisBroker {
    /// Runs the tail until the sink closes.
    pub(super) async fn run_tail(self: Arc<Self>, sink: Arc<dyn TailSink>) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut last: Option<EventId> = None;
        let mut connected_before = false;
        loop {
            let result = async {
                let mut conn = self
                    .store
                    .blocking_connection(Duration::from_millis(TAIL_BLOCK_MS + 5_000))
                    .await?;
                if connected_before {
                    self.reconnects.inc();
                }
                connected_before = true;
                let from = match last {
                    // A promoted replica may lack the newest entries the tail read from the old
                    // primary (never replicated); new ids there may sort below them, so resume
                    // from its head: everything up to it was replicated, hence delivered.
                    Some(id) => {
                        let head = self.head().await?;
                        if head < id {
                            tracing::warn!(from = %head, seen = %id, "the redis log ends before the last entry tailed (failover?): resuming from its head");
                            last = Some(head);
                            head
                        } else {
                            id
                        }
                    }
                    None => {
                        let head = self.head().await?;
                        last = Some(head);
                        sink.live_from(head);
                        head
                    }
                };
                tracing::info!(from = %from, "tailing the redis log");
                backoff.reset();
                self.tail_from(&mut conn, from, &mut last, &*sink).await
            }
            .await;
            if !sink.open() {
                return;
            }
            if let Err(e) = result {
                sink.interrupted();
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "redis tail lost");
                tokio::time::sleep(delay).await;
            }
        }
    }

    async fn tail_from(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        mut from: EventId,
        last: &mut Option<EventId>,
        sink: &dyn TailSink,
    ) -> Result<(), BrokerError> {
        let log = self.key("log");
        let mut last_sweep = std::time::Instant::now();
        loop {
            let reply: Value = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(TAIL_BATCH)
                .arg("BLOCK")
                .arg(TAIL_BLOCK_MS)
                .arg("STREAMS")
                .arg(&log)
                .arg(from.to_string())
                .query_async(conn)
                .await
                .map_err(BrokerError::from)?;
            if last_sweep.elapsed() > Duration::from_millis(STALE_PENDING_MS / 2) {
                last_sweep = std::time::Instant::now();
                if let Err(e) = self.finish_stale_pending().await {
                    tracing::warn!(error = %e, "could not finish stale big appends");
                }
            }
            for entry in xread_entries(reply)? {
                let entry = parse_log_entry(entry)?;
                from = entry.event.id;
                *last = Some(from);
                sink.entry(&entry);
            }
            if !sink.open() {
                return Ok(());
            }
        }
    }
}
