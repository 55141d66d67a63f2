//! One subscriber connection's share of the metrics, and its closing log line.

use std::{sync::Arc, time::Instant};

use tracing::{Level, Span};

use super::Metrics;
use crate::{
    event::{EventId, UserId},
    telemetry::{self, RequestId},
    transport::Transport,
};

/// One subscriber connection's accounting: counted in its gauge while it lives, its deliveries
/// counted and timed, and (for SSE) a closing log line with what it got.
pub struct ConnectionAccount {
    metrics: Arc<Metrics>,
    transport: Transport,
    user: UserId,
    opened: Instant,
    sent: u64,
    /// This connection's number in delivery traces.
    number: u64,
    /// The request's id, for the lines written after the request was answered (the closing
    /// line): kept instead of the request's span, which would cost ~1.4 KB per idle stream.
    /// Only when those lines are logged at all.
    request_id: Option<Box<str>>,
}

impl ConnectionAccount {
    /// Counts a connection of `transport` for `user` as open until dropped.
    pub fn open(metrics: &Arc<Metrics>, transport: Transport, user: &UserId) -> Self {
        metrics.open(transport).inc();
        Self {
            metrics: metrics.clone(),
            transport,
            user: user.clone(),
            opened: Instant::now(),
            sent: 0,
            number: metrics.trace.next_connection(),
            request_id: None,
        }
    }

    /// Names the request this connection answers, for its later log lines.
    pub fn logged_as(&mut self, request_id: Option<&RequestId>) {
        if tracing::enabled!(Level::INFO) {
            self.request_id = request_id.map(|id| id.as_str().into());
        }
    }

    /// The delivery trace, which hears what this connection is sent.
    pub fn trace(&self) -> &crate::trace::Tracer {
        &self.metrics.trace
    }

    /// The request's span again ([`telemetry::stream_span`]), for a line written after the
    /// request was answered; none when the request was not named or such lines are off.
    pub fn span(&self) -> Span {
        self.request_id
            .as_deref()
            .map_or_else(Span::none, telemetry::stream_span)
    }

    /// Counts `n` events written from history (not timed: they may be old on purpose).
    pub fn sent_from_history(&mut self, n: usize) {
        self.sent += n as u64;
        self.metrics.delivered_from_history(self.transport, n);
    }

    /// Counts one live event written to the connection and times it.
    pub fn sent_live(&mut self, id: EventId) {
        self.sent += 1;
        self.metrics.delivered_live(self.transport, id);
        self.metrics
            .trace
            .delivered(&self.user, self.transport, self.number, id);
    }
}

impl Drop for ConnectionAccount {
    fn drop(&mut self) {
        self.metrics.open(self.transport).dec();
        if self.transport == Transport::Sse {
            tracing::info!(
                parent: &self.span(),
                user = %self.user,
                duration_ms = self.opened.elapsed().as_millis() as u64,
                events_sent = self.sent,
                "sse stream closed"
            );
        }
    }
}
