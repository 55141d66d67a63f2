//! One subscriber connection's share of the metrics, and its closing log line.

use std::{sync::Arc, time::Instant};

use tracing::Span;

use super::Metrics;
use crate::{
    event::{EventId, UserId},
    transport::Transport,
};

/// One subscriber connection's accounting: counted in its gauge while it lives, its deliveries
/// counted and timed, and (for SSE) a closing log line with what it got.
pub struct Connection {
    metrics: Arc<Metrics>,
    transport: Transport,
    user: UserId,
    opened: Instant,
    sent: u64,
    /// This connection's number in delivery traces.
    number: u64,
    /// The request's span, so the closing line carries its request id even when the body is
    /// dropped outside it.
    span: Span,
}

impl Connection {
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
            span: Span::current(),
        }
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

impl Drop for Connection {
    fn drop(&mut self) {
        self.metrics.open(self.transport).dec();
        if self.transport == Transport::Sse {
            tracing::info!(
                parent: &self.span,
                user = %self.user,
                duration_ms = self.opened.elapsed().as_millis() as u64,
                events_sent = self.sent,
                "sse stream closed"
            );
        }
    }
}
