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

use futures_util::StreamExt;

use crate::{
    backoff::Backoff,
    broker::{BrokerError, redis::RedisBroker},
    event::{EventError, NewEvent, ParseLimits},
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
    loop {
        match redis.hold_lease(&token, settings.lease).await {
            Ok(true) => {
                tracing::info!("holding the bridge lease: subscribing to pub/sub");
                match bridge_while_holding(&redis, &settings, &status, &token, renew_every).await {
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

/// Subscribes and appends until the lease is lost or the connection drops.
async fn bridge_while_holding(
    redis: &RedisBroker,
    settings: &BridgeSettings,
    status: &BridgeStatus,
    token: &str,
    renew_every: Duration,
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
                let Some(msg) = msg else { return Err("pub/sub connection lost".into()) };
                let channel = msg.get_channel_name();
                let fallback = settings.fallback_channels.iter().any(|c| c == channel);
                let outcome = ingest_one(redis, token, channel, msg.get_payload_bytes(), settings.limits, fallback, status).await;
                if outcome == Outcome::LeaseLost {
                    return Ok(());
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

/// Parses and appends one message; a bad one is logged with the reason and skipped.
async fn ingest_one(
    redis: &RedisBroker,
    token: &str,
    channel: &str,
    payload: &[u8],
    limits: ParseLimits,
    fallback: bool,
    status: &BridgeStatus,
) -> Outcome {
    let event = match NewEvent::parse(payload, limits) {
        Ok(event) => NewEvent {
            fallback: event.fallback || fallback,
            ..event
        },
        Err(reason) => {
            // The same codes an HTTP publisher would get for this message.
            let code = match reason {
                EventError::TooLarge(_) => "payload_too_large",
                EventError::ReservedEventName(_) => "reserved_event",
                _ => "bad_event",
            };
            status.metrics.reject("pubsub", code);
            tracing::warn!(channel, bytes = payload.len(), %reason, "skipped a malformed pub/sub message");
            return Outcome::Done;
        }
    };
    // The message arrived over this same Redis, so a failure here is a blip: retry briefly.
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    for attempt in 1..=5 {
        match redis.append_fenced(&event, token).await {
            Ok(appended) => {
                status.metrics.ingested_pubsub.inc();
                tracing::debug!(channel, id = ?appended.id, recipients = appended.recipients, "ingested pub/sub message");
                return Outcome::Done;
            }
            Err(BrokerError::NotLeaseHolder) => {
                tracing::warn!(
                    channel,
                    "not appending: the bridge lease moved to another instance"
                );
                return Outcome::LeaseLost;
            }
            Err(BrokerError::Unavailable(e)) if attempt < 5 => {
                tracing::warn!(channel, attempt, error = %e, "append failed; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(e @ BrokerError::TopicTooLarge(_)) => {
                status.metrics.reject("pubsub", "topic_too_large");
                tracing::warn!(channel, reason = %e, "skipped a pub/sub message to a topic over the cap");
                return Outcome::Done;
            }
            Err(e) => {
                status.metrics.reject("pubsub", "broker_unavailable");
                tracing::error!(channel, error = %e, "lost a pub/sub message: the broker would not take it");
                return Outcome::Done;
            }
        }
    }
    Outcome::Done
}
