//! A Redis Cluster behind the store: the redis crate's cluster client (seed nodes with the URL's
//! TLS and auth), and the partition count recorded in the cluster so a relay with another one
//! refuses to start.

use redis::{
    cluster::{ClusterClient, ClusterClientBuilder},
    cluster_async::ClusterConnection,
};
use tokio::sync::OnceCell;

use super::{
    BlockingConnection, CONNECT_TIMEOUT, RESPONSE_TIMEOUT, RedisStore, StoreError,
    connect::NodeTemplate,
};

/// The setting named when the partition count differs from the cluster's.
const PARTITIONS_SETTING: &str = "--redis-partitions / NOTIFY_REDIS_PARTITIONS";
/// The setting named when the seed nodes are unusable.
const CLUSTER_SETTING: &str = "--redis-cluster / NOTIFY_REDIS_CLUSTER";

/// The cluster client and its shared connection.
pub(super) struct Cluster {
    pub(super) client: ClusterClient,
    pub(super) shared: OnceCell<ClusterConnection>,
    /// The first seed node, where the pub/sub bridge subscribes.
    pub(super) first: (String, u16),
}

impl RedisStore {
    /// On a cluster, records the partition count in `<prefix>:{0}:layout` the first time, and
    /// refuses to run with another one: users would be looked for in the wrong partitions.
    pub(super) async fn check_layout(
        &self,
        conn: &mut BlockingConnection,
    ) -> Result<(), StoreError> {
        if self.cluster.is_none() {
            return Ok(());
        }
        let want = self.partitions.len();
        let key = self.key_of("layout");
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(want)
            .arg("NX")
            .query_async(conn)
            .await?;
        let have: Option<usize> = redis::cmd("GET").arg(&key).query_async(conn).await?;
        match have {
            Some(have) if have != want => Err(StoreError::Config {
                setting: PARTITIONS_SETTING,
                message: format!(
                    "this relay uses {want} partitions but the cluster's data is laid out in {have} ({key}); changing the count is the repartitioning in docs/CLUSTER.md"
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// The cluster client for the seed nodes, each with the URL's auth and TLS settings.
pub(super) fn cluster_client(
    template: &NodeTemplate,
    seeds: &[String],
) -> Result<(ClusterClient, (String, u16)), StoreError> {
    let addrs = seeds
        .iter()
        .map(|seed| {
            let (host, port) = seed
                .trim()
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
                .ok_or_else(|| StoreError::Config {
                    setting: CLUSTER_SETTING,
                    message: format!("{seed:?} is not host:port"),
                })?;
            Ok((host.to_owned(), port))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let nodes = addrs.iter().map(|(h, p)| template.info_for(h, *p));
    let mut builder = ClusterClientBuilder::new(nodes)
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        // A slot being migrated answers TRYAGAIN to a script whose keys are split between
        // the two nodes for a moment: enough retries to outlast a migration step.
        .retries(12)
        .max_retry_wait(500);
    if let Some(tls) = template.tls() {
        builder = builder.certs(tls);
    }
    let client = builder.build().map_err(|e| StoreError::Config {
        setting: CLUSTER_SETTING,
        message: e.to_string(),
    })?;
    Ok((client, addrs[0].clone()))
}
