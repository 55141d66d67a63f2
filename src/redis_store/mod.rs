//! The one owner of Redis access: which node to talk to, how to connect, and key naming.
//!
//! The broker, presence, the bridge lease, the pub/sub bridge and email all reach Redis through
//! a [`RedisStore`]: commands go through [`RedisStore::connection`] (a shared connection that
//! reconnects by itself), blocking reads through [`RedisStore::blocking_connection`] (their own
//! connection, so a long `XREAD BLOCK` never trips the shared one's response timeout), and
//! subscriptions through [`RedisStore::pubsub`]. Keys that are not split by user are named by
//! [`RedisStore::key_of`]: `<prefix>:{0}:<suffix>`, one hash tag, so every script's keys sit in
//! one slot. The log is split into partitions ([`RedisStore::partition_key`]): one on a single
//! node, `NOTIFY_REDIS_PARTITIONS` on a Redis Cluster, each with its own hash tag so that users
//! spread over every shard (see docs/CLUSTER.md).
//!
//! With Sentinel the store asks the sentinels for the primary, and [`RedisStore::follow_failovers`]
//! swaps in the new primary when they report a switch (polled, and on `+switch-master`). The
//! shared connection belongs to one node, so after a swap every caller's next command goes to
//! the new primary; loops on connections of their own notice the old one failing and reconnect.
//!
//! With a cluster the store holds the redis crate's cluster client instead, which routes each
//! command by its key's slot, follows `MOVED`/`ASK` and retries `TRYAGAIN`; every node gets the
//! same TLS and auth settings.

use std::{
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use redis::{
    AsyncConnectionConfig, Client,
    aio::{ConnectionManager, ConnectionManagerConfig, PubSub},
    cluster::ClusterConfig,
};
use tokio::sync::OnceCell;

mod cluster;
mod conn;
mod connect;
mod durable;
mod error;
mod failover;
mod partitions;
mod sentinel;

pub use conn::{BlockingConnection, StoreConnection};
pub use partitions::Partitions;

use cluster::{Cluster, cluster_client};
pub use connect::Credentials;
use connect::NodeTemplate;
pub use durable::{InvokeAcked, WaitFor};
pub use error::StoreError;
use sentinel::Sentinels;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a command on the shared connection may take.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where Redis is and how to name keys. Its `Debug` never shows a password.
#[derive(Clone)]
pub struct StoreSettings {
    /// `redis://` or `rediss://` URL.
    pub url: String,
    /// Key prefix, so several deployments can share one Redis.
    pub prefix: String,
    /// ACL user, password and TLS material.
    pub credentials: Credentials,
    /// Replicas that must confirm an append before it is acknowledged.
    pub wait: WaitFor,
    /// Sentinels (`host:port`) to ask for the primary; empty: the URL's host is the primary.
    pub sentinels: Vec<String>,
    /// The primary's name at the sentinels.
    pub master_name: String,
    /// Seed nodes (`host:port`) of a Redis Cluster; empty: no cluster.
    pub cluster: Vec<String>,
    /// Partitions of the log on a cluster (ignored without one: a single node has one).
    pub partitions: u16,
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSettings")
            .field("url", &connect::redacted(&self.url))
            .field("prefix", &self.prefix)
            .field("credentials", &self.credentials)
            .field("wait", &self.wait)
            .field("sentinels", &self.sentinels)
            .field("master_name", &self.master_name)
            .field("cluster", &self.cluster)
            .field("partitions", &self.partitions)
            .finish()
    }
}

/// One data node and the shared connection to it.
pub(crate) struct Node {
    client: Client,
    /// Where it is, as the sentinels named it (`None` for the URL's own host).
    addr: Option<(String, u16)>,
    shared: OnceCell<ConnectionManager>,
}

impl Node {
    fn new(client: Client, addr: Option<(String, u16)>) -> Arc<Self> {
        Arc::new(Self {
            client,
            addr,
            shared: OnceCell::new(),
        })
    }
}

/// Connections to Redis and the names of this relay's keys.
pub struct RedisStore {
    template: NodeTemplate,
    sentinels: Option<Sentinels>,
    /// The current primary; `None` until the sentinels named one.
    node: RwLock<Option<Arc<Node>>>,
    /// A primary a failover notice named, kept until this long even while polled sentinels
    /// still name the old one (they do until the promotion is confirmed).
    pinned: Mutex<Option<((String, u16), Instant)>>,
    prefix: String,
    wait: WaitFor,
    /// The Redis Cluster, when the store talks to one.
    cluster: Option<Cluster>,
    partitions: Partitions,
}

impl RedisStore {
    /// Creates the store; it connects lazily, so the relay can start while Redis is down.
    pub fn new(settings: StoreSettings) -> Result<Arc<Self>, StoreError> {
        let template = NodeTemplate::new(&settings.url, &settings.credentials)?;
        let sentinels = Sentinels::new(&settings.sentinels, settings.master_name)?;
        let cluster = match settings.cluster.is_empty() {
            true => None,
            false => {
                let (client, first) = cluster_client(&template, &settings.cluster)?;
                Some(Cluster {
                    client,
                    shared: OnceCell::new(),
                    first,
                })
            }
        };
        let node = match (&sentinels, &cluster) {
            (None, None) => Some(Node::new(template.client_for(None)?, None)),
            _ => None,
        };
        let partitions = match cluster {
            Some(_) => Partitions::spread(settings.partitions),
            None => Partitions::single(),
        };
        Ok(Arc::new(Self {
            template,
            sentinels,
            node: RwLock::new(node),
            pinned: Mutex::new(None),
            prefix: settings.prefix,
            wait: settings.wait,
            cluster,
            partitions,
        }))
    }

    /// True when the store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// The log's partitions (one without a cluster).
    pub fn partitions(&self) -> &Partitions {
        &self.partitions
    }

    /// The partition a user's history and topic memberships live in.
    pub fn partition_of(&self, user: &str) -> usize {
        self.partitions.of_user(user)
    }

    /// The prefix of partition `p`'s keys: `<prefix>:{<tag>}:` (`<prefix>:{0}:` without a
    /// cluster, as [`Self::key_of`]).
    pub fn partition_prefix(&self, p: usize) -> String {
        format!("{}:{{{}}}:", self.prefix, self.partitions.tag(p))
    }

    /// The full name of a key of partition `p`.
    pub fn partition_key(&self, p: usize, suffix: &str) -> String {
        format!("{}{suffix}", self.partition_prefix(p))
    }

    pub(crate) fn current(&self) -> Option<Arc<Node>> {
        self.node.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Connects once at start-up: refused credentials or a certificate that does not verify
    /// are configuration errors; a Redis that cannot be reached yet is only logged, and
    /// retried by every loop as usual.
    pub async fn check(&self) -> Result<(), StoreError> {
        let attempt = async {
            let mut conn = self.blocking_connection(RESPONSE_TIMEOUT).await?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map_err(StoreError::from)?;
            self.check_layout(&mut conn).await
        };
        match attempt.await {
            Ok(_) => Ok(()),
            Err(e) if e.is_config() => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "redis cannot be reached yet; retrying in the background");
                Ok(())
            }
        }
    }

    /// The full name of a key of this relay's layout that is not split by partition:
    /// `<prefix>:{0}:<suffix>`.
    pub fn key_of(&self, suffix: &str) -> String {
        format!("{}:{{0}}:{suffix}", self.prefix)
    }

    /// A handle on the shared connection (self-reconnecting; on a cluster, the cluster
    /// client's, which routes by slot).
    pub async fn connection(&self) -> Result<StoreConnection, StoreError> {
        if let Some(cluster) = &self.cluster {
            return Ok(StoreConnection::Cluster(
                cluster
                    .shared
                    .get_or_try_init(|| {
                        cluster.client.get_async_connection_with_config(
                            ClusterConfig::new()
                                .set_connection_timeout(CONNECT_TIMEOUT)
                                .set_response_timeout(RESPONSE_TIMEOUT),
                        )
                    })
                    .await?
                    .clone(),
            ));
        }
        let node = self.primary().await?;
        Ok(StoreConnection::Node(self.shared_connection(&node).await?))
    }

    async fn shared_connection(&self, node: &Node) -> Result<ConnectionManager, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2);
        Ok(node
            .shared
            .get_or_try_init(|| node.client.get_connection_manager_with_config(config))
            .await?
            .clone())
    }

    /// A connection of its own for blocking reads, whose replies may take `response_timeout`.
    pub async fn blocking_connection(
        &self,
        response_timeout: Duration,
    ) -> Result<BlockingConnection, StoreError> {
        if let Some(cluster) = &self.cluster {
            let config = ClusterConfig::new()
                .set_connection_timeout(CONNECT_TIMEOUT)
                .set_response_timeout(response_timeout);
            return Ok(BlockingConnection::Cluster(
                cluster
                    .client
                    .get_async_connection_with_config(config)
                    .await?,
            ));
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(response_timeout));
        Ok(BlockingConnection::Node(
            self.primary()
                .await?
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await?,
        ))
    }

    /// A connection for `SUBSCRIBE`. On a cluster it goes to the first seed node: a `PUBLISH`
    /// on any node of a cluster reaches the subscribers of every node.
    pub async fn pubsub(&self) -> Result<PubSub, StoreError> {
        if let Some(cluster) = &self.cluster {
            let (host, port) = &cluster.first;
            return Ok(self
                .template
                .client_for(Some((host, *port)))?
                .get_async_pubsub()
                .await?);
        }
        Ok(self.primary().await?.client.get_async_pubsub().await?)
    }
}
