//! Shared counters, the latency histogram, event payloads, and loss/duplicate accounting.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::Deserialize;

const SHARDS: usize = 16;
/// Highest latency the histogram tracks, in microseconds (larger values are clamped).
pub const MAX_LATENCY_US: u64 = 600_000_000;

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The fields the load tool puts in every published event.
#[derive(Debug, Deserialize)]
pub struct Payload {
    /// Sequence number, unique per run.
    pub seq: u32,
    /// Send time, microseconds since the epoch.
    pub ts: u64,
}

/// Counters shared by every connection task.
pub struct Shared {
    hist: Vec<Mutex<Histogram<u64>>>,
    /// Events received (all connections, duplicates included).
    pub received: AtomicU64,
    /// Time of the newest receipt, microseconds since the epoch.
    pub last_recv_us: AtomicU64,
    /// Connections (or pollers) that got their first good response.
    pub connected: AtomicUsize,
    /// Connections that never got a good response.
    pub failed: AtomicUsize,
    /// Connections that ended before the run did.
    pub dropped: AtomicUsize,
    /// Keepalive comments seen (SSE).
    pub keepalives: AtomicU64,
    /// Events whose data was not a load-tool payload.
    pub bad_payloads: AtomicU64,
    /// Long-poll `reset: true` answers (relay) seen.
    pub resets: AtomicU64,
    /// SSE streams reopened with `Last-Event-ID` after the server ended them (`--resume`).
    pub resumes: AtomicU64,
    /// Resumes per wall-clock second (Unix seconds), for the peak reconnect rate.
    pub resumes_per_sec: Mutex<std::collections::BTreeMap<u64, u64>>,
    /// The first few distinct error messages.
    pub errors: Mutex<Vec<String>>,
}

impl Shared {
    /// Fresh counters.
    pub fn new() -> Result<Self, String> {
        let mut hist = Vec::with_capacity(SHARDS);
        for _ in 0..SHARDS {
            let h = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).map_err(|e| e.to_string())?;
            hist.push(Mutex::new(h));
        }
        Ok(Self {
            hist,
            received: AtomicU64::new(0),
            last_recv_us: AtomicU64::new(0),
            connected: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            keepalives: AtomicU64::new(0),
            bad_payloads: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            resumes: AtomicU64::new(0),
            resumes_per_sec: Mutex::new(std::collections::BTreeMap::new()),
            errors: Mutex::new(Vec::new()),
        })
    }

    /// Parses one event's data, records its latency, and returns its sequence number.
    pub fn record(&self, conn: usize, data: &[u8]) -> Option<u32> {
        self.record_latency(conn, data).map(|(seq, _)| seq)
    }

    /// Like [`Self::record`], also returning the event's latency in microseconds.
    pub fn record_latency(&self, conn: usize, data: &[u8]) -> Option<(u32, u64)> {
        let Ok(p) = serde_json::from_slice::<Payload>(data) else {
            self.bad_payloads.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        Some((p.seq, self.record_payload(conn, &p)))
    }

    /// Records latency for an already parsed payload; returns it.
    pub fn record_payload(&self, conn: usize, p: &Payload) -> u64 {
        let now = now_us();
        let lat = now.saturating_sub(p.ts).clamp(1, MAX_LATENCY_US);
        if let Ok(mut h) = self.hist[conn % SHARDS].lock() {
            h.saturating_record(lat);
        }
        self.received.fetch_add(1, Ordering::Relaxed);
        self.last_recv_us.fetch_max(now, Ordering::Relaxed);
        lat
    }

    /// Counts one resume in its second.
    pub fn resumed(&self) {
        self.resumes.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.resumes_per_sec.lock() {
            *m.entry(now_us() / 1_000_000).or_default() += 1;
        }
    }

    /// Notes an error message (the first 8 distinct ones are kept).
    pub fn error(&self, msg: String) {
        if let Ok(mut e) = self.errors.lock()
            && e.len() < 8
            && !e.contains(&msg)
        {
            e.push(msg);
        }
    }

    /// All shards merged into one histogram.
    pub fn histogram(&self) -> Result<Histogram<u64>, String> {
        let mut all =
            Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).map_err(|e| e.to_string())?;
        for h in &self.hist {
            let h = h.lock().map_err(|_| "histogram lock poisoned")?;
            all.add(&*h).map_err(|e| e.to_string())?;
        }
        Ok(all)
    }
}

/// What one connection saw, handed back when it ends.
#[derive(Debug, Default)]
pub struct ConnResult {
    /// Index of the user this connection subscribed as.
    pub user: usize,
    /// Whether it ever got a good response.
    pub connected: bool,
    /// Whether it ended before it was told to stop.
    pub dropped: bool,
    /// Sequence numbers received, in arrival order.
    pub seqs: Vec<u32>,
}

/// Loss and duplicate counts for one connection (or a sum over many).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    /// Events the connection should have received.
    pub expected: u64,
    /// Events received, duplicates included.
    pub received: u64,
    /// Expected events never received.
    pub lost: u64,
    /// Extra copies of events already received.
    pub duplicated: u64,
    /// Received events that were never published to this connection's user.
    pub unexpected: u64,
}

impl Tally {
    /// Compares what was received with the sorted list of what was published to the user.
    pub fn of(expected: &[u32], received: &[u32]) -> Self {
        let mut got = received.to_vec();
        got.sort_unstable();
        let mut t = Tally {
            expected: expected.len() as u64,
            received: got.len() as u64,
            ..Tally::default()
        };
        let mut prev = None;
        let mut e = 0;
        for &s in &got {
            if prev == Some(s) {
                t.duplicated += 1;
                continue;
            }
            prev = Some(s);
            while e < expected.len() && expected[e] < s {
                e += 1;
            }
            if e < expected.len() && expected[e] == s {
                e += 1;
            } else {
                t.unexpected += 1;
            }
        }
        let distinct_expected_seen = t.received - t.duplicated - t.unexpected;
        t.lost = t.expected - distinct_expected_seen;
        t
    }

    /// Adds another tally into this one.
    pub fn add(&mut self, o: &Tally) {
        self.expected += o.expected;
        self.received += o.received;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.unexpected += o.unexpected;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_delivery_is_clean() {
        let t = Tally::of(&[1, 4, 9], &[4, 1, 9]);
        assert_eq!(
            (t.lost, t.duplicated, t.unexpected, t.received),
            (0, 0, 0, 3)
        );
    }

    #[test]
    fn loss_duplicates_and_strays_are_counted_apart() {
        let t = Tally::of(&[1, 2, 3, 4], &[2, 2, 7, 4, 2]);
        assert_eq!(t.expected, 4);
        assert_eq!(t.received, 5);
        assert_eq!(t.duplicated, 2);
        assert_eq!(t.unexpected, 1);
        assert_eq!(t.lost, 2);
    }

    #[test]
    fn nothing_received_loses_everything() {
        let t = Tally::of(&[5, 6], &[]);
        assert_eq!(t.lost, 2);
        let mut sum = Tally::default();
        sum.add(&t);
        sum.add(&Tally::of(&[], &[3, 3]));
        assert_eq!((sum.lost, sum.unexpected, sum.duplicated), (2, 1, 1));
    }

    #[test]
    fn record_parses_payload_and_histogram_merges() {
        let s = Shared::new().expect("histogram");
        let data = format!(
            "{{\"user_id\":3,\"seq\":17,\"ts\":{},\"x\":\"y\"}}",
            now_us()
        );
        assert_eq!(s.record(5, data.as_bytes()), Some(17));
        assert_eq!(s.record(6, b"{\"nope\":1}"), None);
        assert_eq!(s.bad_payloads.load(Ordering::Relaxed), 1);
        assert_eq!(s.histogram().expect("merge").len(), 1);
    }
}
