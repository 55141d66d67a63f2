//! The broker as configured: the memory broker, or Redis with its failover follower, the pub/sub
//! bridge (and stream ingest), the recent-event cache and the tail every instance runs.

use std::sync::Arc;

use super::StartupError;
use crate::{
    broker::{Broker, cache::CachedBroker, memory::MemoryBroker, redis::RedisBroker},
    config::BrokerSettings,
    hub::Hub,
    ingest,
    lease::Leadership,
    metrics::Metrics,
    redis_store::RedisStore,
    tasks::Tasks,
};

/// The broker, the lease (on Redis), and what email needs of Redis (on Redis).
pub(super) type BrokerParts = (
    Arc<dyn Broker>,
    Option<Arc<Leadership>>,
    Option<(Arc<RedisStore>, Arc<Leadership>)>,
);

/// Builds the broker `settings` describe, spawns its loops into `tasks`, and starts its tail.
pub(super) async fn make_broker(
    settings: BrokerSettings,
    hub: &Arc<Hub>,
    metrics: &Arc<Metrics>,
    tasks: &Tasks,
) -> Result<BrokerParts, StartupError> {
    let history = settings.history;
    let (broker, bridge, email): BrokerParts = match settings.store {
        None => {
            tracing::info!("using the in-memory broker (one process; history is lost on restart)");
            (
                MemoryBroker::with_limits(
                    history.history_len,
                    history.history_ttl,
                    history.idempotency_ttl,
                    history.max_topic_recipients,
                ),
                None,
                None,
            )
        }
        Some(store) => {
            let store = RedisStore::new(store)?;
            store.check().await?;
            if store.has_sentinels() {
                tasks.spawn("failover-follower", store.clone().follow_failovers());
            }
            let (history_len, ttl) = (history.history_len, history.history_ttl);
            let redis = RedisBroker::new(store.clone(), history, metrics.broker_reconnects.clone());
            let status = Arc::new(Leadership::new(metrics.clone()));
            let bridge = settings.bridge;
            tracing::info!(channels = ?bridge.channels, "using the redis broker");
            let (bridge_broker, bridge_status) = (redis.clone(), status.clone());
            tasks.spawn_graceful("bridge", |shutdown| {
                ingest::run_bridge(bridge_broker, bridge, bridge_status, shutdown)
            });
            // The cache's "seen continuously" is one line of ids; a partitioned log has one per
            // partition, so on a cluster every read goes to Redis (see docs/CLUSTER.md).
            let cache_bytes = match store.is_cluster() {
                true => 0,
                false => settings.cache_bytes,
            };
            let broker: Arc<dyn Broker> = match cache_bytes {
                0 => redis.clone(),
                budget => CachedBroker::new(redis.clone(), budget, history_len, ttl),
            };
            (broker, Some(status.clone()), Some((store, status)))
        }
    };
    broker.clone().start_tail(hub.clone(), tasks);
    Ok((broker, bridge, email))
}
