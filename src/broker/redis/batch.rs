//! Appending many events in one round trip: one pipeline of append-script calls, in order.
//!
//! Redis runs a connection's commands in the order sent, so the events are stored in the order
//! given. A pipeline can fail part way (the lease moves between two calls, the connection drops
//! after Redis ran some of them): the caller learns how many leading events are stored and
//! retries the rest. Each event carries a sequence number that `once.lua` checks, so a retry
//! after a lost answer skips what the first attempt stored instead of storing it twice.

use redis::{ErrorKind, RedisResult, ServerErrorKind, aio::ConnectionManager};

use super::{
    RedisBroker,
    append::{AppendReply, append_error},
    unavailable,
};
use crate::{
    broker::{Appended, BrokerError},
    event::NewEvent,
};

/// How far a batch got: the outcome of each leading event stored, and why it stopped if it did.
#[derive(Debug)]
pub struct BatchProgress {
    /// One entry per stored event, in order (also for those a retry found already stored).
    pub stored: Vec<Appended>,
    /// Why the events after `stored` were not stored; `None` when all were.
    pub stopped: Option<BrokerError>,
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
        let mut progress = BatchProgress {
            stored: Vec::with_capacity(events.len()),
            stopped: None,
        };
        let mut conn = match self.conn().await {
            Ok(conn) => conn,
            Err(e) => {
                progress.stopped = Some(e);
                return progress;
            }
        };
        for attempt in 0..2 {
            let from = progress.stored.len();
            let rest = &events[from..];
            if !self
                .pipeline(
                    &mut conn,
                    rest,
                    lease_token,
                    first_seq.map(|n| n + from as u64),
                    &mut progress,
                )
                .await
            {
                return progress;
            }
            // Redis restarted or its scripts were flushed: nothing from there on ran. Load
            // the script, then run the rest again (once: a second miss is reported).
            if let Err(e) = self.append.prepare_invoke().load_async(&mut conn).await {
                progress.stopped = Some(unavailable(e));
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

    /// One pipelined run; records what was stored in `progress`. True when the script was
    /// missing in Redis, so the events from there on did not run.
    async fn pipeline(
        &self,
        conn: &mut ConnectionManager,
        events: &[NewEvent],
        lease_token: &str,
        first_seq: Option<u64>,
        progress: &mut BatchProgress,
    ) -> bool {
        let mut calls = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            match self.append_call(event, lease_token, first_seq.map(|n| n + i as u64)) {
                Ok(call) => calls.push(call),
                Err(e) => {
                    progress.stopped = Some(e);
                    return false;
                }
            }
        }
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for call in &calls {
            pipe.invoke_script(call);
        }
        let replies: Vec<RedisResult<AppendReply>> = match pipe.query_async(conn).await {
            Ok(replies) => replies,
            Err(e) => {
                progress.stopped = Some(unavailable(e));
                return false;
            }
        };
        for reply in replies {
            let reply = match reply {
                Ok(reply) => reply,
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => return true,
                Err(e) => {
                    progress.stopped = Some(append_error(e));
                    return false;
                }
            };
            match self.finish_append(conn, reply).await {
                Ok(appended) => progress.stored.push(appended),
                Err(e) => {
                    // The event is stored; a big append's histories are finished by any relay
                    // later (see `finish_stale_pending`).
                    tracing::warn!(error = %e, "a big append's histories are left for later");
                    progress.stored.push(Appended {
                        id: None,
                        recipients: 0,
                    });
                }
            }
        }
        false
    }
}
