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
//!
//! When the relay stops (the shutdown token), the bridge appends what it has already received,
//! stream ingest finishes its round (what it read is acknowledged once stored), and both
//! return; the lease is left to expire, as when the process dies.

use std::{sync::Arc, time::Duration};

use futures_util::{FutureExt, StreamExt, stream::FuturesOrdered};
use tokio_util::sync::CancellationToken;

mod batch;

use crate::{
    backoff::Backoff,
    broker::redis::RedisBroker,
    event::ParseLimits,
    ingest_stream::{self, StreamSettings},
    lease::Leadership,
};

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

/// Competes for the lease and, while holding it, bridges messages; runs until `shutdown`.
pub async fn run_bridge(
    redis: Arc<RedisBroker>,
    settings: BridgeSettings,
    status: Arc<Leadership>,
    shutdown: CancellationToken,
) {
    let token = format!("{:032x}", rand::random::<u128>());
    let renew_every = settings.lease / 3;
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    // Numbers every message this token appends (see `RedisBroker::append_batch_fenced`).
    let mut seq = 0;
    let pause = async |delay: Duration| {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => {}
        }
    };
    while !shutdown.is_cancelled() {
        match redis.hold_lease(&token, settings.lease).await {
            Ok(true) => {
                tracing::info!("holding the bridge lease: subscribing to pub/sub");
                let holding = Holding {
                    token: &token,
                    renew_every,
                    shutdown: &shutdown,
                };
                match bridge_while_holding(&redis, &settings, &status, &holding, &mut seq).await {
                    Ok(()) => backoff.reset(),
                    Err(e) => tracing::warn!(error = %e, "bridge interrupted"),
                }
                status.set_held(false);
            }
            Ok(false) => {
                backoff.reset();
                pause(renew_every).await;
                continue;
            }
            Err(e) => tracing::warn!(error = %e, "cannot reach redis for the bridge lease"),
        }
        pause(backoff.next_delay()).await;
    }
}

/// What the holder of the lease carries through its rounds.
struct Holding<'a> {
    /// This instance's lease token.
    token: &'a str,
    /// How often the lease is renewed.
    renew_every: Duration,
    /// Cancelled when the relay stops.
    shutdown: &'a CancellationToken,
}

/// Bridges pub/sub, and reads the ingest stream if configured, until the lease is lost, a
/// connection drops, or the relay stops; both stop together (on shutdown, each finishes first).
async fn bridge_while_holding(
    redis: &RedisBroker,
    settings: &BridgeSettings,
    status: &Leadership,
    holding: &Holding<'_>,
    seq: &mut u64,
) -> Result<(), String> {
    let pubsub = pubsub_while_holding(redis, settings, status, holding, seq);
    let Some(stream) = &settings.stream else {
        return pubsub.await;
    };
    let stream = ingest_stream::consume_while_holding(
        redis,
        stream,
        holding.token,
        &status.metrics,
        holding.shutdown,
    );
    let stream = async { stream.await.map_err(|e| format!("ingest stream: {e}")) };
    tokio::pin!(pubsub, stream);
    let (first, other) = tokio::select! {
        r = &mut pubsub => (r, futures_util::future::Either::Left(stream)),
        r = &mut stream => (r, futures_util::future::Either::Right(pubsub)),
    };
    if holding.shutdown.is_cancelled() {
        // Let the other side settle what it holds rather than drop it mid-append.
        let _ = other.await;
    }
    first
}

/// Subscribes and appends until the lease is lost or the connection drops.
///
/// Messages are appended in batches of what has already arrived: one at a time while they
/// trickle in (no added latency), hundreds per round trip under load, so the bridge keeps up
/// with a fast publisher instead of letting Redis's output buffer for it grow until cut.
async fn pubsub_while_holding(
    redis: &RedisBroker,
    settings: &BridgeSettings,
    status: &Leadership,
    holding: &Holding<'_>,
    seq: &mut u64,
) -> Result<(), String> {
    let Holding {
        token,
        renew_every,
        shutdown,
    } = *holding;
    let mut pubsub = redis.store().pubsub().await.map_err(|e| e.to_string())?;
    for channel in &settings.channels {
        pubsub.subscribe(channel).await.map_err(|e| e.to_string())?;
    }
    status.set_held(true);
    tracing::info!(channels = ?settings.channels, "bridging pub/sub channels");
    let mut messages = pubsub.on_message();
    let mut renew = tokio::time::interval(renew_every);
    renew.tick().await;
    let mut inflight = FuturesOrdered::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                // What has been received is appended; what is published from now on reaches
                // the next holder, or nobody (pub/sub is at-most-once).
                batch::settle_all(redis, token, status, &mut inflight).await;
                return Ok(());
            }
            Some(sent) = inflight.next(), if !inflight.is_empty() => {
                if batch::settle(redis, token, status, sent, &mut inflight).await == Outcome::LeaseLost {
                    return Ok(());
                }
            }
            msg = messages.next(), if inflight.len() < batch::IN_FLIGHT => {
                let Some(first) = msg else {
                    batch::settle_all(redis, token, status, &mut inflight).await;
                    return Err("pub/sub connection lost".into());
                };
                let mut bytes = first.get_payload_bytes().len();
                let mut msgs = vec![first];
                let mut closed = false;
                while msgs.len() < batch::MAX_BATCH && bytes < batch::MAX_BATCH_BYTES {
                    match messages.next().now_or_never() {
                        Some(Some(msg)) => {
                            bytes += msg.get_payload_bytes().len();
                            msgs.push(msg);
                        }
                        Some(None) => {
                            closed = true;
                            break;
                        }
                        None => break,
                    }
                }
                let parsed = batch::parse_batch(&msgs, settings, status);
                if !parsed.0.is_empty() {
                    let first_seq = *seq;
                    *seq += parsed.0.len() as u64;
                    inflight.push_back(batch::send(redis, token, parsed, first_seq));
                }
                if closed {
                    batch::settle_all(redis, token, status, &mut inflight).await;
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

/// Whether the bridge may go on appending.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    LeaseLost,
}
