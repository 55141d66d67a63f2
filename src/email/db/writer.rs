//! Drains the Redis queue of log record copies (`notifications:db`) into the SQL table.
//!
//! Run by whichever instance holds the bridge lease, like the outbox mover. Each round reads the
//! oldest copies (in the order the changes happened), keeps the newest copy per record, upserts
//! them in one statement, and only then deletes them from the stream. If the database is down
//! the copies stay in Redis and the round is retried with a growing delay; a writer that dies
//! between the commit and the delete writes the same copies again, which changes nothing (see
//! [`super::upsert`]). When the relay stops, the writer returns between rounds.

use std::{collections::HashMap, sync::Arc, time::Duration};

use redis::streams::StreamRangeReply;
use tokio_util::sync::CancellationToken;

use super::{DbError, NotificationsDb};
use crate::{
    backoff::Backoff,
    broker::BrokerError,
    email::{notification_log, outbox::TICK},
    lease::Leadership,
    metrics::NotificationsDbMetrics,
    redis_store::RedisStore,
};

/// Copies read and written per round: at most 1,000 rows of 11 values, well under the 65,535
/// placeholders both databases take in one statement.
const BATCH: usize = 1_000;
/// Longest one write may take before it counts as failed (and is retried).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The Redis stream of record copies waiting for the database, under the relay's prefix.
pub const QUEUE: &str = "notifications:db";

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error(transparent)]
    Redis(#[from] BrokerError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("notifications database: a write took longer than {0:?}")]
    Timeout(Duration),
}

/// Writes queued copies to the database while this instance holds the bridge lease, until
/// `shutdown`.
pub async fn run(
    redis: Arc<RedisStore>,
    db: Arc<NotificationsDb>,
    bridge: Arc<Leadership>,
    metrics: NotificationsDbMetrics,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let mut failing = false;
    // Between rounds only: a round interrupted half-way would be written again anyway, but
    // stopping there gains nothing.
    let pause = async |delay: Duration| {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => {}
        }
    };
    while !shutdown.is_cancelled() {
        if !bridge.held() {
            pause(TICK).await;
            continue;
        }
        match round(&redis, &db, &metrics).await {
            Ok(written) => {
                if failing {
                    tracing::info!("notifications database reachable again: writing the backlog");
                    failing = false;
                }
                backoff.reset();
                metrics.written.inc_by(written as u64);
                if written < BATCH {
                    pause(TICK).await;
                }
            }
            Err(e) => {
                metrics.errors.inc();
                let delay = backoff.next_delay();
                // Once per outage at WARN; the retries of the same outage at DEBUG.
                if failing {
                    tracing::debug!(error = %e, retry_in_ms = delay.as_millis() as u64, "notification log still not written");
                } else {
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "notification log not written to its database; retrying, the changes wait in redis");
                    failing = true;
                }
                pause(delay).await;
            }
        }
    }
}

/// One batch: read, write, delete. Returns the number of copies handled.
async fn round(
    redis: &RedisStore,
    db: &NotificationsDb,
    metrics: &NotificationsDbMetrics,
) -> Result<usize, RoundError> {
    // First of all the table, so that it exists from the start, not from the first email.
    db.ensure_table().await?;
    let mut handled = 0;
    for p in 0..redis.partitions().len() {
        handled += round_in(redis, p, db, metrics).await?;
    }
    Ok(handled)
}

/// One batch of partition `p`'s queue (the log's copies are queued in the partition of the
/// record's user).
async fn round_in(
    redis: &RedisStore,
    p: usize,
    db: &NotificationsDb,
    metrics: &NotificationsDbMetrics,
) -> Result<usize, RoundError> {
    let queue = redis.partition_key(p, QUEUE);
    let mut conn = redis.connection().await.map_err(BrokerError::from)?;
    let reply: StreamRangeReply = redis::cmd("XRANGE")
        .arg(&queue)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(BATCH)
        .query_async(&mut conn)
        .await
        .map_err(BrokerError::from)?;
    if reply.ids.is_empty() {
        return Ok(0);
    }
    let entry_ids: Vec<String> = reply.ids.iter().map(|e| e.id.clone()).collect();
    let records = newest_per_record(reply.ids.into_iter().map(|e| {
        e.map
            .into_iter()
            .filter_map(|(k, v)| redis::from_redis_value::<String>(v).ok().map(|v| (k, v)))
            .collect()
    }));
    write(db, &records, metrics).await?;
    redis::cmd("XDEL")
        .arg(&queue)
        .arg(&entry_ids)
        .query_async::<i64>(&mut conn)
        .await
        .map_err(BrokerError::from)?;
    Ok(entry_ids.len())
}

/// Writes the batch in one statement. If the database refuses it for its data (a value a
/// column or constraint of the app's table does not take), writes the records one by one and
/// skips, with an error in the log, only those it refuses: one bad record must not hold up the
/// log for good. Any other failure (down, missing table, no permission) is retried as a whole.
async fn write(
    db: &NotificationsDb,
    records: &[notification_log::Record],
    metrics: &NotificationsDbMetrics,
) -> Result<(), RoundError> {
    let timed = |records| async move {
        tokio::time::timeout(WRITE_TIMEOUT, db.upsert(records))
            .await
            .map_err(|_| RoundError::Timeout(WRITE_TIMEOUT))?
            .map_err(RoundError::Db)
    };
    match timed(records).await {
        Err(RoundError::Db(e)) if e.is_about_the_data() => {}
        done => return done,
    }
    for record in records {
        match timed(std::slice::from_ref(record)).await {
            Err(RoundError::Db(e)) if e.is_about_the_data() => {
                metrics.rejected.inc();
                tracing::error!(id = %record.id, error = %e, "the notifications database refused this record; skipped");
            }
            other => other?,
        }
    }
    Ok(())
}

/// The last copy of each record, in the order the records first appear (one statement may
/// not touch a row twice).
fn newest_per_record(
    copies: impl Iterator<Item = HashMap<String, String>>,
) -> Vec<notification_log::Record> {
    let mut out: Vec<notification_log::Record> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for copy in copies {
        let record = notification_log::record(copy);
        if record.id.is_empty() || record.user.is_empty() {
            continue;
        }
        match at.get(&record.id) {
            Some(&i) => out[i] = record,
            None => {
                at.insert(record.id.clone(), out.len());
                out.push(record);
            }
        }
    }
    out
}

/// Copies waiting in Redis for the database (the backlog).
pub async fn backlog(redis: &RedisStore) -> Result<u64, BrokerError> {
    let mut conn = redis.connection().await?;
    let mut total = 0;
    for p in 0..redis.partitions().len() {
        total += redis::cmd("XLEN")
            .arg(redis.partition_key(p, QUEUE))
            .query_async::<u64>(&mut conn)
            .await
            .map_err(BrokerError::from)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(id: &str, status: &str, attempts: u64) -> HashMap<String, String> {
        [
            ("id", id.to_owned()),
            ("user", "u".to_owned()),
            ("status", status.to_owned()),
            ("attempts", attempts.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    #[test]
    fn a_batch_keeps_the_last_copy_of_each_record_in_first_seen_order() {
        let rows = newest_per_record(
            [
                copy("1-0", "queued", 0),
                copy("2-0", "queued", 0),
                copy("1-0", "queued", 1),
                copy("1-0", "sent", 1),
            ]
            .into_iter(),
        );
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.id.as_str(), r.status.as_str()))
            .collect();
        assert_eq!(got, [("1-0", "sent"), ("2-0", "queued")]);
        assert_eq!(rows[0].attempts, 1);
    }
}
