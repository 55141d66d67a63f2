//! The log tail: `XREAD BLOCK` on its own connection, resumed from the last id after any error.

use std::{sync::Arc, time::Duration};

use redis::{AsyncConnectionConfig, Value};

use super::{
    RedisBroker, STALE_PENDING_MS, TAIL_BATCH, TAIL_BLOCK_MS, reply::parse_log_entry,
    reply::xread_entries, unavailable,
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
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_millis(TAIL_BLOCK_MS + 5_000)));
        loop {
            let result = async {
                let mut conn = self
                    .client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(unavailable)?;
                if connected_before {
                    self.metrics.broker_reconnects.inc();
                }
                connected_before = true;
                let from = match last {
                    Some(id) => id,
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
                .map_err(unavailable)?;
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
