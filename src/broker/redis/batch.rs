//! Appending many events in one round trip: one pipeline of append-script calls, in order.
//!
//! Redis runs a connection's commands in the order sent, so the events are stored in the order
//! given. A pipeline can fail part way (the lease moves between two calls, the connection drops
//! after Redis ran some of them): the caller learns how many leading events are stored and
//! retries the rest. Each event carries a sequence number that `once.lua` checks, so a retry
//! after a lost answer skips what the first attempt stored instead of storing it twice. An
//! event Redis refuses on its own (its script failed, while later ones ran) is reported as
//! refused, not retried: a retry would come after later events.
//!
//! On a partitioned store (a Redis Cluster) one pipeline cannot span partitions, which live in
//! different slots: there the events are appended one after the other, each in the partitions
//! it touches, with the same sequence numbers (each partition keeps its own record of them).

use redis::{ErrorKind, RedisResult, ServerErrorKind};

use super::{
    RedisBroker,
    append::{AppendReply, append_error},
    progress::{BatchProgress, ItemOutcome},
};
use crate::{
    broker::{Appended, BrokerError},
    event::NewEvent,
    redis_store::StoreConnection,
};

/// Redis errors that say "not now" rather than "never" about a command.
fn is_transient(e: &redis::RedisError) -> bool {
    let text = e.to_string();
    [
        "OOM",
        "BUSY",
        "LOADING",
        "READONLY",
        "MASTERDOWN",
        "TRYAGAIN",
        "CLUSTERDOWN",
    ]
    .iter()
    .any(|code| e.code() == Some(code) || text.contains(&format!("\"{code}\"")))
}

impl RedisBroker {
    /// Appends `events` in order while `lease_token` holds the bridge lease. With `first_seq`,
    /// event `i` carries sequence number `first_seq + i`, which must grow across the calls made
    /// with one token (pub/sub messages have no other name); without, events are told apart
    /// by their idempotency keys alone (stream entries).
    pub async fn append_batch_fenced(
        &self,
        events: &[NewEvent],
        lease_token: &str,
        first_seq: Option<u64>,
    ) -> BatchProgress {
        if self.partitions() > 1 {
            return self.one_by_one(events, lease_token, first_seq).await;
        }
        let mut progress = BatchProgress::for_events(events.len());
        let mut conn = match self.conn().await {
            Ok(conn) => conn,
            Err(e) => return BatchProgress::stopped_by(e),
        };
        for attempt in 0..2 {
            let from = progress.len();
            let rest = &events[from..];
            let missing_script = self
                .pipeline(
                    &mut conn,
                    rest,
                    lease_token,
                    first_seq.map(|n| n + from as u64),
                    &mut progress,
                )
                .await;
            self.confirm_replicated(&mut conn, &mut progress, from)
                .await;
            if !missing_script {
                return progress;
            }
            // Redis restarted or its scripts were flushed: nothing from there on ran. Load
            // the script, then run the rest again (once: a second miss is reported).
            if let Err(e) = self.append.prepare_invoke().load_async(&mut conn).await {
                progress.stopped = Some(BrokerError::from(e));
                return progress;
            }
            if attempt == 1 {
                progress.stopped = Some(BrokerError::Unavailable(
                    "the append script is not loaded".into(),
                ));
            }
        }
        progress
    }

    /// One pipelined attempt of [`RedisBroker::append_batch_fenced`], for callers that keep
    /// several batches in flight: if Redis had lost the script, it is loaded again and the
    /// batch reports `Unavailable` from there, so the caller retries the batches in order
    /// (an attempt that re-ran by itself could overtake a later batch's retry).
    pub async fn append_pipeline_fenced(
        &self,
        events: &[NewEvent],
        lease_token: &str,
        first_seq: Option<u64>,
    ) -> BatchProgress {
        if self.partitions() > 1 {
            return self.one_by_one(events, lease_token, first_seq).await;
        }
        let mut progress = BatchProgress::for_events(events.len());
        let mut conn = match self.conn().await {
            Ok(conn) => conn,
            Err(e) => return BatchProgress::stopped_by(e),
        };
        let missing_script = self
            .pipeline(&mut conn, events, lease_token, first_seq, &mut progress)
            .await;
        self.confirm_replicated(&mut conn, &mut progress, 0).await;
        if missing_script {
            progress.stopped = Some(
                match self.append.prepare_invoke().load_async(&mut conn).await {
                    Ok(_) => BrokerError::Unavailable("the append script was not loaded".into()),
                    Err(e) => BrokerError::from(e),
                },
            );
        }
        progress
    }

    /// The partitioned form of a batch: each event in turn, in every partition it touches
    /// (and confirmed by `WAIT` there), stopping at the first event the store could not take.
    async fn one_by_one(
        &self,
        events: &[NewEvent],
        lease_token: &str,
        first_seq: Option<u64>,
    ) -> BatchProgress {
        let mut progress = BatchProgress::for_events(events.len());
        for (i, event) in events.iter().enumerate() {
            let seq = first_seq.map(|n| n + i as u64);
            match self.append_partitioned(event, lease_token, seq).await {
                Ok(appended) => progress.done.push(ItemOutcome::Stored(appended)),
                Err(e @ BrokerError::NotReplicated(_)) => {
                    progress.done.push(ItemOutcome::Unconfirmed {
                        reason: e.to_string(),
                    });
                }
                Err(e @ (BrokerError::TopicTooLarge(_) | BrokerError::Corrupt(_))) => {
                    progress.done.push(ItemOutcome::Refused {
                        reason: e.to_string(),
                        transient: false,
                    });
                }
                // Unreachable or the lease moved: the caller retries from this event, and the
                // partitions that stored it skip it by its sequence number or key.
                Err(e) => {
                    progress.stopped = Some(e);
                    return progress;
                }
            }
        }
        progress
    }

    /// With `NOTIFY_REDIS_WAIT_REPLICAS`, the events a pipeline stored (from `from` on) count as
    /// stored only once `WAIT` on the same connection confirms them; otherwise they are reported
    /// unconfirmed: they may exist on the primary, like a single publish's 503.
    async fn confirm_replicated(
        &self,
        conn: &mut StoreConnection,
        progress: &mut BatchProgress,
        from: usize,
    ) {
        let stored = |o: &ItemOutcome| matches!(o, ItemOutcome::Stored(_));
        if !progress.done[from..].iter().any(stored) {
            return;
        }
        if let Err(e) = self.store.wait_replicas(conn).await {
            for outcome in &mut progress.done[from..] {
                if stored(outcome) {
                    *outcome = ItemOutcome::Unconfirmed {
                        reason: e.to_string(),
                    };
                }
            }
        }
    }

    /// One pipelined run; records what was stored in `progress`. True when the script was
    /// missing in Redis, so the events from there on did not run.
    async fn pipeline(
        &self,
        conn: &mut StoreConnection,
        events: &[NewEvent],
        lease_token: &str,
        first_seq: Option<u64>,
        progress: &mut BatchProgress,
    ) -> bool {
        let mut calls = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let named: Vec<_> = event.recipients.iter().collect();
            let once = self.once_record(event);
            let seq = first_seq.map(|n| n + i as u64);
            match self.append_call(0, event, &named, lease_token, seq, once.as_ref()) {
                Ok(call) => calls.push(call),
                Err(e) => {
                    progress.stopped = Some(e);
                    return false;
                }
            }
        }
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        // Each pipeline brings the script (Redis hashes it again: microseconds per batch), so
        // it never meets a Redis that lost it: a batch refused for that could be overtaken by
        // the next one in flight.
        pipe.load_script(&self.append).ignore();
        for call in &calls {
            pipe.invoke_script(call);
        }
        let replies: Vec<RedisResult<AppendReply>> = match pipe.query_async(conn).await {
            Ok(replies) => replies,
            Err(e) => {
                progress.stopped = Some(BrokerError::from(e));
                return false;
            }
        };
        let last_ok = replies.iter().rposition(Result::is_ok);
        for (i, reply) in replies.into_iter().enumerate() {
            let reply = match reply {
                Ok(reply) => reply,
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => return true,
                Err(e) if e.to_string().contains("NOTLEASE") => {
                    progress.stopped = Some(BrokerError::NotLeaseHolder);
                    return false;
                }
                // Nothing after it was stored: stop here, the caller retries from this event.
                Err(e) if is_transient(&e) && last_ok.is_none_or(|last| last < i) => {
                    progress.stopped = Some(append_error(e));
                    return false;
                }
                Err(e) => {
                    progress.done.push(ItemOutcome::Refused {
                        transient: is_transient(&e),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            match self.finish_append(0, conn, reply).await {
                Ok(appended) => progress.done.push(ItemOutcome::Stored(appended)),
                Err(e) => {
                    // The event is stored; a big append's histories are finished by any relay
                    // later (see `finish_stale_pending`).
                    tracing::warn!(error = %e, "a big append's histories are left for later");
                    progress.done.push(ItemOutcome::Stored(Appended {
                        id: None,
                        recipients: 0,
                    }));
                }
            }
        }
        false
    }
}
