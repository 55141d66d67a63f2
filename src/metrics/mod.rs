//! Prometheus metrics: one registry per relay, and the instruments the other parts count with.
//!
//! Every counter, gauge and histogram lives here as a `prometheus` type, created and registered
//! once at start-up with its labels already resolved, so counting on the delivery path is a few
//! atomic adds: no lock, no allocation, no label lookup. Values that are cheaper to read than to
//! track (bridge lease, broker reachability) are sampled when `/metrics` is scraped.
//!
//! Each relay (and each test's relay) has its own registry; nothing is global.

use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::{
    event::{EventId, now_ms},
    transport::Transport,
};

mod account;
mod groups;

pub use account::ConnectionAccount;
pub use groups::{EmailCounters, NotificationsDbMetrics, StreamIngestMetrics};

/// Latency buckets in seconds: a local fan-out takes well under a millisecond; a stalled
/// client or a clock skew between Redis and the relay shows up in the top buckets.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The relay's instruments; shared as `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    /// Open connections by transport (SSE streams, waiting polls).
    connections: IntGaugeVec,
    sse_open: IntGauge,
    polls_waiting: IntGauge,
    /// Events stored, by the way they came in.
    pub ingested_http: IntCounter,
    /// Events appended by the pub/sub bridge.
    pub ingested_pubsub: IntCounter,
    rejected: IntCounterVec,
    delivered_sse: IntCounter,
    delivered_poll: IntCounter,
    latency_sse: Histogram,
    latency_poll: Histogram,
    /// Subscribers disconnected because their queue was full.
    pub slow_disconnects: IntCounter,
    /// Log entries the hub received from the broker's tail.
    pub tail_entries: IntCounter,
    /// Times the broker's tail lost its connection and reconnected.
    pub broker_reconnects: IntCounter,
    broker_up: IntGauge,
    tail_live: IntGauge,
    bridge_holder: IntGauge,
    /// The mail path's counters (sent, failed, retried, queued, dropped reports).
    pub email: EmailCounters,
    /// The notification log's SQL sink (`--notifications-db`).
    pub notifications_db: NotificationsDbMetrics,
    /// Unsent emails in the outbox (redis broker), sampled at scrape time.
    pub email_outbox_depth: IntGauge,
    /// The `--max-connections` this instance was started with.
    pub connections_limit: IntGauge,
    /// The per-user delivery trace: its hooks sit beside the counters they resemble.
    pub trace: Arc<crate::trace::Tracer>,
    /// Stream ingest: events appended from the ingest stream, and where its group stands.
    pub stream: StreamIngestMetrics,
}

impl Metrics {
    /// Creates and registers every instrument.
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        let connections = IntGaugeVec::new(
            Opts::new(
                "notify_connections",
                "Open subscriber connections: SSE streams and waiting long-polls.",
            ),
            &["transport"],
        )
        .expect(STATIC);
        let ingested = IntCounterVec::new(
            Opts::new("notify_events_ingested_total", "Events stored, by source."),
            &["source"],
        )
        .expect(STATIC);
        let rejected = IntCounterVec::new(
            Opts::new(
                "notify_events_rejected_total",
                "Published messages not stored, by source and reason (the error code).",
            ),
            &["source", "reason"],
        )
        .expect(STATIC);
        let delivered = IntCounterVec::new(
            Opts::new(
                "notify_events_delivered_total",
                "Events written to subscriber connections (history replay included), by transport.",
            ),
            &["transport"],
        )
        .expect(STATIC);
        let latency = prometheus::HistogramVec::new(
            HistogramOpts::new(
                "notify_delivery_latency_seconds",
                "From append (the event id's timestamp) to the write into a connection, for live events (not history replay).",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["transport"],
        )
        .expect(STATIC);
        let this = Self {
            sse_open: connections.with_label_values(&["sse"]),
            polls_waiting: connections.with_label_values(&["poll"]),
            ingested_http: ingested.with_label_values(&["http"]),
            ingested_pubsub: ingested.with_label_values(&["pubsub"]),
            delivered_sse: delivered.with_label_values(&["sse"]),
            delivered_poll: delivered.with_label_values(&["poll"]),
            latency_sse: latency.with_label_values(&["sse"]),
            latency_poll: latency.with_label_values(&["poll"]),
            slow_disconnects: counter(
                "notify_slow_client_disconnects_total",
                "Subscribers disconnected because they fell --queue-len events behind.",
            ),
            tail_entries: counter(
                "notify_tail_entries_total",
                "Log entries received from the broker's tail and fanned out.",
            ),
            broker_reconnects: counter(
                "notify_broker_reconnects_total",
                "Times the broker's log tail lost its connection and reconnected (redis broker).",
            ),
            broker_up: gauge(
                "notify_broker_up",
                "1 when the broker answered a ping at scrape time.",
            ),
            tail_live: gauge(
                "notify_tail_live",
                "1 when the log tail is positioned and delivering.",
            ),
            bridge_holder: gauge(
                "notify_bridge_lease_holder",
                "1 when this instance holds the pub/sub bridge lease (redis broker).",
            ),
            email: EmailCounters::new(),
            notifications_db: NotificationsDbMetrics::new(),
            email_outbox_depth: gauge(
                "notify_email_outbox_depth",
                "Emails in the outbox not sent yet (redis broker), sampled at scrape time.",
            ),
            connections_limit: gauge(
                "notify_connections_limit",
                "The most subscriber connections this instance accepts (--max-connections).",
            ),
            trace: Arc::default(),
            stream: StreamIngestMetrics::new(ingested.with_label_values(&["stream"])),
            connections,
            rejected,
            registry,
        };
        let collectors: [Box<dyn prometheus::core::Collector>; 13] = [
            Box::new(this.connections.clone()),
            Box::new(ingested),
            Box::new(this.rejected.clone()),
            Box::new(delivered),
            Box::new(latency),
            Box::new(this.slow_disconnects.clone()),
            Box::new(this.tail_entries.clone()),
            Box::new(this.broker_reconnects.clone()),
            Box::new(this.broker_up.clone()),
            Box::new(this.tail_live.clone()),
            Box::new(this.bridge_holder.clone()),
            Box::new(this.email_outbox_depth.clone()),
            Box::new(this.connections_limit.clone()),
        ];
        for c in collectors {
            this.registry.register(c).expect(STATIC);
        }
        groups::register(
            &this.registry,
            &this.email,
            &this.notifications_db,
            &this.stream,
        );
        Arc::new(this)
    }

    /// Counts a published message that was not stored. Off the delivery path, so the label
    /// lookup is fine here.
    pub fn reject(&self, source: &str, reason: &str) {
        self.rejected.with_label_values(&[source, reason]).inc();
    }

    /// The gauge of open connections of `transport`.
    pub fn open(&self, transport: Transport) -> &IntGauge {
        match transport {
            Transport::Sse => &self.sse_open,
            Transport::Poll => &self.polls_waiting,
        }
    }

    /// Counts `n` events written to a connection, none of them timed (history replay).
    pub fn delivered_from_history(&self, transport: Transport, n: usize) {
        self.delivered(transport).inc_by(n as u64);
    }

    /// Counts one live event written to a connection and times it from its append.
    pub fn delivered_live(&self, transport: Transport, id: EventId) {
        self.delivered(transport).inc();
        let latency = match transport {
            Transport::Sse => &self.latency_sse,
            Transport::Poll => &self.latency_poll,
        };
        // The id's ms part is the append time (Redis's clock or ours): a skew can make it
        // "in the future"; count that as zero rather than as a negative latency.
        latency.observe(now_ms().saturating_sub(id.ms) as f64 / 1000.0);
    }

    /// Events stored and events written to connections so far (for the admin page's rates).
    pub fn totals(&self) -> (u64, u64) {
        (
            self.ingested_http.get() + self.ingested_pubsub.get(),
            self.delivered_sse.get() + self.delivered_poll.get(),
        )
    }

    fn delivered(&self, transport: Transport) -> &IntCounter {
        match transport {
            Transport::Sse => &self.delivered_sse,
            Transport::Poll => &self.delivered_poll,
        }
    }

    /// Records the values sampled at scrape time.
    pub fn sample(&self, broker_up: bool, tail_live: bool, bridge_holder: bool) {
        self.broker_up.set(broker_up.into());
        self.tail_live.set(tail_live.into());
        self.bridge_holder.set(bridge_holder.into());
    }

    /// Everything in the Prometheus text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::with_capacity(4096);
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Instrument names and label sets are constants, so building them cannot fail at run time;
/// the unit test below builds and renders every one.
const STATIC: &str = "static metric definitions are valid";

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect(STATIC)
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect(STATIC)
}

#[cfg(test)]
mod tests;
