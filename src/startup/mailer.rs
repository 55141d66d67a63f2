//! `notify-relay mailer`: the mail worker alone, in its own process.

use std::sync::Arc;

use super::{StartupError, signal::on_signal};
use crate::{
    config::Settings,
    email,
    metrics::Metrics,
    redis_store::RedisStore,
    tasks::{self, Tasks},
};

/// Runs only the mail worker (`notify-relay mailer`) until SIGTERM or SIGINT, then stops its
/// tasks as the relay does: a mail being sent when the signal comes is finished, one waiting
/// to be retried is left pending and reclaimed by a worker later.
pub async fn run_mailer(settings: Settings) -> Result<(), StartupError> {
    let config = settings.split();
    let store = config.broker.store.ok_or(StartupError::MailerNeedsRedis)?;
    let metrics = Metrics::new();
    let redis = RedisStore::new(store)?;
    redis.check().await?;
    // Listening before any task starts: a signal from now on stops them in order.
    let signal = on_signal();
    let tasks = Tasks::new();
    if redis.has_sentinels() {
        tasks.spawn("failover-follower", redis.clone().follow_failovers());
    }
    let stats = Arc::new(metrics.email.clone());
    let instance = format!("{:016x}", rand::random::<u64>());
    metrics.trace.attach(&instance, Some(redis.clone()), &tasks);
    let mailer = email::mailer(
        &config.email.worker,
        &redis,
        &stats,
        &instance,
        &metrics.trace,
    )?;
    tasks.spawn_graceful("mailer", |shutdown| mailer.run(shutdown));
    signal.await;
    tracing::info!("signal received: mail worker stopping");
    tasks.shutdown(tasks::JOIN_WAIT).await;
    Ok(())
}
