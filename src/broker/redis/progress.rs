//! What a batch append reports: how far it got, and what became of each event it ran.

use crate::broker::{Appended, BrokerError};

/// How far a batch got: the outcome of each leading event, and why it stopped if it did.
#[derive(Debug)]
pub struct BatchProgress {
    /// One outcome per leading event, in order.
    pub done: Vec<ItemOutcome>,
    /// Why the events after `done` were not run; `None` when all were.
    pub stopped: Option<BrokerError>,
}

/// What became of one event of a batch.
#[derive(Debug)]
pub enum ItemOutcome {
    /// Stored (or found stored by an earlier attempt).
    Stored(Appended),
    /// Stored on the primary, but `WAIT` did not confirm enough replicas in time
    /// (`NOTIFY_REDIS_WAIT_REPLICAS`): not acknowledged, and not appended again by this batch.
    Unconfirmed {
        /// Why, as the store said it.
        reason: String,
    },
    /// Redis refused this event alone: the script failed for it (`transient` false), or failed
    /// with a passing condition (out of memory, busy) while later events of the batch were
    /// stored, so retrying it now would store it out of order (`transient` true).
    Refused {
        /// Redis's error.
        reason: String,
        /// True for a condition that may pass (a later retry may succeed).
        transient: bool,
    },
}

impl BatchProgress {
    /// Nothing run yet, room for `n` outcomes.
    pub(super) fn for_events(n: usize) -> Self {
        Self {
            done: Vec::with_capacity(n),
            stopped: None,
        }
    }

    /// Nothing run: `why` stopped the batch before its first event.
    pub(super) fn stopped_by(why: BrokerError) -> Self {
        Self {
            done: Vec::new(),
            stopped: Some(why),
        }
    }

    /// How many leading events were stored or refused.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// True when no event was run.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }
}
