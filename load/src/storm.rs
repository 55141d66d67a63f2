//! The reconnect storm: at a set moment every SSE connection drops and reopens at once with its
//! `Last-Event-ID`, while events keep flowing. Measures how long until the last client has caught
//! up, latency during the storm, and the servers' CPU (and Redis commands) it cost.
//!
//! A client counts as *caught up* once it is connected again and has read the first body bytes
//! after the response head: the relay and Nchan both send what was missed right after the head.
//! The storm window runs from the drop until the last client caught up; events received in it
//! go to their own latency histogram as well as the run's.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::procstat;
use crate::report::Latency;
use crate::stats::{MAX_LATENCY_US, now_us};

/// Storm state shared by every connection.
pub struct Storm {
    /// Cancelled at the moment of the storm: every connection drops and reconnects.
    pub trigger: CancellationToken,
    start_us: AtomicU64,
    reconnected: AtomicUsize,
    caught_up: AtomicUsize,
    last_caught_up_us: AtomicU64,
    over: AtomicBool,
    hist: Mutex<Histogram<u64>>,
}

/// What the storm cost and how long it took.
#[derive(Debug, Serialize)]
pub struct StormReport {
    /// Connections told to reconnect.
    pub connections: usize,
    /// Connections connected again.
    pub reconnected: usize,
    /// Connections that read their first bytes after reconnecting.
    pub caught_up: usize,
    /// From the drop until the last client caught up, seconds.
    pub catch_up_secs: f64,
    /// Latency of the events received during the storm window.
    pub latency: Latency,
    /// CPU seconds of each `--pid` during the storm window, in `--pid` order.
    pub cpu_secs: Vec<f64>,
    /// Redis commands run during the storm window (`--redis-stats`), all kinds summed.
    pub redis_commands: Option<u64>,
}

impl Storm {
    /// A storm not yet triggered.
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            trigger: CancellationToken::new(),
            start_us: AtomicU64::new(0),
            reconnected: AtomicUsize::new(0),
            caught_up: AtomicUsize::new(0),
            last_caught_up_us: AtomicU64::new(0),
            over: AtomicBool::new(false),
            hist: Mutex::new(
                Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).map_err(|e| e.to_string())?,
            ),
        })
    }

    /// A connection is up again after the storm.
    pub fn reconnected(&self) {
        self.reconnected.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection read its first bytes after reconnecting.
    pub fn caught_up(&self) {
        self.last_caught_up_us
            .fetch_max(now_us(), Ordering::Relaxed);
        self.caught_up.fetch_add(1, Ordering::Relaxed);
    }

    /// Records an event's latency if it arrived during the storm window.
    pub fn record(&self, latency_us: u64) {
        if self.trigger.is_cancelled()
            && !self.over.load(Ordering::Relaxed)
            && let Ok(mut h) = self.hist.lock()
        {
            h.saturating_record(latency_us.clamp(1, MAX_LATENCY_US));
        }
    }

    /// Triggers the storm now, waits (at most `limit`) until `connections` clients caught up,
    /// and reports.
    pub async fn run(
        &self,
        connections: usize,
        pids: &[u32],
        redis: Option<&str>,
        limit: Duration,
    ) -> StormReport {
        let cpu = |pids: &[u32]| -> Vec<f64> {
            pids.iter()
                .map(|p| procstat::sample(&[*p]).cpu_secs)
                .collect()
        };
        let redis0 = match redis {
            Some(a) => redis_calls(a).await.ok(),
            None => None,
        };
        let cpu0 = cpu(pids);
        self.start_us.store(now_us(), Ordering::Relaxed);
        self.trigger.cancel();
        let deadline = tokio::time::Instant::now() + limit;
        while self.caught_up.load(Ordering::Relaxed) < connections
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.over.store(true, Ordering::Relaxed);
        let cpu1 = cpu(pids);
        let redis1 = match redis {
            Some(a) => redis_calls(a).await.ok(),
            None => None,
        };
        let start = self.start_us.load(Ordering::Relaxed);
        let last = self.last_caught_up_us.load(Ordering::Relaxed);
        let latency = self
            .hist
            .lock()
            .map(|h| Latency::of(&h))
            .unwrap_or_default();
        StormReport {
            connections,
            reconnected: self.reconnected.load(Ordering::Relaxed),
            caught_up: self.caught_up.load(Ordering::Relaxed),
            catch_up_secs: last.saturating_sub(start) as f64 / 1e6,
            latency,
            cpu_secs: cpu1.iter().zip(&cpu0).map(|(b, a)| b - a).collect(),
            redis_commands: redis0.zip(redis1).map(|(a, b)| b.saturating_sub(a)),
        }
    }
}

/// Total command calls Redis at `addr` has run (`INFO commandstats`, summed).
pub async fn redis_calls(addr: &str) -> io::Result<u64> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        .await?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    // `$<len>\r\n<text>\r\n`
    let text = loop {
        let n = s.read(&mut tmp).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") {
            let len: usize = std::str::from_utf8(&buf[1..eol])
                .ok()
                .and_then(|l| l.parse().ok())
                .ok_or_else(|| io::Error::other("bad INFO reply"))?;
            if buf.len() >= eol + 2 + len {
                break String::from_utf8_lossy(&buf[eol + 2..eol + 2 + len]).into_owned();
            }
        }
        if buf.len() > 1 << 20 {
            return Err(io::Error::other("INFO reply too long"));
        }
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            l.split_once(":calls=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum())
}
