//! Appending: the fenced append script, big appends finished in batches, and the bridge lease.
//!
//! Every append runs `append.lua` inside `once.lua`, which skips an event appended before.

use std::time::Duration;

use redis::{ScriptInvocation, aio::ConnectionLike};

use super::{RedisBroker, STALE_PENDING_MS, corrupt};
use crate::{
    broker::{Appended, BrokerError},
    event::{NewEvent, UserId},
    redis_store::InvokeAcked,
};

/// The append script's reply: id (none when nothing was stored), recipients, recipients left
/// pending, and 1 when the event had been appended before (see `once.lua`).
pub(super) type AppendReply = (Option<String>, usize, usize, u8);

/// How long the record of an append without an idempotency key is kept on a cluster: longer
/// than the cluster client may go on retrying one command (12 attempts of at most 3 s and
/// 0.5 s waits, even after the caller stopped waiting).
const RETRY_RECORD_TTL: Duration = Duration::from_secs(60);

/// An append's idempotency record: its key's suffix in the partition, and how long it is kept.
pub(super) struct OnceRecord {
    suffix: String,
    ttl_secs: u64,
}

/// A refused fenced append means the lease moved; anything else is the store being unreachable.
pub(super) fn append_error(e: impl Into<BrokerError> + ToString) -> BrokerError {
    if e.to_string().contains("NOTLEASE") {
        BrokerError::NotLeaseHolder
    } else {
        e.into()
    }
}

/// True when the append script refused a topic over `--max-topic-recipients`.
pub(super) fn is_topic_too_large(e: &impl ToString) -> bool {
    e.to_string().contains("TOPICTOOLARGE")
}

impl RedisBroker {
    /// Appends only while `lease_token` holds the bridge lease, so that of several instances
    /// bridging pub/sub exactly one appends each message, even while the lease changes hands.
    pub async fn append_fenced(
        &self,
        new: &NewEvent,
        lease_token: &str,
    ) -> Result<Appended, BrokerError> {
        self.append_partitioned(new, lease_token, None).await
    }

    /// Takes the bridge lease if it is free, or renews it if `token` holds it; true if held.
    /// The lease has a copy in every partition (the append script checks the copy in its own
    /// slot); they are taken in partition order, so contention on copy 0 decides the holder,
    /// and the lease is held only while every copy is.
    pub async fn hold_lease(&self, token: &str, lease: Duration) -> Result<bool, BrokerError> {
        let mut conn = self.conn().await?;
        for p in 0..self.partitions() {
            let held: i64 = self
                .lease
                .key(self.pkey(p, "bridge-lease"))
                .arg(token)
                .arg(lease.as_millis() as u64)
                .invoke_async(&mut conn)
                .await
                .map_err(BrokerError::from)?;
            if held != 1 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Runs partition `p`'s share of an event: the append script with the partition's keys,
    /// acknowledged per the store's `WAIT` setting, then the big append's remaining batches.
    pub(super) async fn append_in(
        &self,
        p: usize,
        new: &NewEvent,
        named: &[&UserId],
        lease_token: &str,
        seq: Option<u64>,
        once: Option<&OnceRecord>,
    ) -> Result<Appended, BrokerError> {
        let mut conn = self.conn().await?;
        let reply: AppendReply = self
            .append_call(p, new, named, lease_token, seq, once)?
            .invoke_acked(&self.store)
            .await
            .map_err(|e| {
                if is_topic_too_large(&e) {
                    BrokerError::TopicTooLarge(self.settings.max_topic_recipients)
                } else {
                    append_error(e)
                }
            })?;
        self.finish_append(p, &mut conn, reply).await
    }

    /// The record that makes an append of `new` happen once: its idempotency key's, or on a
    /// cluster, when it has none, a random one kept for [`RETRY_RECORD_TTL`]. The cluster
    /// client retries a command whose connection failed and follows `ASK`/`TRYAGAIN` during a
    /// slot migration, so a script whose answer was lost may run again: with the record, the
    /// second run stores nothing and answers as the first.
    pub(super) fn once_record(&self, new: &NewEvent) -> Option<OnceRecord> {
        match &new.idempotency_key {
            Some(key) => Some(OnceRecord {
                suffix: format!("idem:{key}"),
                ttl_secs: self.settings.idempotency_ttl.as_secs().max(1),
            }),
            None if self.store.is_cluster() => Some(OnceRecord {
                suffix: format!("idem:~{:032x}", rand::random::<u128>()),
                ttl_secs: RETRY_RECORD_TTL.as_secs(),
            }),
            None => None,
        }
    }

    /// The append script's call for partition `p`'s share of one event (`named`: the named
    /// recipients that live in `p`): `append.lua`'s keys and arguments, then `once.lua`'s (the
    /// bridge's sequence number `seq`, and the record `once`, in the partition).
    pub(super) fn append_call(
        &self,
        p: usize,
        new: &NewEvent,
        named: &[&UserId],
        lease_token: &str,
        seq: Option<u64>,
        once: Option<&OnceRecord>,
    ) -> Result<ScriptInvocation<'_>, BrokerError> {
        let json = |users: &mut dyn Iterator<Item = &UserId>| {
            let users: Vec<&str> = users.map(UserId::as_str).collect();
            serde_json::to_string(&users).map_err(|e| corrupt(&e.to_string()))
        };
        let topic_key = match &new.topic {
            Some(topic) => self.topic_key(p, topic),
            None => self.pkey(p, "log"),
        };
        let mut call = self.append.prepare_invoke();
        call.key(self.pkey(p, "log"))
            .key(self.pkey(p, "epoch"))
            .key(self.pkey(p, "bridge-lease"))
            .key(topic_key)
            .arg(&new.data)
            .arg(new.event.as_deref().unwrap_or(""))
            .arg(json(&mut named.iter().copied())?)
            .arg(self.settings.history_len)
            .arg(self.settings.history_ttl.as_secs().max(1))
            .arg(self.settings.log_len)
            .arg(lease_token)
            .arg(self.pkey(p, ""))
            .arg(if new.topic.is_some() { "1" } else { "" })
            .arg(json(&mut new.exclude.iter())?)
            .arg(self.settings.append_batch.max(1))
            .arg(if new.fallback { "1" } else { "" })
            .arg(self.settings.email_grace.as_millis() as u64)
            .arg(self.settings.max_topic_recipients);
        // once.lua's part, always last (see its header).
        call.key(self.pkey(p, "bridge-seq"));
        match once {
            Some(record) => call.key(self.pkey(p, &record.suffix)),
            None => call.key(self.pkey(p, "log")),
        };
        call.arg(seq.map_or_else(String::new, |n| format!("{lease_token}:{n}")))
            .arg(if once.is_some() { "1" } else { "" })
            .arg(once.map_or(1, |r| r.ttl_secs));
        Ok(call)
    }

    /// Finishes a big append's histories and turns the script's reply into an [`Appended`].
    pub(super) async fn finish_append(
        &self,
        p: usize,
        conn: &mut (impl ConnectionLike + Send),
        reply: AppendReply,
    ) -> Result<Appended, BrokerError> {
        let (id, recipients, pending, _repeated) = reply;
        if pending > 0
            && let Some(id) = &id
        {
            self.finish_pending(p, conn, id).await?;
            // The later batches went over `conn`, not the acknowledged call: wait for them too.
            self.store.wait_replicas(conn).await?;
        }
        let id = id
            .map(|id| id.parse().map_err(|_| corrupt("append returned a bad id")))
            .transpose()?;
        Ok(Appended { id, recipients })
    }

    /// Writes a big append's remaining histories, one bounded batch per script call, so other
    /// clients' commands run in between.
    async fn finish_pending(
        &self,
        p: usize,
        conn: &mut (impl ConnectionLike + Send),
        id: &str,
    ) -> Result<(), BrokerError> {
        loop {
            // The prefix is an argument, not a key: the cluster routes by a key, so partition
            // p's log goes along to name the slot the script runs in.
            let left: u64 = self
                .append_more
                .key(self.pkey(p, "log"))
                .arg(self.pkey(p, ""))
                .arg(id)
                .arg(self.settings.append_batch.max(1))
                .arg(self.settings.history_len)
                .arg(self.settings.history_ttl.as_secs().max(1))
                .invoke_async(conn)
                .await
                .map_err(BrokerError::from)?;
            if left == 0 {
                return Ok(());
            }
        }
    }

    /// Finishes partition `p`'s big appends whose relay died before writing every history.
    pub(super) async fn finish_stale_pending(&self, p: usize) -> Result<(), BrokerError> {
        let mut conn = self.conn().await?;
        let now_ms = crate::event::now_ms();
        let stale: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.pkey(p, "pending"))
            .arg("-inf")
            .arg(now_ms.saturating_sub(STALE_PENDING_MS))
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        for id in stale {
            tracing::warn!(%id, "finishing a big append another relay left unfinished");
            self.finish_pending(p, &mut conn, &id).await?;
        }
        Ok(())
    }
}
