//! The one owner of Redis access: which node to talk to, how to connect, and key naming.
//!
//! The broker, presence, the bridge lease, the pub/sub bridge and email all reach Redis through
//! a [`RedisStore`]: commands go through [`RedisStore::connection`] (a shared connection that
//! reconnects by itself), blocking reads through [`RedisStore::blocking_connection`] (their own
//! connection, so a long `XREAD BLOCK` never trips the shared one's response timeout), and
//! subscriptions through [`RedisStore::pubsub`]. Every key is named by [`RedisStore::key_of`]:
//! `<prefix>:{0}:<suffix>`, one hash tag, so every script's keys sit in one slot.
//!
//! With Sentinel the store asks the sentinels for the primary, and [`RedisStore::follow_failovers`]
//! swaps in the new primary when they report a switch (polled, and on `+switch-master`). The
//! shared connection belongs to one node, so after a swap every caller's next command goes to
//! the new primary; loops on connections of their own notice the old one failing and reconnect.

use std::{
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use redis::{
    AsyncConnectionConfig, Client,
    aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection, PubSub},
};
use tokio::sync::OnceCell;

mod connect;
mod durable;
mod error;
mod sentinel;

pub use connect::Credentials;
use connect::NodeTemplate;
pub use durable::{InvokeAcked, WaitFor};
pub use error::StoreError;
use sentinel::Sentinels;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a command on the shared connection may take.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a primary named by a failover notice is kept before polls may overrule it (a
/// failover that was aborted).
const PIN_NOTICE: Duration = Duration::from_secs(30);

/// Where Redis is and how to name keys.
#[derive(Debug, Clone)]
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
}

impl RedisStore {
    /// Creates the store; it connects lazily, so the relay can start while Redis is down.
    pub fn new(settings: StoreSettings) -> Result<Arc<Self>, StoreError> {
        let template = NodeTemplate::new(&settings.url, &settings.credentials)?;
        let sentinels = Sentinels::new(&settings.sentinels, settings.master_name)?;
        let node = match sentinels {
            Some(_) => None,
            None => Some(Node::new(template.client_for(None)?, None)),
        };
        Ok(Arc::new(Self {
            template,
            sentinels,
            node: RwLock::new(node),
            pinned: Mutex::new(None),
            prefix: settings.prefix,
            wait: settings.wait,
        }))
    }

    pub(crate) fn current(&self) -> Option<Arc<Node>> {
        self.node.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The current primary, asking the sentinels first if none is known yet.
    pub(crate) async fn primary(&self) -> Result<Arc<Node>, StoreError> {
        if let Some(node) = self.current() {
            return Ok(node);
        }
        self.refresh().await?;
        self.current()
            .ok_or_else(|| StoreError::Unavailable("no redis primary known".into()))
    }

    /// Asks the sentinels for the primary and switches to it if it moved; true if it did.
    async fn refresh(&self) -> Result<bool, StoreError> {
        let Some(sentinels) = &self.sentinels else {
            return Ok(false);
        };
        let addr = sentinels.primary().await?;
        {
            let mut pinned = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
            match &*pinned {
                Some((to, _)) if *to == addr => *pinned = None,
                Some((_, until)) if Instant::now() < *until => return Ok(false),
                _ => *pinned = None,
            }
        }
        self.switch_to(addr)
    }

    /// Makes `addr` the primary every caller's next command goes to; true if it moved.
    fn switch_to(&self, addr: (String, u16)) -> Result<bool, StoreError> {
        if self
            .current()
            .is_some_and(|n| n.addr.as_ref() == Some(&addr))
        {
            return Ok(false);
        }
        let client = self.template.client_for(Some((&addr.0, addr.1)))?;
        tracing::warn!(primary = %format!("{}:{}", addr.0, addr.1), "the sentinels name a new redis primary: switching to it");
        *self.node.write().unwrap_or_else(|p| p.into_inner()) = Some(Node::new(client, Some(addr)));
        Ok(true)
    }

    /// Follows the sentinels until the process ends: on every `+switch-master` notice, and
    /// at least every [`sentinel::POLL_EVERY`], the primary they name becomes this store's.
    pub async fn follow_failovers(self: Arc<Self>) {
        let Some(sentinels) = &self.sentinels else {
            return;
        };
        let mut notices = sentinels.watch_switches();
        loop {
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "cannot ask the sentinels for the redis primary");
            }
            let deadline = tokio::time::sleep(sentinel::POLL_EVERY);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    () = &mut deadline => break,
                    Some(notice) = notices.recv() => {
                        *self.pinned.lock().unwrap_or_else(|p| p.into_inner()) =
                            (!notice.done).then(|| (notice.addr.clone(), Instant::now() + PIN_NOTICE));
                        if let Err(e) = self.switch_to(notice.addr) {
                            tracing::warn!(error = %e, "cannot switch to the new redis primary");
                        }
                    }
                }
            }
        }
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
                .map_err(StoreError::from)
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

    /// The full name of a key of this relay's layout: `<prefix>:{0}:<suffix>`.
    pub fn key_of(&self, suffix: &str) -> String {
        format!("{}:{{0}}:{suffix}", self.prefix)
    }

    /// A handle on the shared, self-reconnecting connection.
    pub async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let node = self.primary().await?;
        self.shared_connection(&node).await
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
    ) -> Result<MultiplexedConnection, StoreError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(response_timeout));
        Ok(self
            .primary()
            .await?
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    /// A connection for `SUBSCRIBE`.
    pub async fn pubsub(&self) -> Result<PubSub, StoreError> {
        Ok(self.primary().await?.client.get_async_pubsub().await?)
    }
}
