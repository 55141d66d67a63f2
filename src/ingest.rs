//! The pub/sub bridge: messages on the configured Redis channels become appended events.
//!
//! A PHP app's `PUBLISH image_update {...}` lands here. Pub/sub connections do not reconnect by
//! themselves, so this loop reconnects with backoff and subscribes again; messages published
//! while no bridge is subscribed are lost to the publisher's view (its PUBLISH reports 0
//! receivers), as with any pub/sub.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures_util::StreamExt;
use redis::Client;

use crate::{
    backoff::Backoff,
    broker::{Broker, BrokerError},
    event::{NewEvent, ParseLimits},
};

/// Counters of the bridge.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Messages appended.
    pub accepted: AtomicU64,
    /// Messages skipped as malformed.
    pub rejected: AtomicU64,
    /// Messages lost because the broker would not take them.
    pub failed: AtomicU64,
}

/// Subscribes to `channels` and appends each valid message, until the process ends.
pub async fn run_pubsub(
    client: Client,
    channels: Vec<String>,
    broker: Arc<dyn Broker>,
    limits: ParseLimits,
    stats: Arc<IngestStats>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                let subscribed = async {
                    for channel in &channels {
                        pubsub.subscribe(channel).await?;
                    }
                    Ok::<_, redis::RedisError>(())
                }
                .await;
                match subscribed {
                    Ok(()) => {
                        tracing::info!(channels = ?channels, "subscribed to pub/sub channels");
                        backoff.reset();
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            ingest_one(
                                msg.get_channel_name(),
                                msg.get_payload_bytes(),
                                &*broker,
                                limits,
                                &stats,
                            )
                            .await;
                        }
                        tracing::warn!("pub/sub connection lost; resubscribing");
                    }
                    Err(e) => tracing::warn!(error = %e, "pub/sub subscribe failed"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "pub/sub connect failed"),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Parses and appends one message; a bad one is logged with the reason and skipped.
pub async fn ingest_one(
    channel: &str,
    payload: &[u8],
    broker: &dyn Broker,
    limits: ParseLimits,
    stats: &IngestStats,
) {
    let event = match NewEvent::parse(payload, limits) {
        Ok(event) => event,
        Err(reason) => {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(channel, bytes = payload.len(), %reason, "skipped a malformed pub/sub message");
            return;
        }
    };
    // The message arrived over this same Redis, so a failure here is a blip: retry briefly.
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    for attempt in 1..=5 {
        match broker.append(&event).await {
            Ok(id) => {
                stats.accepted.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(channel, %id, "ingested pub/sub message");
                return;
            }
            Err(BrokerError::Unavailable(e)) if attempt < 5 => {
                tracing::warn!(channel, attempt, error = %e, "append failed; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(e) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(channel, error = %e, "lost a pub/sub message: the broker would not take it");
                return;
            }
        }
    }
}
