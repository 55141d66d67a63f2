//! A connection to whichever topology the store talks to: one node (standalone or the
//! Sentinel's primary) or a Redis Cluster, whose client routes each command by its key's slot
//! and follows `MOVED` and `ASK`. Both run the same commands and scripts, so callers do not
//! care which they hold.

use redis::{
    Cmd, Pipeline, RedisFuture, Value,
    aio::{ConnectionLike, ConnectionManager, MultiplexedConnection},
    cluster_async::ClusterConnection,
};

/// The shared connection: a self-reconnecting one to a node, or the cluster client's.
#[derive(Clone)]
pub enum StoreConnection {
    /// One node (standalone or the Sentinel's primary).
    Node(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

/// A connection of its own for blocking reads.
#[derive(Clone)]
pub enum BlockingConnection {
    /// One node.
    Node(MultiplexedConnection),
    /// A Redis Cluster (its own client connections, so a block holds no one else's commands).
    Cluster(ClusterConnection),
}

macro_rules! delegate {
    ($ty:ident) => {
        impl ConnectionLike for $ty {
            fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
                match self {
                    Self::Node(c) => c.req_packed_command(cmd),
                    Self::Cluster(c) => c.req_packed_command(cmd),
                }
            }

            fn req_packed_commands<'a>(
                &'a mut self,
                pipeline: &'a Pipeline,
                offset: usize,
                count: usize,
            ) -> RedisFuture<'a, Vec<Value>> {
                match self {
                    Self::Node(c) => c.req_packed_commands(pipeline, offset, count),
                    Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
                }
            }

            fn get_db(&self) -> i64 {
                match self {
                    Self::Node(c) => c.get_db(),
                    Self::Cluster(c) => c.get_db(),
                }
            }
        }
    };
}

delegate!(StoreConnection);
delegate!(BlockingConnection);
