//! Acknowledging a write only once `WAIT` confirms it reached enough replicas.
//!
//! The script and its `WAIT` go in one pipeline, so they run on the same connection: `WAIT`
//! counts the replicas that acknowledged this connection's writes, and on a connection that
//! reconnected in between it would confirm a write it never saw.
//!
//! A write is also refused when the primary changed while it ran: once the sentinels have
//! chosen a new primary, the old one may still take writes that the failover then discards.

use std::time::Duration;

use std::sync::Arc;

use redis::{FromRedisValue, ScriptInvocation, aio::ConnectionLike};

use super::{RedisStore, StoreConnection, StoreError};

/// How many replicas must confirm a write, and how long to wait for them.
#[derive(Debug, Clone, Copy)]
pub struct WaitFor {
    /// Replicas that must have the write (0: acknowledge on the primary's answer alone).
    pub replicas: u32,
    /// Longest wait for them.
    pub timeout: Duration,
}

/// A script call that is acknowledged per the store's [`WaitFor`].
pub trait InvokeAcked {
    /// Runs the script on the primary; fails with [`StoreError::NotReplicated`] when fewer
    /// replicas than required confirmed it in time, or [`StoreError::PrimaryChanged`] (the
    /// write may exist either way).
    fn invoke_acked<T: FromRedisValue + Send>(
        &self,
        store: &RedisStore,
    ) -> impl Future<Output = Result<T, StoreError>> + Send;
}

impl InvokeAcked for ScriptInvocation<'_> {
    async fn invoke_acked<T: FromRedisValue + Send>(
        &self,
        store: &RedisStore,
    ) -> Result<T, StoreError> {
        if store.is_cluster() {
            // The pipeline goes to the node that owns the script's slot, WAIT with it.
            return invoke_waiting(self, store, &mut store.connection().await?).await;
        }
        let node = store.primary().await?;
        let conn = &mut StoreConnection::Node(store.shared_connection(&node).await?);
        let value = invoke_waiting(self, store, conn).await?;
        if !store.current().is_some_and(|now| Arc::ptr_eq(&now, &node)) {
            return Err(StoreError::PrimaryChanged);
        }
        Ok(value)
    }
}

async fn invoke_waiting<T: FromRedisValue + Send>(
    script: &ScriptInvocation<'_>,
    store: &RedisStore,
    conn: &mut (impl ConnectionLike + Send),
) -> Result<T, StoreError> {
    let wait = store.wait;
    if wait.replicas == 0 {
        return Ok(script.invoke_async(conn).await?);
    }
    let mut pipe = redis::pipe();
    pipe.invoke_script(script)
        .cmd("WAIT")
        .arg(wait.replicas)
        .arg(wait.timeout.as_millis() as u64);
    let reply = match pipe.query_async::<(T, u32)>(conn).await {
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            // Not cached on this node yet (new primary): nothing ran; load and go again.
            script.load_async(conn).await?;
            pipe.query_async::<(T, u32)>(conn).await
        }
        other => other,
    };
    let (value, acked) = reply?;
    if acked < wait.replicas {
        return Err(StoreError::NotReplicated {
            acked,
            wanted: wait.replicas,
        });
    }
    Ok(value)
}

impl RedisStore {
    /// A `WAIT` on its own, after writes already made on `conn` (big appends' later batches).
    pub async fn wait_replicas(
        &self,
        conn: &mut (impl ConnectionLike + Send),
    ) -> Result<(), StoreError> {
        if self.wait.replicas == 0 {
            return Ok(());
        }
        let acked: u32 = redis::cmd("WAIT")
            .arg(self.wait.replicas)
            .arg(self.wait.timeout.as_millis() as u64)
            .query_async(conn)
            .await?;
        if acked < self.wait.replicas {
            return Err(StoreError::NotReplicated {
                acked,
                wanted: self.wait.replicas,
            });
        }
        Ok(())
    }
}
