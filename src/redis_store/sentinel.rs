//! Finding the primary through Redis Sentinel, and hearing when it moves.
//!
//! Sentinels are reached over plain TCP without auth (TLS and auth apply to the data nodes).

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use redis::{AsyncConnectionConfig, Client};
use tokio::sync::Notify;

use super::StoreError;

/// How often the sentinels are asked for the primary even without a `+switch-master` notice.
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// How long one sentinel may take to answer.
const SENTINEL_TIMEOUT: Duration = Duration::from_millis(500);

const SETTING: &str = "--redis-sentinels / NOTIFY_REDIS_SENTINELS";

/// The sentinels of one monitored primary.
pub(super) struct Sentinels {
    clients: Vec<(String, Client)>,
    master_name: String,
}

impl Sentinels {
    /// Parses `host:port` entries; `None` when there are none (no Sentinel).
    pub(super) fn new(addrs: &[String], master_name: String) -> Result<Option<Self>, StoreError> {
        let addrs: Vec<&str> = addrs
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
            .collect();
        if addrs.is_empty() {
            return Ok(None);
        }
        if master_name.trim().is_empty() {
            return Err(StoreError::Config {
                setting: "--redis-master-name / NOTIFY_REDIS_MASTER_NAME",
                message: "must name the primary the sentinels monitor".into(),
            });
        }
        let clients = addrs
            .into_iter()
            .map(|addr| {
                let bad = |why: String| StoreError::Config {
                    setting: SETTING,
                    message: format!("{addr:?} is not host:port: {why}"),
                };
                let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("no port".into()))?;
                let port: u16 = port.parse().map_err(|e| bad(format!("{e}")))?;
                let client = Client::open(format!("redis://{host}:{port}"))
                    .map_err(|e| bad(e.to_string()))?;
                Ok((addr.to_owned(), client))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Some(Self {
            clients,
            master_name,
        }))
    }

    /// The primary's address, from the first sentinel that names one.
    pub(super) async fn primary(&self) -> Result<(String, u16), StoreError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(SENTINEL_TIMEOUT))
            .set_response_timeout(Some(SENTINEL_TIMEOUT));
        let mut last_error = String::from("no sentinel answered");
        for (addr, client) in &self.clients {
            let answer = async {
                let mut conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(&self.master_name)
                    .query_async::<Option<(String, u16)>>(&mut conn)
                    .await
            };
            match answer.await {
                Ok(Some(primary)) => return Ok(primary),
                Ok(None) => {
                    last_error = format!("sentinel {addr} does not monitor {:?}", self.master_name)
                }
                Err(e) => last_error = format!("sentinel {addr}: {e}"),
            }
        }
        Err(StoreError::Unavailable(last_error))
    }

    /// Subscribes to `+switch-master` on one sentinel after another (moving on when one goes
    /// away); each notice wakes the returned [`Notify`].
    pub(super) fn watch_switches(&self) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        let clients: Vec<Client> = self.clients.iter().map(|(_, c)| c.clone()).collect();
        let wake = notify.clone();
        tokio::spawn(async move {
            for client in clients.iter().cycle() {
                if let Ok(mut pubsub) = client.get_async_pubsub().await
                    && pubsub.subscribe("+switch-master").await.is_ok()
                {
                    let mut notices = pubsub.on_message();
                    while notices.next().await.is_some() {
                        wake.notify_one();
                    }
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        });
        notify
    }
}
