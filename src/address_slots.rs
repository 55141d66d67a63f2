//! A cap on the open `/events` streams of one client address, so that one address cannot hold
//! every socket of the relay (`--max-connections-per-address`).
//!
//! Addresses are counted as the rate limits count them: the client named by a trusted proxy, IPv6
//! per /64. A stream holds its place in a [`Slot`] that gives it back when the stream is
//! dropped, so the count is right however the stream ends. The map is touched on open and close
//! only, never on delivery, and holds only addresses with an open stream.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

/// Seconds a refused client is told to wait: long enough not to spin, short enough that a tab
/// closing elsewhere frees the place for it soon.
pub const RETRY_AFTER_SECS: u64 = 5;

/// Open streams per client address, with a ceiling.
#[derive(Debug)]
pub struct AddressSlots {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open stream's place in its address's count; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<AddressSlots>,
    key: IpAddr,
}

impl AddressSlots {
    /// At most `max` streams per address; 0 switches the cap off.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for a stream from `key` (already reduced by `rate_key`); `None` when the
    /// address is at its cap. With the cap off, places are not counted at all.
    pub fn take(self: &Arc<Self>, key: IpAddr) -> Option<Option<Slot>> {
        if self.max == 0 {
            return Some(None);
        }
        let mut open = self.lock();
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Some(Slot {
            slots: self.clone(),
            key,
        }))
    }

    /// The most streams per address, 0 for no cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Addresses with an open stream (for tests and metrics).
    pub fn addresses(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_cap_and_a_dropped_slot_frees_its_place() {
        let slots = AddressSlots::new(2);
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        let first = slots.take(a).expect("room");
        let _second = slots.take(a).expect("room");
        assert!(slots.take(a).is_none(), "a third stream from a is refused");
        assert!(slots.take(b).is_some(), "b has its own count");
        drop(first);
        assert!(slots.take(a).is_some(), "the place came back");
    }

    #[test]
    fn addresses_without_open_streams_are_forgotten() {
        let slots = AddressSlots::new(3);
        let held: Vec<_> = (0..100u8)
            .map(|i| slots.take([198, 51, 100, i].into()).expect("room"))
            .collect();
        assert_eq!(slots.addresses(), 100);
        drop(held);
        assert_eq!(slots.addresses(), 0);
    }

    #[test]
    fn a_cap_of_zero_counts_nothing() {
        let slots = AddressSlots::new(0);
        for _ in 0..10 {
            assert!(matches!(slots.take([192, 0, 2, 1].into()), Some(None)));
        }
        assert_eq!(slots.addresses(), 0);
    }
}
