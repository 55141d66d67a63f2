//! The log tail: `XREAD BLOCK` on its own connection, resumed from the last id after any error.

use std::{sync::Arc, time::Duration};

use redis::Value;

use super::{
    RedisBroker, STALE_PENDING_MS, TAIL_BATCH, TAIL_BLOCK_MS,
    reply::{add_snapshot_page, parse_log_entry, xread_entries},
};
use crate::{
    backoff::Backoff,
    broker::{Broker, BrokerError, LogEntry, TailSink},
    event::EventId,
};

/// Members of a topic snapshot read per `ZRANGE`.
const SNAPSHOT_PAGE: usize = 5_000;

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
                    self.metrics.broker_reconnects.inc();
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
                let (mut entry, in_snapshot) = parse_log_entry(entry)?;
                if in_snapshot > 0 {
                    self.read_snapshot(conn, &mut entry, in_snapshot, sink)
                        .await?;
                }
                from = entry.event.id;
                *last = Some(from);
                sink.entry(&entry);
            }
            if !sink.open() {
                return Ok(());
            }
        }
    }

    /// Adds a big topic entry's other recipients from its snapshot `<prefix>r:<id>` (see
    /// `append.lua`), in pages of [`SNAPSHOT_PAGE`] so that no single command holds Redis long.
    /// The snapshot never changes and lives for the history TTL; one that is gone (a tail
    /// further behind than that, or a store that lost it) leaves the entry with the recipients
    /// it names, logged, and the sink told that what it derived may not match the store.
    async fn read_snapshot(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        entry: &mut LogEntry,
        count: usize,
        sink: &dyn TailSink,
    ) -> Result<(), BrokerError> {
        let key = self.key(&format!("r:{}", entry.event.id));
        entry.recipients.reserve(count);
        let mut read = 0;
        while read < count {
            let page: Vec<String> = redis::cmd("ZRANGE")
                .arg(&key)
                .arg(read)
                .arg(read + SNAPSHOT_PAGE - 1)
                .query_async(conn)
                .await
                .map_err(BrokerError::from)?;
            if page.is_empty() {
                break;
            }
            read += page.len();
            add_snapshot_page(page, &mut entry.recipients)?;
        }
        if read != count {
            tracing::error!(id = %entry.event.id, expected = count, found = read, "a topic snapshot is missing or incomplete: its subscribers connected here do not get this event live (they get it on resume)");
            sink.interrupted();
        }
        Ok(())
    }
}
