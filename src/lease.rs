//! The leader lease: one instance at a time holds it in Redis (`bridge-lease`) and runs the work
//! only one instance may do: the pub/sub bridge, stream ingest, the email mover and the
//! notification table's writer. The bridge takes and renews it ([`crate::ingest`]) and fences its
//! appends with it; everything else only asks [`Leadership::held`].

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use crate::metrics::Metrics;

/// Whether this instance holds the leader lease now.
pub struct Leadership {
    /// True while this instance holds the lease (and its bridge is subscribed).
    held: AtomicBool,
    /// Where the bridge counts accepted, malformed and failed messages.
    pub metrics: Arc<Metrics>,
}

impl Leadership {
    /// An instance that does not hold the lease yet.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            held: AtomicBool::new(false),
            metrics,
        }
    }

    /// True while this instance holds the lease.
    pub fn held(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    /// Records that the lease was taken (true) or lost (false).
    pub fn set_held(&self, held: bool) {
        self.held.store(held, Ordering::Release);
    }
}
