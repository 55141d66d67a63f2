//! From "due" to the outbox: run by whichever instance holds the bridge lease.
//!
//! Every [`TICK`] the holder moves `due` entries whose grace period has ended into per-user
//! digests (`move_due.lua`), then flushes digests whose window has closed into the `outbox`
//! stream with a `queued` log record (`flush_digests.lua`). Each script does its whole step at
//! once, so a holder that dies mid-way leaves either the old state or the new one, and the next
//! holder carries on from there: nothing is moved twice and nothing is lost. When the relay
//! stops, the mover returns between steps.

use std::{sync::Arc, time::Duration};

use redis::Script;
use tokio_util::sync::CancellationToken;

use super::EmailStats;
use crate::{broker::BrokerError, lease::Leadership, redis_store::RedisStore};

/// How often due entries and digests are looked at.
pub const TICK: Duration = Duration::from_millis(250);
/// Most entries (or digests) handled per script call, so Redis is never held long.
const BATCH: usize = 500;

/// How the outbox is fed.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// How long offline events of one user are gathered into one email.
    pub digest: Duration,
    /// Most entries the outbox stream keeps (unsent mail beyond it would be trimmed).
    pub outbox_len: u64,
    /// How long log records are kept.
    pub log_retention: Duration,
    /// Most log records kept.
    pub log_max: u64,
    /// Whether new records are also queued for the SQL table (`--notifications-db`).
    pub sql: bool,
}

/// Moves and flushes while `holder` says this instance holds the bridge lease, until
/// `shutdown`.
pub async fn run_mover(
    redis: Arc<RedisStore>,
    settings: OutboxSettings,
    bridge: Arc<Leadership>,
    stats: Arc<EmailStats>,
    shutdown: CancellationToken,
) {
    let mover = Mover {
        move_due: Script::new(include_str!("move_due.lua")),
        flush: Script::new(include_str!("flush_digests.lua")),
        redis,
        settings,
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if !bridge.held() {
            continue;
        }
        if let Err(e) = mover.step(&stats).await {
            tracing::warn!(error = %e, "could not move due email entries; retrying");
        }
    }
}

struct Mover {
    redis: Arc<RedisStore>,
    settings: OutboxSettings,
    move_due: Script,
    flush: Script,
}

impl Mover {
    /// Moves and flushes every partition's due entries (one partition without a cluster).
    async fn step(&self, stats: &EmailStats) -> Result<(), BrokerError> {
        for p in 0..self.redis.partitions().len() {
            self.step_in(p, stats).await?;
        }
        Ok(())
    }

    /// One partition: its scripts read and write only keys of the partition's slot; the
    /// partition's `due` key goes along as a key, so a cluster runs them where that slot is.
    async fn step_in(&self, p: usize, stats: &EmailStats) -> Result<(), BrokerError> {
        let mut conn = self.redis.connection().await?;
        let prefix = self.redis.partition_prefix(p);
        let route = self.redis.partition_key(p, "due");
        let digest_ms = self.settings.digest.as_millis() as u64;
        loop {
            let (moved, no_contact, gone): (u64, u64, u64) = self
                .move_due
                .key(&route)
                .arg(&prefix)
                .arg(digest_ms)
                .arg(BATCH)
                .arg(self.settings.digest.as_secs() + 86_400)
                .invoke_async(&mut conn)
                .await
                .map_err(BrokerError::from)?;
            stats.queued.inc_by(moved);
            if gone > 0 {
                tracing::warn!(
                    events = gone,
                    "fallback events left history before their grace period ended: not emailed"
                );
            }
            if moved > 0 || no_contact > 0 {
                tracing::debug!(moved, no_contact, "moved due email entries");
            }
            if moved + no_contact + gone < BATCH as u64 {
                break;
            }
        }
        loop {
            let queued: u64 = self
                .flush
                .key(&route)
                .arg(&prefix)
                .arg(BATCH)
                .arg(self.settings.outbox_len)
                .arg(self.settings.log_retention.as_millis() as u64)
                .arg(self.settings.log_max)
                .arg(self.settings.log_retention.as_secs().max(1))
                .arg(if self.settings.sql { "1" } else { "0" })
                .invoke_async(&mut conn)
                .await
                .map_err(BrokerError::from)?;
            if queued > 0 {
                tracing::info!(emails = queued, "queued digest emails");
            }
            if queued < BATCH as u64 {
                return Ok(());
            }
        }
    }
}
