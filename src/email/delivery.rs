//! Reporting that an email-fallback event reached one of its recipient's live connections, so
//! that recipient gets no email for it.
//!
//! The report is made on the delivery path (an SSE frame yielded, a poll answered), so it must
//! cost nothing there: [`Deliveries::report`] is a `try_send` into a bounded channel, only for
//! fallback events. A task drains the channel every [`DRAIN_EVERY`] and removes the
//! `<id>|<user>` members from the `due` sorted set in one script (`delivered.lua`, which also
//! keeps a big topic append from writing the due entry of a user it has not reached yet). A
//! report lost to a full channel or a Redis outage costs at most an email the user did not
//! need; a delivery is never blocked by it. When the relay stops (after its connections have
//! ended) the task writes what is still queued, then returns.

use std::{sync::Arc, time::Duration};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::EmailStats;
use crate::{
    event::{EventId, UserId},
    redis_store::RedisStore,
    tasks::Tasks,
};

/// How often reports are written.
pub const DRAIN_EVERY: Duration = Duration::from_millis(100);
/// Reports waiting to be written before new ones are dropped.
const CAPACITY: usize = 65_536;
/// Most members removed in one command.
const BATCH: usize = 1_000;

/// The sending side, shared by every connection.
pub struct Deliveries {
    tx: mpsc::Sender<(EventId, UserId)>,
    stats: Arc<EmailStats>,
}

impl Deliveries {
    /// Creates the channel and starts the task writing it to `redis` (reports are discarded
    /// on the memory broker, which has no email).
    pub fn start(
        redis: Option<Arc<RedisStore>>,
        stats: Arc<EmailStats>,
        tasks: &Tasks,
    ) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(CAPACITY);
        tasks.spawn_graceful("delivery-reports", |shutdown| drain(rx, redis, shutdown));
        Arc::new(Self { tx, stats })
    }

    /// Reports that event `id` reached `user`. Never waits.
    pub fn report(&self, id: EventId, user: &UserId) {
        if self.tx.try_send((id, user.clone())).is_err() {
            self.stats.reports_dropped.inc();
        }
    }
}

async fn drain(
    mut rx: mpsc::Receiver<(EventId, UserId)>,
    redis: Option<Arc<RedisStore>>,
    shutdown: CancellationToken,
) {
    let script = redis::Script::new(include_str!("delivered.lua"));
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        // Wait for the first report, then give others a moment to join the batch; once
        // stopping, take what is queued without waiting.
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    return;
                }
                tokio::select! {
                    () = tokio::time::sleep(DRAIN_EVERY) => {}
                    () = shutdown.cancelled() => {}
                }
            }
            () = shutdown.cancelled() => {}
        }
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(report) => batch.push(report),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            // Only when stopping: nothing is left to write.
            return;
        }
        if let Some(redis) = &redis
            && let Err(e) = remove_due(redis, &script, &batch).await
        {
            tracing::warn!(error = %e, reports = batch.len(), "could not record deliveries of fallback events; their recipients may get an email");
        }
        batch.clear();
    }
}

async fn remove_due(
    redis: &RedisStore,
    script: &redis::Script,
    batch: &[(EventId, UserId)],
) -> Result<(), String> {
    // A due entry lives in its user's partition, where the append script wrote it.
    let mut by_partition: Vec<Vec<String>> = vec![Vec::new(); redis.partitions().len()];
    for (id, user) in batch {
        by_partition[redis.partition_of(user.as_str())].push(format!("{id}|{user}"));
    }
    let mut conn = redis.connection().await.map_err(|e| e.to_string())?;
    for (p, members) in by_partition.iter().enumerate() {
        if members.is_empty() {
            continue;
        }
        let mut call = script.prepare_invoke();
        // The key only routes the script to the partition's node (see delivered.lua).
        call.key(redis.partition_key(p, "due"))
            .arg(redis.partition_prefix(p));
        for member in members {
            call.arg(member);
        }
        call.invoke_async::<i64>(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
