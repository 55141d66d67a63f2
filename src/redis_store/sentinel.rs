//! Finding the primary through Redis Sentinel, and hearing when it moves.
//!
//! Sentinels are reached over plain TCP without auth (TLS and auth apply to the data nodes).

use std::time::Duration;

use futures_util::StreamExt;
use redis::{AsyncConnectionConfig, Client};
use tokio::sync::mpsc;

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

    /// Subscribes to the failover notices on one sentinel after another (moving on when one
    /// goes away) and sends where the primary is going. `+selected-slave` comes before the
    /// replica is promoted: moving then means no write goes to the old primary once the
    /// sentinels gave up on it (it may still accept writes the failover then discards).
    /// The watch is the returned future, run by the caller beside its reading of the notices.
    pub(super) fn watch_switches(
        &self,
    ) -> (
        mpsc::UnboundedReceiver<Notice>,
        impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let clients: Vec<Client> = self.clients.iter().map(|(_, c)| c.clone()).collect();
        let name = self.master_name.clone();
        let watch = async move {
            for client in clients.iter().cycle() {
                if let Ok(mut pubsub) = client.get_async_pubsub().await
                    && pubsub.subscribe(&NOTICES).await.is_ok()
                {
                    let mut notices = pubsub.on_message();
                    while let Some(msg) = notices.next().await {
                        let payload: String = msg.get_payload().unwrap_or_default();
                        if let Some(notice) = parse_notice(msg.get_channel_name(), &payload, &name)
                            && tx.send(notice).is_err()
                        {
                            return;
                        }
                    }
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        };
        (rx, watch)
    }
}

/// The sentinel channels that say where the primary is going.
const NOTICES: [&str; 3] = ["+selected-slave", "+promoted-slave", "+switch-master"];

/// Where the primary is going, from a sentinel notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Notice {
    /// The new primary.
    pub(super) addr: (String, u16),
    /// True for `+switch-master`: the failover is over and every sentinel names this primary.
    pub(super) done: bool,
}

/// `+selected-slave` / `+promoted-slave`: `slave <ip>:<port> <ip> <port> @ <name> <ip> <port>`;
/// `+switch-master`: `<name> <old-ip> <old-port> <new-ip> <new-port>`.
fn parse_notice(channel: &str, payload: &str, name: &str) -> Option<Notice> {
    let f: Vec<&str> = payload.split_whitespace().collect();
    let (ip, port, done) = match channel {
        "+switch-master" if f.first() == Some(&name) => (f.get(3)?, f.get(4)?, true),
        "+selected-slave" | "+promoted-slave" if f.get(5) == Some(&name) => {
            (f.get(2)?, f.get(3)?, false)
        }
        _ => return None,
    };
    Some(Notice {
        addr: ((*ip).to_owned(), port.parse().ok()?),
        done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_name_the_new_primary_of_our_master_only() {
        let selected = "slave 127.0.0.1:7001 127.0.0.1 7001 @ mymaster 127.0.0.1 7000";
        assert_eq!(
            parse_notice("+selected-slave", selected, "mymaster"),
            Some(Notice {
                addr: ("127.0.0.1".into(), 7001),
                done: false
            })
        );
        assert_eq!(parse_notice("+selected-slave", selected, "other"), None);
        assert_eq!(
            parse_notice(
                "+switch-master",
                "mymaster 127.0.0.1 7000 127.0.0.1 7001",
                "mymaster"
            ),
            Some(Notice {
                addr: ("127.0.0.1".into(), 7001),
                done: true
            })
        );
    }
}
