//! The admin page's figures: this instance's and every instance's (through Redis).
//!
//! Each instance with the admin key samples its own figures once a second ([`run_sampler`]):
//! counters become rates over the last [`WINDOW`] samples, and on Redis the figures are written
//! to the hash `admin:figures` (instance → JSON), which any instance reads to show the cluster.
//! Figures older than [`STALE_MS`] belong to an instance that is gone and are not shown.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::{
    Admin,
    bodies::{ClusterConnections, ClusterFigures, InstanceConnections, InstanceFigures, Overview},
};
use crate::{
    broker::{Broker, BrokerError, TailSink},
    email::{Email, notification_log::Status},
    event::now_ms,
    hub::Hub,
    metrics::Metrics,
    presence::Presence,
    routes::Lease,
    transport::Transport,
};

/// How often figures are sampled.
pub const EVERY: Duration = Duration::from_secs(1);
/// Samples a rate is computed over.
pub const WINDOW: usize = 10;
/// Figures older than this are an instance that stopped.
pub const STALE_MS: u64 = 5_000;
/// Notification log records shown in the lookup and the overview.
pub(super) const LOG_SHOWN: usize = 10;

/// Recent samples of the ingest and delivery counters.
#[derive(Default)]
pub struct Rates(Mutex<VecDeque<(Instant, u64, u64)>>);

impl Rates {
    fn push(&self, totals: (u64, u64)) {
        let mut samples = self.0.lock().unwrap_or_else(|p| p.into_inner());
        samples.push_back((Instant::now(), totals.0, totals.1));
        while samples.len() > WINDOW {
            samples.pop_front();
        }
    }

    /// Events per second in and out over the window.
    fn per_sec(&self) -> (f64, f64) {
        let samples = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match (samples.front(), samples.back()) {
            (Some(first), Some(last)) if last.0 > first.0 => {
                let secs = (last.0 - first.0).as_secs_f64();
                (
                    last.1.saturating_sub(first.1) as f64 / secs,
                    last.2.saturating_sub(first.2) as f64 / secs,
                )
            }
            _ => (0.0, 0.0),
        }
    }
}

/// The relay's parts the figures are read from. The sampler and both figure routes read the
/// same set, and the sampler runs outside any request, so the admin side holds them (one set,
/// made by the application) instead of each route extracting them.
pub struct Sources {
    /// Live subscribers: the sampler runs while the hub is open.
    pub hub: Arc<Hub>,
    /// The log head (tail lag) and a user's history.
    pub broker: Arc<dyn Broker>,
    /// Connection and email counts, rates, and the delivery trace.
    pub metrics: Arc<Metrics>,
    /// Whether this instance holds the leader lease.
    pub lease: Arc<Lease>,
    /// A user's presence on every instance.
    pub presence: Arc<Presence>,
    /// Contacts, the notification log and the outbox (on Redis).
    pub email: Arc<Email>,
}

/// Emails in the outbox not sent yet; `None` on the memory broker.
async fn outbox_depth(email: &Email) -> Option<Result<u64, BrokerError>> {
    Some(email.store.as_ref()?.outbox_depth().await)
}

/// Samples this instance's figures every [`EVERY`] until the relay stops; on Redis, shares them.
pub async fn run_sampler(admin: Arc<Admin>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while admin.sources.hub.open() {
        tick.tick().await;
        admin.rates.push(admin.sources.metrics.totals());
        let Some(redis) = &admin.redis else {
            continue;
        };
        let figures = this_instance(&admin).await;
        let key = redis.key_of("admin:figures");
        let written = async {
            let mut conn = redis.connection().await?;
            redis::pipe()
                .cmd("HSET")
                .arg(&key)
                .arg(&admin.instance)
                .arg(serde_json::to_string(&figures).unwrap_or_default())
                .ignore()
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(STALE_MS * 4)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
                .map_err(BrokerError::from)
        };
        if let Err(e) = written.await {
            tracing::debug!(error = %e, "could not share the admin figures");
        }
    }
}

/// This instance's figures now.
async fn this_instance(admin: &Admin) -> InstanceFigures {
    let Sources {
        hub,
        broker,
        metrics: m,
        lease,
        ..
    } = &admin.sources;
    let (events_in, events_out) = admin.rates.per_sec();
    // How far the tail is behind the newest id in the log (0 when it has caught up).
    let last = m.trace.last_tail_ms();
    let tail_lag_ms = match broker.head().await {
        Ok(head) if last > 0 => Some(head.ms.saturating_sub(last)),
        Ok(_) => Some(0),
        Err(_) => None,
    };
    let open = |transport| u64::try_from(m.open(transport).get()).unwrap_or(0);
    InstanceFigures {
        instance: admin.instance.clone(),
        at_ms: now_ms(),
        connections: InstanceConnections {
            sse: open(Transport::Sse),
            poll: open(Transport::Poll),
            limit: admin.connections_limit as u64,
        },
        users_online: hub.users_online() as u64,
        events_in_per_sec: round(events_in),
        events_out_per_sec: round(events_out),
        lease_holder: lease.held(),
        tail_live: hub.is_live(),
        tail_lag_ms,
        emails_sent: m.email.sent.get(),
        emails_failed: m.email.failed.get(),
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The figures every instance shared within [`STALE_MS`], `here` in place of this one's, by
/// name.
async fn every_instance(
    admin: &Admin,
    here: &InstanceFigures,
) -> Result<Vec<InstanceFigures>, BrokerError> {
    let Some(redis) = &admin.redis else {
        return Ok(vec![here.clone()]);
    };
    let mut conn = redis.connection().await?;
    let all: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(redis.key_of("admin:figures"))
        .query_async(&mut conn)
        .await
        .map_err(BrokerError::from)?;
    let fresh = now_ms().saturating_sub(STALE_MS);
    let mut instances: Vec<InstanceFigures> = all
        .values()
        .filter_map(|v| serde_json::from_str::<InstanceFigures>(v).ok())
        .filter(|f| f.at_ms >= fresh && f.instance != here.instance)
        .chain(std::iter::once(here.clone()))
        .collect();
    instances.sort_by(|a, b| a.instance.cmp(&b.instance));
    Ok(instances)
}

/// `GET /admin/overview`: this instance, the cluster, failed emails and recent errors.
pub async fn overview(admin: &Admin) -> Result<Overview, BrokerError> {
    let here = this_instance(admin).await;
    let email = &admin.sources.email;
    let instances = every_instance(admin, &here).await?;
    let sum = |field: fn(&InstanceFigures) -> u64| instances.iter().map(field).sum::<u64>();
    let rate = |field: fn(&InstanceFigures) -> f64| round(instances.iter().map(field).sum());
    let failed_emails = match email.store.as_ref() {
        Some(store) => {
            store
                .notification_log
                .list(None, Some(Status::Failed), LOG_SHOWN)
                .await?
                .notifications
        }
        None => Vec::new(),
    };
    let cluster = ClusterFigures {
        instances: instances.len(),
        connections: ClusterConnections {
            sse: sum(|i| i.connections.sse),
            poll: sum(|i| i.connections.poll),
        },
        users_online: sum(|i| i.users_online),
        events_in_per_sec: rate(|i| i.events_in_per_sec),
        events_out_per_sec: rate(|i| i.events_out_per_sec),
        lease_holder: instances
            .iter()
            .find(|i| i.lease_holder)
            .map(|i| i.instance.clone()),
        email_outbox_depth: outbox_depth(email).await.and_then(Result::ok),
        emails_failed: sum(|i| i.emails_failed),
    };
    Ok(Overview {
        instance: here,
        cluster,
        instances,
        failed_emails,
        recent_errors: crate::telemetry::recent::recent(),
    })
}

/// Starts the sampler when the admin routes are on.
pub fn start(admin: &Arc<Admin>, tasks: &crate::tasks::Tasks) {
    if admin.enabled() {
        tasks.spawn("admin-sampler", run_sampler(admin.clone()));
    }
}
