//! The one owner of Redis access: which node to talk to, how to connect, and key naming.
//!
//! The broker, presence, the bridge lease, the pub/sub bridge and email all reach Redis through
//! a [`RedisStore`]: commands go through [`RedisStore::connection`] (a shared connection that
//! reconnects by itself), blocking reads through [`RedisStore::blocking_connection`] (their own
//! connection, so a long `XREAD BLOCK` never trips the shared one's response timeout), and
//! subscriptions through [`RedisStore::pubsub`]. Every key is named by [`RedisStore::key_of`]:
//! `<prefix>:{0}:<suffix>`, one hash tag, so every script's keys sit in one slot.

use std::{sync::Arc, time::Duration};

use redis::{
    AsyncConnectionConfig, Client,
    aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection, PubSub},
};
use tokio::sync::OnceCell;

mod connect;
mod durable;
mod error;

pub use connect::Credentials;
use connect::NodeTemplate;
pub use durable::{InvokeAcked, WaitFor};
pub use error::StoreError;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a command on the shared connection may take.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

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
}

/// Connections to Redis and the names of this relay's keys.
pub struct RedisStore {
    client: Client,
    prefix: String,
    shared: OnceCell<ConnectionManager>,
    wait: WaitFor,
}

impl RedisStore {
    /// Creates the store; it connects lazily, so the relay can start while Redis is down.
    pub fn new(settings: StoreSettings) -> Result<Arc<Self>, StoreError> {
        let template = NodeTemplate::new(&settings.url, &settings.credentials)?;
        Ok(Arc::new(Self {
            client: template.client_for(None)?,
            prefix: settings.prefix,
            shared: OnceCell::new(),
            wait: settings.wait,
        }))
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
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2);
        Ok(self
            .shared
            .get_or_try_init(|| self.client.get_connection_manager_with_config(config))
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
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    /// A connection for `SUBSCRIBE`.
    pub async fn pubsub(&self) -> Result<PubSub, StoreError> {
        Ok(self.client.get_async_pubsub().await?)
    }
}
