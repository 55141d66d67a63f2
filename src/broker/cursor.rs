//! Judging a cursor: whether the events after it may be lost to the client, so it must be reset.
//!
//! Each broker reads the facts in one go from its store ([`CursorFacts`]); the judgement is one
//! pure function, [`cursor_is_stale`], shared by both brokers and tested here.

use crate::event::EventId;

/// What a broker knows about a user's history, to decide whether a cursor is still good.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UserHistoryFacts {
    /// No history is kept for the user (never had an event, or it expired).
    Missing,
    /// History exists; events up to `max_deleted` were trimmed from it.
    Present {
        /// The newest id that was trimmed away, or zero.
        max_deleted: EventId,
    },
}

/// Everything needed to judge a cursor, read in one go from the store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CursorFacts {
    /// Newest id in the log.
    pub head: EventId,
    /// First id the store's current life appended; older cursors come from a lost life.
    pub epoch: Option<EventId>,
    /// The user's history.
    pub user: UserHistoryFacts,
    /// The store's clock, in ms.
    pub now_ms: u64,
    /// How long a user's history lives after their last event, in ms.
    pub ttl_ms: u64,
}

/// True when events after `cursor` may have been lost to the client, so it must be reset.
///
/// The zero cursor is what an empty store hands out as its head; it means "from the beginning",
/// so it is not stale by age or by the store's epoch, but like any other cursor it is stale once
/// the user's history was trimmed (events after it are gone) or when it lies ahead of the head.
pub(crate) fn cursor_is_stale(cursor: EventId, facts: &CursorFacts) -> bool {
    if cursor > facts.head {
        return true;
    }
    let zero = cursor == EventId::ZERO;
    if !zero && facts.epoch.is_some_and(|epoch| cursor < epoch) {
        return true;
    }
    match facts.user {
        UserHistoryFacts::Present { max_deleted } => cursor < max_deleted,
        UserHistoryFacts::Missing => !zero && cursor.ms.saturating_add(facts.ttl_ms) < facts.now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(user: UserHistoryFacts) -> CursorFacts {
        CursorFacts {
            head: EventId::new(1900, 5),
            epoch: Some(EventId::new(100, 0)),
            user,
            now_ms: 2000,
            ttl_ms: 500,
        }
    }

    #[test]
    fn a_cursor_from_the_future_is_stale() {
        let f = facts(UserHistoryFacts::Present {
            max_deleted: EventId::ZERO,
        });
        assert!(cursor_is_stale(EventId::new(1900, 6), &f));
        assert!(!cursor_is_stale(EventId::new(1900, 5), &f));
    }

    #[test]
    fn a_cursor_from_before_the_store_lost_its_data_is_stale() {
        let f = facts(UserHistoryFacts::Present {
            max_deleted: EventId::ZERO,
        });
        assert!(cursor_is_stale(EventId::new(99, 0), &f));
        assert!(!cursor_is_stale(EventId::ZERO, &f));
    }

    #[test]
    fn a_cursor_older_than_trimmed_history_is_stale() {
        let f = facts(UserHistoryFacts::Present {
            max_deleted: EventId::new(500, 0),
        });
        assert!(cursor_is_stale(EventId::new(499, 9), &f));
        assert!(!cursor_is_stale(EventId::new(500, 0), &f));
    }

    #[test]
    fn the_zero_cursor_is_stale_once_history_was_trimmed() {
        let trimmed = facts(UserHistoryFacts::Present {
            max_deleted: EventId::new(500, 0),
        });
        assert!(cursor_is_stale(EventId::ZERO, &trimmed));
        let whole = facts(UserHistoryFacts::Present {
            max_deleted: EventId::ZERO,
        });
        assert!(!cursor_is_stale(EventId::ZERO, &whole));
        assert!(!cursor_is_stale(
            EventId::ZERO,
            &facts(UserHistoryFacts::Missing)
        ));
    }

    #[test]
    fn a_cursor_at_the_top_of_the_id_space_is_stale() {
        let f = facts(UserHistoryFacts::Missing);
        assert!(cursor_is_stale(EventId::new(u64::MAX, u64::MAX), &f));
        assert!(cursor_is_stale(EventId::new(1900, u64::MAX), &f));
    }

    #[test]
    fn a_missing_history_is_stale_only_for_cursors_older_than_its_ttl() {
        let f = facts(UserHistoryFacts::Missing);
        assert!(cursor_is_stale(EventId::new(1499, 0), &f));
        assert!(!cursor_is_stale(EventId::new(1500, 0), &f));
    }
}
