//! Stream ingest: events the app adds to a Redis Stream (`XADD notify:ingest * data <json>`),
//! appended exactly once however relays crash or restart.
//!
//! The relays read the stream through one consumer group, each instance under a consumer name
//! of its own, and only the bridge lease holder reads, so events reach each user in stream
//! order. An entry is acknowledged (`XACK`) only once its event is stored. Its event carries an
//! idempotency key (its own `idempotency_key`, else the entry id), recorded inside the append:
//! an entry appended by an instance that died before acknowledging it is claimed by the next
//! lease holder, appended again, and stored nothing the second time.
//!
//! When it takes the lease, the holder first claims every entry other instances left pending
//! (they can no longer append: appends are fenced by the lease), then reads new ones; every
//! `NOTIFY_INGEST_CLAIM_SECS` it also claims entries idle that long (left by an instance that
//! held the lease while this one believed it did). Malformed entries are acknowledged, logged
//! with the reason and counted, never retried. Acknowledged entries are trimmed away.

use std::time::Duration;

use tokio::time::Instant;

use crate::{
    backoff::Backoff,
    broker::{
        BrokerError,
        redis::{IngestEntry, ItemOutcome, RedisBroker},
    },
    event::{EventError, IdempotencyKey, NewEvent, ParseLimits},
    metrics::Metrics,
};

/// Entries read (or claimed) and appended per round trip.
const READ_COUNT: usize = 256;
/// Longest one read waits for new entries; also how late a lost lease is noticed at worst.
const READ_BLOCK: Duration = Duration::from_secs(1);
/// How often the lag is sampled and acknowledged entries are trimmed.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);
/// A consumer idle this long with nothing pending belonged to an instance gone for good.
const FORGET_CONSUMER_AFTER: Duration = Duration::from_secs(3_600);

/// How stream ingest runs.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// The stream's key, as the app writes it.
    pub stream: String,
    /// The relays' consumer group.
    pub group: String,
    /// How long an entry stays pending before the sweep claims it.
    pub claim: Duration,
    /// Limits for parsing entries.
    pub limits: ParseLimits,
}

/// Whether this instance may go on appending.
#[derive(Debug, PartialEq, Eq)]
enum Lease {
    Held,
    Lost,
}

/// Reads and appends while `token` holds the bridge lease: returns `Ok` once it is lost or
/// once `shutdown` is cancelled (between rounds: what was read is stored and acknowledged
/// first), and an error when Redis fails (entries read are left pending and claimed again later).
pub async fn consume_while_holding(
    redis: &RedisBroker,
    settings: &StreamSettings,
    token: &str,
    metrics: &Metrics,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Result<(), BrokerError> {
    let consumer = format!("relay-{}", token.get(..16).unwrap_or(token));
    redis
        .ensure_group(&settings.stream, &settings.group)
        .await?;
    let mut conn = redis.stream_connection(READ_BLOCK).await?;
    tracing::info!(stream = %settings.stream, group = %settings.group, %consumer, "reading the ingest stream");
    if claim(redis, settings, &consumer, Duration::ZERO, token, metrics).await? == Lease::Lost {
        return Ok(());
    }
    let mut last_sweep = Instant::now();
    let mut last_upkeep: Option<Instant> = None;
    while !shutdown.is_cancelled() {
        if last_upkeep.is_none_or(|t| t.elapsed() >= UPKEEP_EVERY) {
            upkeep(redis, settings, &consumer, metrics).await;
            last_upkeep = Some(Instant::now());
        }
        if last_sweep.elapsed() >= settings.claim {
            if claim(redis, settings, &consumer, settings.claim, token, metrics).await?
                == Lease::Lost
            {
                return Ok(());
            }
            last_sweep = Instant::now();
        }
        let entries = redis
            .read_group(
                &mut conn,
                &settings.stream,
                &settings.group,
                &consumer,
                READ_COUNT,
                READ_BLOCK,
            )
            .await?;
        if ingest(redis, settings, token, &entries, metrics).await? == Lease::Lost {
            return Ok(());
        }
    }
    Ok(())
}

/// Claims and appends every entry pending for at least `min_idle`, oldest first.
async fn claim(
    redis: &RedisBroker,
    settings: &StreamSettings,
    consumer: &str,
    min_idle: Duration,
    token: &str,
    metrics: &Metrics,
) -> Result<Lease, BrokerError> {
    let mut cursor = "0-0".to_owned();
    loop {
        let (entries, next) = redis
            .claim_pending(
                &settings.stream,
                &settings.group,
                consumer,
                min_idle,
                &cursor,
                READ_COUNT,
            )
            .await?;
        if !entries.is_empty() {
            tracing::info!(
                count = entries.len(),
                "claimed ingest entries left pending by another instance"
            );
        }
        if ingest(redis, settings, token, &entries, metrics).await? == Lease::Lost {
            return Ok(Lease::Lost);
        }
        if next == "0-0" {
            return Ok(Lease::Held);
        }
        cursor = next;
    }
}

/// Appends the entries' events in order and acknowledges each once stored; malformed entries
/// are acknowledged at once.
async fn ingest(
    redis: &RedisBroker,
    settings: &StreamSettings,
    token: &str,
    entries: &[IngestEntry],
    metrics: &Metrics,
) -> Result<Lease, BrokerError> {
    if entries.is_empty() {
        return Ok(Lease::Held);
    }
    let mut events = Vec::with_capacity(entries.len());
    let mut ids = Vec::with_capacity(entries.len());
    let mut malformed = Vec::new();
    for entry in entries {
        match parse(entry, settings.limits) {
            Ok(event) => {
                events.push(event);
                ids.push(entry.id.as_str());
            }
            Err(reason) => {
                let code = match reason {
                    EventError::TooLarge(_) => "payload_too_large",
                    _ => "bad_event",
                };
                metrics.reject("stream", code);
                tracing::warn!(stream = %settings.stream, entry = %entry.id, %reason, "skipped a malformed ingest entry");
                malformed.push(entry.id.as_str());
            }
        }
    }
    redis
        .ack(&settings.stream, &settings.group, &malformed)
        .await?;
    let mut done = 0;
    let mut failures = 0;
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    while done < events.len() {
        let progress = redis
            .append_batch_fenced(&events[done..], token, None)
            .await;
        // Acknowledged: stored events, and those Redis refuses for good (counted). One refused
        // for now stays pending, for the claim sweep to retry.
        let mut acks = Vec::with_capacity(progress.len());
        for (outcome, id) in progress.done.iter().zip(&ids[done..]) {
            match outcome {
                ItemOutcome::Stored(_) => {
                    metrics.stream.ingested.inc();
                    acks.push(*id);
                }
                ItemOutcome::Unconfirmed { reason } => {
                    // Left pending: the claim sweep appends it again, and its key makes that
                    // store nothing if the primary kept it.
                    tracing::warn!(entry = %id, %reason, "an ingest entry's append was not confirmed by the replicas");
                }
                ItemOutcome::Refused { reason, transient } => {
                    tracing::error!(entry = %id, %reason, transient, "redis refused an ingest entry's append");
                    if !transient {
                        metrics.reject("stream", "broker_refused");
                        acks.push(*id);
                    }
                }
            }
        }
        redis.ack(&settings.stream, &settings.group, &acks).await?;
        done += progress.len();
        match progress.stopped {
            None => {}
            Some(BrokerError::NotLeaseHolder) => {
                tracing::warn!("not appending ingest entries: the bridge lease moved");
                return Ok(Lease::Lost);
            }
            Some(BrokerError::Unavailable(e)) if failures < 4 => {
                failures += 1;
                tracing::warn!(attempt = failures, error = %e, "append of ingest entries failed; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            // Left pending: claimed and appended again once Redis answers.
            Some(e) => return Err(e),
        }
    }
    Ok(Lease::Held)
}

/// An entry's event, keyed by its own idempotency key or else by the entry id.
fn parse(entry: &IngestEntry, limits: ParseLimits) -> Result<NewEvent, EventError> {
    let data = entry
        .data
        .as_deref()
        .ok_or_else(|| EventError::NotJson("the entry has no data field".into()))?;
    let mut event = NewEvent::parse(data, limits)?;
    if event.idempotency_key.is_none() {
        event.idempotency_key = Some(IdempotencyKey::for_stream_entry(&entry.id));
    }
    Ok(event)
}

/// Samples the group's lag, trims the entries it has acknowledged, and forgets consumers of
/// instances long gone.
async fn upkeep(redis: &RedisBroker, settings: &StreamSettings, me: &str, metrics: &Metrics) {
    let result = async {
        let state = redis.group_state(&settings.stream, &settings.group).await?;
        metrics.stream.lag.set(state.lag.unwrap_or(0) as i64);
        metrics.stream.pending.set(state.pending as i64);
        // Everything before the oldest pending entry, or up to the last one read when none is
        // pending, is acknowledged: the stream keeps only what is still to do.
        let keep_from = match redis
            .oldest_pending(&settings.stream, &settings.group)
            .await?
        {
            Some(id) => Some(id),
            None => state.last_delivered.as_deref().and_then(successor),
        };
        if let Some(min_id) = keep_from {
            redis.trim_before(&settings.stream, &min_id).await?;
        }
        redis
            .drop_idle_consumers(&settings.stream, &settings.group, me, FORGET_CONSUMER_AFTER)
            .await?;
        Ok::<(), BrokerError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot sample or trim the ingest stream");
    }
}

/// The id right after `id` (`<ms>-<seq+1>`); `None` for `0-0` (nothing read yet).
fn successor(id: &str) -> Option<String> {
    let (ms, seq) = id.split_once('-')?;
    let (ms, seq): (u64, u64) = (ms.parse().ok()?, seq.parse().ok()?);
    (ms > 0 || seq > 0).then(|| format!("{ms}-{}", seq + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_successor_of_an_entry_id_is_the_next_sequence_number() {
        assert_eq!(successor("1700-4").as_deref(), Some("1700-5"));
        assert_eq!(successor("0-0"), None);
        assert_eq!(successor("junk"), None);
    }
}
