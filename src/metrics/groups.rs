//! The instrument groups the mail path, the notification log's SQL sink and stream ingest count
//! with: each part gets its own group (cheap to clone, sharing the values), not all of `Metrics`.

use prometheus::{IntCounter, IntGauge, Registry, core::Collector};

use super::{STATIC, counter, gauge};

/// Instruments of the notification log's SQL sink; clones share the values.
#[derive(Clone)]
pub struct NotificationsDbMetrics {
    /// Record copies waiting in Redis for the database, sampled at scrape time.
    pub backlog: IntGauge,
    /// Record copies written to the database.
    pub written: IntCounter,
    /// Failed write rounds (database down, slow or refusing).
    pub errors: IntCounter,
    /// Records the database refused for their data, skipped.
    pub rejected: IntCounter,
}

/// Instruments of stream ingest (`NOTIFY_INGEST_STREAM`).
#[derive(Clone)]
pub struct StreamIngestMetrics {
    /// Events appended from stream entries (a repeat found already stored counts too).
    pub ingested: IntCounter,
    /// Entries in the stream not yet read by the relays' group.
    pub lag: IntGauge,
    /// Entries read but not yet acknowledged (being appended, or left by a dead instance).
    pub pending: IntGauge,
}

/// Counters of the mail path, in the relay's registry; clones share the value.
#[derive(Clone)]
pub struct EmailCounters {
    /// Emails the SMTP server accepted.
    pub sent: IntCounter,
    /// Emails given up on (permanent failure, or out of attempts); each is in the log.
    pub failed: IntCounter,
    /// Transient SMTP failures that were retried.
    pub retried: IntCounter,
    /// Due entries moved into a digest (a recipient did not see the event in time).
    pub queued: IntCounter,
    /// Delivery reports dropped because their queue was full (at worst an extra email).
    pub reports_dropped: IntCounter,
}

impl EmailCounters {
    pub(super) fn new() -> Self {
        Self {
            sent: counter(
                "notify_emails_sent_total",
                "Emails the SMTP server accepted.",
            ),
            failed: counter(
                "notify_emails_failed_total",
                "Emails given up on (permanent failure or out of attempts); each is in the notification log.",
            ),
            retried: counter(
                "notify_emails_retried_total",
                "Transient SMTP failures (connection errors, 4xx) that were retried.",
            ),
            queued: counter(
                "notify_emails_queued_total",
                "Fallback events a recipient did not see in time, moved towards an email.",
            ),
            reports_dropped: counter(
                "notify_email_delivery_reports_dropped_total",
                "Delivery reports dropped because their queue was full (at worst an extra email).",
            ),
        }
    }

    fn collectors(&self) -> [Box<dyn Collector>; 5] {
        [
            Box::new(self.sent.clone()),
            Box::new(self.failed.clone()),
            Box::new(self.retried.clone()),
            Box::new(self.queued.clone()),
            Box::new(self.reports_dropped.clone()),
        ]
    }
}

impl NotificationsDbMetrics {
    pub(super) fn new() -> Self {
        Self {
            backlog: gauge(
                "notify_notifications_db_backlog",
                "Notification log changes waiting in Redis to be written to --notifications-db (sampled at scrape time).",
            ),
            written: counter(
                "notify_notifications_db_written_total",
                "Notification log changes written to --notifications-db.",
            ),
            errors: counter(
                "notify_notifications_db_errors_total",
                "Rounds of writes to --notifications-db that failed and will be retried.",
            ),
            rejected: counter(
                "notify_notifications_db_rejected_total",
                "Notification log records --notifications-db refused for their data (a column or constraint of the table); skipped, each with an error in the log.",
            ),
        }
    }

    fn collectors(&self) -> [Box<dyn Collector>; 4] {
        [
            Box::new(self.backlog.clone()),
            Box::new(self.written.clone()),
            Box::new(self.errors.clone()),
            Box::new(self.rejected.clone()),
        ]
    }
}

impl StreamIngestMetrics {
    /// `ingested` is the `stream` series of `notify_events_ingested_total`, registered with its
    /// other sources by the caller.
    pub(super) fn new(ingested: IntCounter) -> Self {
        Self {
            ingested,
            lag: gauge(
                "notify_ingest_stream_lag",
                "Entries of the ingest stream not yet read by the relays' consumer group (sampled by the stream's reader).",
            ),
            pending: gauge(
                "notify_ingest_stream_pending",
                "Ingest stream entries read but not yet acknowledged (sampled by the stream's reader).",
            ),
        }
    }

    fn collectors(&self) -> [Box<dyn Collector>; 2] {
        [Box::new(self.lag.clone()), Box::new(self.pending.clone())]
    }
}

/// Registers the three groups' own instruments.
pub(super) fn register(
    registry: &Registry,
    email: &EmailCounters,
    db: &NotificationsDbMetrics,
    stream: &StreamIngestMetrics,
) {
    let all = email
        .collectors()
        .into_iter()
        .chain(db.collectors())
        .chain(stream.collectors());
    for c in all {
        registry.register(c).expect(STATIC);
    }
}
