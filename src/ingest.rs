//! The pub/sub bridge: messages on the configured Redis channels become appended events.
//!
//! A PHP app's `PUBLISH image_update {...}` lands here. With several relays on one Redis, each
//! message must be appended once, not once per relay: the relays compete for a lease in Redis,
//! the holder subscribes and appends, the others stand by and take over within a lease length if
//! the holder dies. Appends are fenced by the lease (the append script checks the holder), so a
//! relay that lost its lease without noticing cannot append a duplicate.
//!
//! Pub/sub is at-most-once: a message published while no bridge is subscribed (Redis restarting,
//! the lease changing hands) reaches nobody, and the publisher's `PUBLISH` reports 0 receivers.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures_util::{FutureExt, StreamExt};
use redis::Msg;

use crate::{
    backoff::Backoff,
    broker::{
        BrokerError,
        redis::{ItemOutcome, RedisBroker},
    },
    event::{EventError, NewEvent, ParseLimits},
    ingest_stream::{self, StreamSettings},
    metrics::Metrics,
};

/// What the bridge is doing, for readiness and metrics.
pub struct BridgeStatus {
    /// True while this instance holds the lease and is subscribed.
    pub holder: AtomicBool,
    /// Where accepted, malformed and failed messages are counted.
    pub metrics: Arc<Metrics>,
}

impl BridgeStatus {
    /// A bridge that does not hold the lease yet.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            holder: AtomicBool::new(false),
            metrics,
        }
    }
}

/// How the bridge runs.
#[derive(Debug, Clone)]
pub struct BridgeSettings {
    /// Channels to subscribe to.
    pub channels: Vec<String>,
    /// Limits for parsing messages.
    pub limits: ParseLimits,
    /// Lease length: a dead holder is replaced within about this long.
    pub lease: Duration,
    /// Channels whose messages fall back to email as if they said `"fallback": "email"`.
    pub fallback_channels: Vec<String>,
    /// The ingest stream the lease holder also reads, if stream ingest is on.
    pub stream: Option<StreamSettings>,
}

/// Competes for the lease and, while holding it, bridges messages; runs until the process ends.
pub async fn run_bridge(
    redis: Arc<RedisBroker>,
    settings: BridgeSettings,
    status: Arc<BridgeStatus>,
) {
    let token = format!("{:032x}", rand::random::<u128>());
    let renew_every = settings.lease / 3;
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    // Numbers every message this token appends (see `RedisBroker::append_batch_fenced`).
    let mut seq = 0;
    loop {
        match redis.hold_lease(&token, settings.lease).await {
            Ok(true) => {
                tracing::info!("holding the bridge lease: subscribing to pub/sub");
                match bridge_while_holding(
                    &redis,
                    &settings,
                    &status,
                    &token,
                    renew_every,
                    &mut seq,
                )
                .await
                {
                    Ok(()) => backoff.reset(),
                    Err(e) => tracing::warn!(error = %e, "bridge interrupted"),
                }
                status.holder.store(false, Ordering::Release);
            }
            Ok(false) => {
                backoff.reset();
                tokio::time::sleep(renew_every).await;
                continue;
            }
            Err(e) => tracing::warn!(error = %e, "cannot reach redis for the bridge lease"),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Most pub/sub messages appended in one pipeline.
const MAX_BATCH: usize = 256;
/// Payload bytes after which a batch is closed even if more messages are waiting.
const MAX_BATCH_BYTES: usize = 4 << 20;

/// Bridges pub/sub, and reads the ingest stream if configured, until the lease is lost or a
/// connection drops; both stop together.
async fn bridge_while_holding(
    redis: &RedisBroker,
    settings: &BridgeSettings,
    status: &BridgeStatus,
    token: &str,
    renew_every: Duration,
    seq: &mut u64,
) -> Result<(), String> {
    let pubsub = pubsub_while_holding(redis, settings, status, token, renew_every, seq);
    let Some(stream) = &settings.stream else {
        return pubsub.await;
    };
    let stream = ingest_stream::consume_while_holding(redis, stream, token, &status.metrics);
    tokio::select! {
        r = pubsub => r,
        r = stream => r.map_err(|e| format!("ingest stream: {e}")),
    }
}

/// Subscribes and appends until the lease is lost or the connection drops.
///
/// Messages are appended in batches of what has already arrived: one at a time while they
/// trickle in (no added latency), hundreds per round trip under load, so the bridge keeps up
/// with a fast publisher instead of letting Redis's output buffer for it grow until cut.
async fn pubsub_while_holding(
    redis: &RedisBroker,
    settings: &BridgeSettings,
    status: &BridgeStatus,
    token: &str,
    renew_every: Duration,
    seq: &mut u64,
) -> Result<(), String> {
    let mut pubsub = redis
        .client()
        .get_async_pubsub()
        .await
        .map_err(|e| e.to_string())?;
    for channel in &settings.channels {
        pubsub.subscribe(channel).await.map_err(|e| e.to_string())?;
    }
    status.holder.store(true, Ordering::Release);
    tracing::info!(channels = ?settings.channels, "bridging pub/sub channels");
    let mut messages = pubsub.on_message();
    let mut renew = tokio::time::interval(renew_every);
    renew.tick().await;
    loop {
        tokio::select! {
            msg = messages.next() => {
                let Some(first) = msg else { return Err("pub/sub connection lost".into()) };
                let mut bytes = first.get_payload_bytes().len();
                let mut batch = vec![first];
                let mut closed = false;
                while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                    match messages.next().now_or_never() {
                        Some(Some(msg)) => {
                            bytes += msg.get_payload_bytes().len();
                            batch.push(msg);
                        }
                        Some(None) => {
                            closed = true;
                            break;
                        }
                        None => break,
                    }
                }
                let events = parse_batch(&batch, settings, status);
                if ingest_batch(redis, token, &events, seq, status).await == Outcome::LeaseLost {
                    return Ok(());
                }
                if closed {
                    return Err("pub/sub connection lost".into());
                }
            }
            _ = renew.tick() => match redis.hold_lease(token, settings.lease).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("lost the bridge lease: standing by");
                    return Ok(());
                }
                Err(e) => return Err(e.to_string()),
            },
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    LeaseLost,
}

/// Parses a batch of messages; a bad one is logged with the reason, counted and left out.
fn parse_batch(batch: &[Msg], settings: &BridgeSettings, status: &BridgeStatus) -> Vec<NewEvent> {
    let mut events = Vec::with_capacity(batch.len());
    for msg in batch {
        let channel = msg.get_channel_name();
        let payload = msg.get_payload_bytes();
        match NewEvent::parse(payload, settings.limits) {
            Ok(event) => {
                let fallback = settings.fallback_channels.iter().any(|c| c == channel);
                events.push(NewEvent {
                    fallback: event.fallback || fallback,
                    ..event
                });
            }
            Err(reason) => {
                // The same codes an HTTP publisher would get for this message.
                let code = match reason {
                    EventError::TooLarge(_) => "payload_too_large",
                    _ => "bad_event",
                };
                status.metrics.reject("pubsub", code);
                tracing::warn!(channel, bytes = payload.len(), %reason, "skipped a malformed pub/sub message");
            }
        }
    }
    events
}

/// Appends parsed events in order, retrying briefly on a blip; stops if the lease moved.
async fn ingest_batch(
    redis: &RedisBroker,
    token: &str,
    events: &[NewEvent],
    seq: &mut u64,
    status: &BridgeStatus,
) -> Outcome {
    // Numbered once, before the first attempt: a retry reuses the numbers, so what an attempt
    // stored before failing is recognised and not stored again.
    let first_seq = *seq;
    *seq += events.len() as u64;
    let mut done = 0;
    // The messages arrived over this same Redis, so a failure here is a blip: retry briefly.
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    let mut failures = 0;
    while done < events.len() {
        let progress = redis
            .append_batch_fenced(&events[done..], token, Some(first_seq + done as u64))
            .await;
        done += progress.len();
        for outcome in &progress.done {
            match outcome {
                ItemOutcome::Stored(appended) => {
                    status.metrics.ingested_pubsub.inc();
                    tracing::debug!(id = ?appended.id, recipients = appended.recipients, "ingested pub/sub message");
                }
                ItemOutcome::Refused { reason, .. } => {
                    status.metrics.reject("pubsub", "broker_refused");
                    tracing::error!(%reason, "lost a pub/sub message: redis refused its append");
                }
            }
        }
        match progress.stopped {
            None => {}
            Some(BrokerError::NotLeaseHolder) => {
                tracing::warn!(
                    left = events.len() - done,
                    "not appending: the bridge lease moved to another instance"
                );
                return Outcome::LeaseLost;
            }
            Some(BrokerError::Unavailable(e)) if failures < 4 => {
                failures += 1;
                tracing::warn!(attempt = failures, error = %e, "append failed; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Some(e) => {
                let lost = events.len() - done;
                for _ in 0..lost {
                    status.metrics.reject("pubsub", "broker_unavailable");
                }
                tracing::error!(lost, error = %e, "lost pub/sub messages: the broker would not take them");
                return Outcome::Done;
            }
        }
    }
    Outcome::Done
}
