//! The log tail: `XREAD BLOCK` on its own connection, resumed from the last id after any error.
//! A partitioned store has one tail per partition (`XREAD BLOCK` cannot span slots), each with
//! its own connection and last id; the hub is live once every partition's tail is positioned.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use redis::Value;

use super::{
    RedisBroker, STALE_PENDING_MS, TAIL_BATCH, TAIL_BLOCK_MS,
    reply::{add_snapshot_page, parse_log_entry, xread_entries},
};
use crate::{
    backoff::Backoff,
    broker::{BrokerError, LogEntry, TailSink},
    event::EventId,
    redis_store::BlockingConnection,
};

/// Members of a topic snapshot read per `ZRANGE`.
const SNAPSHOT_PAGE: usize = 5_000;

/// Hands the sink every partition's entries, and says it is live once all are positioned.
pub(super) struct Positions {
    sink: Arc<dyn TailSink>,
    /// Partitions whose tail is not positioned yet.
    waiting: AtomicUsize,
    /// The newest head a partition started from (the hub only needs to know it is live).
    head: std::sync::Mutex<EventId>,
}

impl Positions {
    /// `sink` itself for one partition; otherwise a wrapper that waits for all `partitions`.
    pub(super) fn wrap(sink: Arc<dyn TailSink>, partitions: usize) -> Arc<dyn TailSink> {
        if partitions <= 1 {
            return sink;
        }
        Arc::new(Self {
            sink,
            waiting: AtomicUsize::new(partitions),
            head: std::sync::Mutex::new(EventId::ZERO),
        })
    }
}

impl TailSink for Positions {
    fn live(&self) {
        self.live_from(EventId::ZERO);
    }

    fn live_from(&self, head: EventId) {
        let newest = {
            let mut newest = self.head.lock().unwrap_or_else(|p| p.into_inner());
            *newest = (*newest).max(head);
            *newest
        };
        if self.waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.sink.live_from(newest);
        }
    }

    fn entry(&self, entry: &LogEntry) {
        self.sink.entry(entry);
    }

    fn interrupted(&self) {
        self.sink.interrupted();
    }

    fn open(&self) -> bool {
        self.sink.open()
    }
}

impl RedisBroker {
    /// Runs partition `p`'s tail until the sink closes.
    pub(super) async fn run_tail(self: Arc<Self>, p: usize, sink: Arc<dyn TailSink>) {
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
                        let head = self.partition_head(p).await?;
                        if head < id {
                            tracing::warn!(from = %head, seen = %id, "the redis log ends before the last entry tailed (failover?): resuming from its head");
                            last = Some(head);
                            head
                        } else {
                            id
                        }
                    }
                    None => {
                        let head = self.partition_head(p).await?;
                        last = Some(head);
                        sink.live_from(head);
                        head
                    }
                };
                tracing::info!(from = %from, partition = p, "tailing the redis log");
                backoff.reset();
                self.tail_from(p, &mut conn, from, &mut last, &*sink).await
            }
            .await;
            if !sink.open() {
                return;
            }
            if let Err(e) = result {
                sink.interrupted();
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, partition = p, retry_in_ms = delay.as_millis() as u64, "redis tail lost");
                tokio::time::sleep(delay).await;
            }
        }
    }

    async fn tail_from(
        &self,
        p: usize,
        conn: &mut BlockingConnection,
        mut from: EventId,
        last: &mut Option<EventId>,
        sink: &dyn TailSink,
    ) -> Result<(), BrokerError> {
        let log = self.pkey(p, "log");
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
                if let Err(e) = self.finish_stale_pending(p).await {
                    tracing::warn!(error = %e, "could not finish stale big appends");
                }
            }
            for entry in xread_entries(reply)? {
                let (mut entry, in_snapshot) = parse_log_entry(entry)?;
                if in_snapshot > 0 {
                    self.read_snapshot(p, conn, &mut entry, in_snapshot, sink)
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
        p: usize,
        conn: &mut BlockingConnection,
        entry: &mut LogEntry,
        count: usize,
        sink: &dyn TailSink,
    ) -> Result<(), BrokerError> {
        let key = self.pkey(p, &format!("r:{}", entry.event.id));
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
