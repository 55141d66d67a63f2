//! The mail worker: reads the outbox stream as a member of the consumer group `mailers` and
//! sends each entry over SMTP.
//!
//! At-least-once: an entry is acknowledged (`XACK`) only after the SMTP server accepted the mail
//! or after a permanent failure was written to the log. A worker that dies holding entries
//! leaves them pending; any worker reclaims entries idle for longer than the reclaim time
//! (`XAUTOCLAIM`), so a mail is delayed, never lost. The one duplicate this allows: a crash
//! between the server's acceptance and the `XACK`. Attempts are counted in the log record, so
//! they survive a crash too. While retrying an entry the worker touches it (`XCLAIM` to itself)
//! so that no other worker reclaims an entry still being worked on.
//!
//! Stopping (the shutdown token): the worker finishes the SMTP exchange it is in and settles
//! that entry, but starts no new one and waits for no retry; entries it read and did not
//! settle stay pending, with their attempts counted, and are reclaimed like a dead worker's.

use std::{sync::Arc, time::Duration};

use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::{
    EmailStats,
    notification_log::{NotificationLog, Status},
    smtp::{Outcome, Smtp},
    templates::Templates,
};
use crate::{backoff::Backoff, broker::BrokerError, redis_store::RedisStore};

mod settle;

/// The consumer group every worker joins.
const GROUP: &str = "mailers";
/// Entries read per call.
const BATCH: usize = 10;
/// How long one read blocks, in ms.
const BLOCK_MS: usize = 1_000;
/// With one outbox per partition: the pause after a round that found every outbox empty.
const PARTITIONS_PAUSE: Duration = Duration::from_millis(200);

/// How the worker retries.
#[derive(Debug, Clone)]
pub struct MailerSettings {
    /// This worker's name in the group (unique per process).
    pub consumer: String,
    /// Attempts per email before it is logged as failed.
    pub max_attempts: u64,
    /// First retry delay.
    pub retry: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Idle time after which another worker's pending entry is reclaimed.
    pub reclaim_idle: Duration,
}

/// Everything the worker needs.
pub struct Mailer {
    /// The Redis store whose outbox is read.
    pub redis: Arc<RedisStore>,
    /// SMTP client.
    pub smtp: Smtp,
    /// Email content.
    pub templates: Templates,
    /// The notification log.
    pub log: NotificationLog,
    /// Counters.
    pub stats: Arc<EmailStats>,
    /// Retry settings.
    pub settings: MailerSettings,
    /// Where sent and failed emails of traced users are recorded.
    pub trace: Arc<crate::trace::Tracer>,
}

#[derive(Deserialize)]
struct Item {
    id: String,
    data: String,
}

impl Mailer {
    /// Works the outbox until `shutdown`, reconnecting after Redis trouble.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(consumer = %self.settings.consumer, "mail worker started");
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        while !shutdown.is_cancelled() {
            if let Err(e) = self.session(&mut backoff, &shutdown).await {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "mail worker lost redis");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => {}
                }
            }
        }
    }

    /// Partition `p`'s outbox (each partition's mover queues its users' digests there).
    fn outbox(&self, p: usize) -> String {
        self.redis.partition_key(p, "outbox")
    }

    /// Reads and sends until Redis fails (`Err`) or `shutdown` (`Ok`).
    async fn session(
        &self,
        backoff: &mut Backoff,
        shutdown: &CancellationToken,
    ) -> Result<(), BrokerError> {
        let mut conn = self.redis.connection().await?;
        let partitions = self.redis.partitions().len();
        for p in 0..partitions {
            let created: Result<(), _> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(self.outbox(p))
                .arg(GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut conn)
                .await;
            if let Err(e) = created
                && e.code() != Some("BUSYGROUP")
            {
                return Err(e.into());
            }
        }
        // Blocking reads get their own connection: the shared one has a short response timeout.
        let mut blocking = self
            .redis
            .blocking_connection(Duration::from_millis(BLOCK_MS as u64 + 5_000))
            .await?;
        backoff.reset();
        let claim_every = (self.settings.reclaim_idle / 2)
            .clamp(Duration::from_millis(200), Duration::from_secs(30));
        let mut last_claim: Option<std::time::Instant> = None;
        // A read is never interrupted: entries Redis hands over in a reply that is dropped
        // would wait for a reclaim. It blocks at most `BLOCK_MS`.
        while !shutdown.is_cancelled() {
            if last_claim.is_none_or(|t| t.elapsed() >= claim_every) {
                for p in 0..partitions {
                    self.reclaim(p, shutdown).await?;
                }
                last_claim = Some(std::time::Instant::now());
            }
            // One outbox: block on it. Several (one per partition, in different slots, which
            // one read cannot span): read each without blocking, and pause when all were empty.
            let mut read = 0;
            for p in 0..partitions {
                let mut cmd = redis::cmd("XREADGROUP");
                cmd.arg("GROUP")
                    .arg(GROUP)
                    .arg(&self.settings.consumer)
                    .arg("COUNT")
                    .arg(BATCH);
                if partitions == 1 {
                    cmd.arg("BLOCK").arg(BLOCK_MS);
                }
                let reply: Option<StreamReadReply> = cmd
                    .arg("STREAMS")
                    .arg(self.outbox(p))
                    .arg(">")
                    .query_async(&mut blocking)
                    .await
                    .map_err(BrokerError::from)?;
                for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                    read += 1;
                    if !shutdown.is_cancelled() {
                        self.handle(p, entry, shutdown).await?;
                    }
                }
            }
            if partitions > 1 && read == 0 {
                tokio::select! {
                    () = tokio::time::sleep(PARTITIONS_PAUSE) => {}
                    () = shutdown.cancelled() => {}
                }
            }
        }
        Ok(())
    }

    /// Takes over entries another worker left pending for too long, and sends them.
    async fn reclaim(&self, p: usize, shutdown: &CancellationToken) -> Result<(), BrokerError> {
        let mut conn = self.redis.connection().await?;
        let mut start = "0-0".to_owned();
        loop {
            let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(self.outbox(p))
                .arg(GROUP)
                .arg(&self.settings.consumer)
                .arg(self.settings.reclaim_idle.as_millis() as u64)
                .arg(&start)
                .arg("COUNT")
                .arg(BATCH)
                .query_async(&mut conn)
                .await
                .map_err(BrokerError::from)?;
            for id in &reply.deleted_ids {
                // Trimmed from the outbox before anyone sent it: say so rather than lose it quietly.
                self.give_up(p, id, "the outbox entry was trimmed before it was sent (outbox over its length limit)")
                    .await?;
            }
            for entry in reply.claimed {
                if shutdown.is_cancelled() {
                    return Ok(());
                }
                tracing::info!(id = %entry.id, "reclaimed an email another worker left unsent");
                self.handle(p, entry, shutdown).await?;
            }
            if reply.next_stream_id == "0-0" || shutdown.is_cancelled() {
                return Ok(());
            }
            start = reply.next_stream_id;
        }
    }

    /// Sends one entry, retrying transient failures, and acknowledges it once settled; on
    /// `shutdown` it returns instead of waiting to retry, leaving the entry pending.
    async fn handle(
        &self,
        p: usize,
        entry: StreamId,
        shutdown: &CancellationToken,
    ) -> Result<(), BrokerError> {
        let id = entry.id.clone();
        let user: String = entry.get("user").unwrap_or_default();
        let to: String = entry.get("email").unwrap_or_default();
        let events = entry
            .get::<String>("events")
            .and_then(|s| serde_json::from_str::<Vec<Item>>(&s).ok())
            .map(|items| {
                items
                    .into_iter()
                    .map(|i| (i.id, serde_json::from_str(&i.data).unwrap_or_default()))
                    .collect::<Vec<_>>()
            });
        let Some(events) = events.filter(|e| !e.is_empty()) else {
            return self.give_up(p, &id, "the outbox entry is malformed").await;
        };
        let mail = match self.templates.render(&user, &events) {
            Ok(mail) => mail,
            Err(e) => return self.give_up(p, &id, &e.to_string()).await,
        };
        let mut backoff = Backoff::new(self.settings.retry, self.settings.retry_max);
        loop {
            if !self.touch(p, &id).await? {
                tracing::info!(%id, "another worker took this email over; leaving it to them");
                return Ok(());
            }
            let attempts = self.log.attempt(p, &id).await?;
            if attempts > self.settings.max_attempts {
                return self
                    .give_up(p, &id, &format!("gave up after {} attempts", attempts - 1))
                    .await;
            }
            match self.smtp.send(&to, &mail, &id).await {
                Outcome::Sent(response) => {
                    self.log
                        .update(p, &id, Status::Sent, "smtp_response", &response)
                        .await?;
                    self.stats.sent.inc();
                    self.trace.emailed(&user, &id, &response);
                    tracing::info!(%id, %user, attempts, "email sent");
                    return self.ack(p, &id).await;
                }
                Outcome::Permanent(reason) => {
                    self.trace.email_failed(&user, &id, &reason);
                    return self.give_up(p, &id, &reason).await;
                }
                Outcome::Transient(reason) if attempts >= self.settings.max_attempts => {
                    let reason = format!("gave up after {attempts} attempts: {reason}");
                    self.trace.email_failed(&user, &id, &reason);
                    return self.give_up(p, &id, &reason).await;
                }
                Outcome::Transient(reason) => {
                    self.log
                        .update(p, &id, Status::Queued, "error_message", &reason)
                        .await?;
                    self.stats.retried.inc();
                    self.trace.email_retried(&user, &id, &reason);
                    let delay = backoff.next_delay();
                    tracing::warn!(%id, attempts, %reason, retry_in_ms = delay.as_millis() as u64, "email not sent; will retry");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.cancelled() => {
                            tracing::info!(%id, "stopping: the email stays pending for a later worker");
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}
