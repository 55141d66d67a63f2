//! How a subscriber is connected: the one fact about a connection that the hub, the metrics
//! and the delivery trace all need, kept below all three.

/// Which transport a subscriber uses; keepalives go to SSE streams only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A `GET /events` stream.
    Sse,
    /// A waiting `GET /poll`.
    Poll,
}
