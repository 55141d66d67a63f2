//! The bridge's appending: parsed messages go to Redis in ordered, pipelined batches.
//!
//! Up to [`IN_FLIGHT`] batches are sent before the first one's answer, so Redis runs one while
//! the relay reads and encodes the next; on one connection Redis runs them in the order sent.
//! When a batch stops early (a blip, the script missing after a Redis restart), the batches
//! still in flight are awaited and what is left is redone in order, one batch at a time; each
//! message's sequence number makes a redo skip what an attempt had stored. What a later batch
//! already stored cannot be overtaken: an earlier leftover is then counted lost, not redone
//! out of order.

use std::{future::Future, time::Duration};

use futures_util::{StreamExt, stream::FuturesOrdered};
use redis::Msg;

use super::{BridgeSettings, Outcome};
use crate::lease::Leadership;
use crate::{
    backoff::Backoff,
    broker::{
        BrokerError,
        redis::{BatchProgress, ItemOutcome, RedisBroker},
    },
    event::{EventError, NewEvent},
    trace::Source,
};

/// Most pub/sub messages appended in one pipeline (a pipeline holds Redis for about this many
/// script runs, so other clients wait at most that long).
pub(super) const MAX_BATCH: usize = 256;
/// Payload bytes after which a batch is closed even if more messages are waiting.
pub(super) const MAX_BATCH_BYTES: usize = 4 << 20;
/// Batches sent before the first one's answer.
pub(super) const IN_FLIGHT: usize = 2;

/// A batch sent, with what became of it.
pub(super) struct Sent {
    events: Vec<NewEvent>,
    /// The channel each event came on (for the delivery trace).
    channels: Vec<String>,
    first_seq: u64,
    progress: BatchProgress,
}

/// Sends one batch, numbered from `first_seq`, as one pipeline.
pub(super) async fn send(
    redis: &RedisBroker,
    token: &str,
    (events, channels): (Vec<NewEvent>, Vec<String>),
    first_seq: u64,
) -> Sent {
    let progress = redis
        .append_pipeline_fenced(&events, token, Some(first_seq))
        .await;
    Sent {
        events,
        channels,
        first_seq,
        progress,
    }
}

/// Counts a finished batch and, if it stopped early, settles everything still in flight.
pub(super) async fn settle<F: Future<Output = Sent>>(
    redis: &RedisBroker,
    token: &str,
    status: &Leadership,
    first: Sent,
    inflight: &mut FuturesOrdered<F>,
) -> Outcome {
    count(&first.events, &first.channels, &first.progress, status);
    match first.progress.stopped {
        None => return Outcome::Done,
        Some(BrokerError::NotLeaseHolder) => return lease_lost(),
        Some(_) => {}
    }
    let mut batches = vec![first];
    while let Some(sent) = inflight.next().await {
        count(&sent.events, &sent.channels, &sent.progress, status);
        batches.push(sent);
    }
    for (i, sent) in batches.iter().enumerate() {
        let rest = &sent.events[sent.progress.len()..];
        match &sent.progress.stopped {
            None => continue,
            Some(BrokerError::NotLeaseHolder) => return lease_lost(),
            Some(e) => {
                let overtaken = batches[i + 1..].iter().any(|later| {
                    later
                        .progress
                        .done
                        .iter()
                        .any(|o| matches!(o, ItemOutcome::Stored(_)))
                });
                if overtaken {
                    lost(rest.len(), &e.to_string(), status);
                    continue;
                }
                tracing::warn!(error = %e, left = rest.len(), "append failed; redoing in order");
                let first_seq = sent.first_seq + sent.progress.len() as u64;
                let channels = &sent.channels[sent.progress.len()..];
                if redo(redis, token, (rest, channels), first_seq, status).await
                    == Outcome::LeaseLost
                {
                    return Outcome::LeaseLost;
                }
            }
        }
    }
    Outcome::Done
}

/// Settles every batch in flight (before leaving the bridge loop).
pub(super) async fn settle_all<F: Future<Output = Sent>>(
    redis: &RedisBroker,
    token: &str,
    status: &Leadership,
    inflight: &mut FuturesOrdered<F>,
) {
    while let Some(sent) = inflight.next().await {
        if settle(redis, token, status, sent, inflight).await == Outcome::LeaseLost {
            return;
        }
    }
}

fn lease_lost() -> Outcome {
    tracing::warn!("not appending: the bridge lease moved to another instance");
    Outcome::LeaseLost
}

fn lost(n: usize, error: &str, status: &Leadership) {
    for _ in 0..n {
        status.metrics.reject("pubsub", "broker_unavailable");
    }
    tracing::error!(
        lost = n,
        error,
        "lost pub/sub messages: the broker would not take them"
    );
}

/// Counts a batch's stored and refused messages; `events` and `channels` start where
/// `progress` does.
fn count(events: &[NewEvent], channels: &[String], progress: &BatchProgress, status: &Leadership) {
    for ((outcome, event), channel) in progress.done.iter().zip(events).zip(channels) {
        match outcome {
            ItemOutcome::Stored(appended) => {
                status.metrics.ingested_pubsub.inc();
                status
                    .metrics
                    .trace
                    .appended(event, appended, Source::PubSub, Some(channel));
                tracing::debug!(id = ?appended.id, recipients = appended.recipients, "ingested pub/sub message");
            }
            ItemOutcome::Unconfirmed { reason } => {
                // As an HTTP publish would get 503: the event may exist on the primary alone.
                status.metrics.reject("pubsub", "broker_unavailable");
                tracing::error!(%reason, "a pub/sub message's append was not confirmed by the replicas");
            }
            ItemOutcome::Refused { reason, .. } if reason.contains("TOPICTOOLARGE") => {
                status.metrics.reject("pubsub", "topic_too_large");
                tracing::warn!(%reason, "skipped a pub/sub message to a topic over the cap");
            }
            ItemOutcome::Refused { reason, .. } => {
                status.metrics.reject("pubsub", "broker_refused");
                tracing::error!(%reason, "lost a pub/sub message: redis refused its append");
            }
        }
    }
}

/// Parses a batch of messages; a bad one is logged with the reason, counted and left out.
pub(super) fn parse_batch(
    batch: &[Msg],
    settings: &BridgeSettings,
    status: &Leadership,
) -> (Vec<NewEvent>, Vec<String>) {
    let mut events = Vec::with_capacity(batch.len());
    let mut channels = Vec::with_capacity(batch.len());
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
                channels.push(channel.to_owned());
            }
            Err(reason) => {
                // The same codes an HTTP publisher would get for this message.
                let code = match reason {
                    EventError::TooLarge(_) => "payload_too_large",
                    EventError::ReservedEventName(_) => "reserved_event",
                    _ => "bad_event",
                };
                status.metrics.reject("pubsub", code);
                tracing::warn!(channel, bytes = payload.len(), %reason, "skipped a malformed pub/sub message");
            }
        }
    }
    (events, channels)
}

/// Appends events numbered from `first_seq` in order, one batch at a time, retrying briefly on
/// a blip; stops if the lease moved. A retry reuses the numbers, so what an attempt stored
/// before failing is recognised and not stored again.
async fn redo(
    redis: &RedisBroker,
    token: &str,
    (events, channels): (&[NewEvent], &[String]),
    first_seq: u64,
    status: &Leadership,
) -> Outcome {
    let mut done = 0;
    // The messages arrived over this same Redis, so a failure here is a blip: retry briefly.
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    let mut failures = 0;
    while done < events.len() {
        let progress = redis
            .append_batch_fenced(&events[done..], token, Some(first_seq + done as u64))
            .await;
        count(&events[done..], &channels[done..], &progress, status);
        done += progress.len();
        match progress.stopped {
            None => {}
            Some(BrokerError::NotLeaseHolder) => return lease_lost(),
            Some(BrokerError::Unavailable(e)) if failures < 4 => {
                failures += 1;
                tracing::warn!(attempt = failures, error = %e, "append failed; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Some(e) => {
                lost(events.len() - done, &e.to_string(), status);
                return Outcome::Done;
            }
        }
    }
    Outcome::Done
}
