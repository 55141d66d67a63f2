//! The result: a human summary and one machine-readable JSON line.

use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::cli::Args;
use crate::procstat::Sample;
use crate::publisher::Outcome;
use crate::run::delta;
use crate::stats::{Shared, Tally};

/// Prefix of the JSON result line, for `grep`.
pub const JSON_PREFIX: &str = "NOTIFY_LOAD_RESULT ";

/// A /proc sample taken at a named moment.
#[derive(Debug, Serialize)]
pub struct Phase {
    /// `before`, `connected`, `idle` or `after`.
    pub name: &'static str,
    /// Seconds since the run started.
    pub at_secs: f64,
    /// The sample.
    #[serde(flatten)]
    pub sample: Sample,
}

impl Phase {
    /// A phase sample.
    pub fn at(name: &'static str, sample: Sample, at_secs: f64) -> Self {
        Self {
            name,
            at_secs,
            sample,
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Default, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
}

impl Latency {
    /// The percentiles of a histogram.
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        Self {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// Everything [`Report::build`] needs.
pub struct Inputs<'a> {
    /// Options of the run.
    pub args: &'a Args,
    /// Counters.
    pub shared: &'a Shared,
    /// Merged publisher outcome.
    pub outcome: &'a Outcome,
    /// Loss/duplicate sum over connected subscribers.
    pub tally: Tally,
    /// Connections that lost at least one event.
    pub lossy: usize,
    /// Connections that got at least one duplicate.
    pub dupy: usize,
    /// Time to bring all connections up.
    pub connect_secs: f64,
    /// Time spent publishing.
    pub publish_secs: f64,
    /// From the first publish to the last receipt.
    pub deliver_window_secs: f64,
    /// Sample at the start of the idle window.
    pub idle_start: Sample,
    /// Keepalive comments seen during the idle window.
    pub idle_keepalives: u64,
    /// The load tool's own CPU seconds while publishing and draining.
    pub client_publish_cpu: f64,
    /// Whole-machine CPU busy share while publishing, percent of all cores.
    pub machine_busy_pct: f64,
    /// Samples before / connected / idle / after.
    pub phases: Vec<Phase>,
    /// The reconnect storm, if one was run.
    pub storm: Option<crate::storm::StormReport>,
    /// Redis commands run while publishing and draining (`--redis-stats`).
    pub redis_commands: Option<u64>,
}

/// The full result of one run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `--label`.
    pub label: String,
    /// Subscriber mode.
    pub mode: String,
    /// Connections asked for.
    pub connections: usize,
    /// Users.
    pub users: usize,
    /// Connections that came up.
    pub connected: usize,
    /// Connections that never came up.
    pub connect_failures: usize,
    /// Connections that ended early.
    pub dropped: usize,
    /// Seconds to bring connections up.
    pub connect_secs: f64,
    /// Idle window, seconds.
    pub idle_secs: u64,
    /// Keepalive comments received during the idle window.
    pub idle_keepalives: u64,
    /// Target publish rate.
    pub rate: f64,
    /// Events the server accepted.
    pub published: u64,
    /// Publish failures.
    pub publish_errors: u64,
    /// Achieved publish rate, events/s.
    pub publish_rate: f64,
    /// Worst lateness of the publisher against its schedule, ms.
    pub publish_max_lag_ms: f64,
    /// Loss and duplicate accounting.
    pub delivery: Tally,
    /// Connections with at least one lost event.
    pub conns_with_loss: usize,
    /// Connections with at least one duplicate.
    pub conns_with_dup: usize,
    /// Deliveries per second (first publish to last receipt).
    pub deliveries_per_sec: f64,
    /// Publish-to-receive latency.
    pub latency: Latency,
    /// Server RSS growth per connected subscriber, bytes (idle minus before).
    pub rss_per_conn_bytes: Option<f64>,
    /// Server CPU share during the idle window, percent of one core.
    pub idle_cpu_pct: Option<f64>,
    /// Server CPU per delivered event while publishing, microseconds.
    pub cpu_us_per_event: Option<f64>,
    /// Server CPU seconds while publishing and draining.
    pub publish_cpu_secs: Option<f64>,
    /// The load tool's own CPU seconds while publishing and draining (it shares the machine).
    pub client_publish_cpu_secs: f64,
    /// Whole-machine CPU busy while publishing, percent of all cores (other load shows here).
    pub machine_busy_pct: f64,
    /// Events whose data was not ours.
    pub bad_payloads: u64,
    /// Relay long-poll answers with `reset: true`.
    pub resets: u64,
    /// First distinct errors.
    pub errors: Vec<String>,
    /// SSE streams reopened with `Last-Event-ID` after the server ended them (`--resume`).
    pub resumes: u64,
    /// Most resumes in one wall-clock second.
    pub peak_resumes_per_sec: u64,
    /// /proc samples.
    pub phases: Vec<Phase>,
    /// The reconnect storm (`--storm-at-secs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storm: Option<crate::storm::StormReport>,
    /// Redis commands run while publishing and draining, all kinds (`--redis-stats`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_commands: Option<u64>,
    /// Redis commands per event received, while publishing and draining.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_commands_per_event: Option<f64>,
}

impl Report {
    /// Computes the report from the raw inputs.
    pub fn build(i: Inputs<'_>) -> Self {
        let a = i.args;
        let sh = i.shared;
        let latency = sh.histogram().map(|h| Latency::of(&h)).unwrap_or_default();
        let connected = sh.connected.load(Ordering::Relaxed);
        let have_pids = !a.pids.is_empty();
        let find = |n: &str| i.phases.iter().find(|p| p.name == n).map(|p| p.sample);
        let (before, idle, after) = (find("before"), find("idle"), find("after"));
        let rss_per_conn = match (before, idle) {
            (Some(b), Some(d)) if have_pids && connected > 0 => {
                Some(delta(&b, &d).0 as f64 / connected as f64)
            }
            _ => None,
        };
        let idle_cpu_pct = idle
            .filter(|_| have_pids && a.idle_secs > 0)
            .map(|d| 100.0 * delta(&i.idle_start, &d).1 / a.idle_secs as f64);
        let publish_cpu = match (idle, after) {
            (Some(d), Some(f)) if have_pids => Some(delta(&d, &f).1),
            _ => None,
        };
        let received = sh.received.load(Ordering::Relaxed);
        let mut errors = sh.errors.lock().map(|e| e.clone()).unwrap_or_default();
        if let Some(e) = &i.outcome.first_error {
            errors.push(format!("publish: {e}"));
        }
        let published = i.outcome.accepted.len() as u64;
        Report {
            label: a.label.clone(),
            mode: format!("{:?}", a.mode),
            connections: a.connections,
            users: a.user_count(),
            connected,
            connect_failures: sh.failed.load(Ordering::Relaxed),
            dropped: sh.dropped.load(Ordering::Relaxed),
            connect_secs: i.connect_secs,
            idle_secs: a.idle_secs,
            idle_keepalives: i.idle_keepalives,
            rate: a.rate,
            published,
            publish_errors: i.outcome.errors,
            publish_rate: published as f64 / i.publish_secs.max(1e-9),
            publish_max_lag_ms: i.outcome.max_lag_us as f64 / 1000.0,
            delivery: i.tally,
            conns_with_loss: i.lossy,
            conns_with_dup: i.dupy,
            deliveries_per_sec: if received > 0 {
                received as f64 / i.deliver_window_secs
            } else {
                0.0
            },
            latency,
            rss_per_conn_bytes: rss_per_conn,
            idle_cpu_pct,
            cpu_us_per_event: publish_cpu
                .filter(|_| received > 0)
                .map(|c| 1e6 * c / received as f64),
            publish_cpu_secs: publish_cpu,
            client_publish_cpu_secs: i.client_publish_cpu,
            machine_busy_pct: i.machine_busy_pct,
            bad_payloads: sh.bad_payloads.load(Ordering::Relaxed),
            resets: sh.resets.load(Ordering::Relaxed),
            errors,
            resumes: sh.resumes.load(Ordering::Relaxed),
            peak_resumes_per_sec: sh
                .resumes_per_sec
                .lock()
                .map(|m| m.values().copied().max().unwrap_or(0))
                .unwrap_or(0),
            phases: i.phases,
            storm: i.storm,
            redis_commands: i.redis_commands,
            redis_commands_per_event: i
                .redis_commands
                .filter(|_| received > 0)
                .map(|c| c as f64 / received as f64),
        }
    }

    /// A few lines for people.
    pub fn summary(&self) -> String {
        let opt = |v: Option<f64>, unit: &str| v.map_or("n/a".into(), |x| format!("{x:.1}{unit}"));
        let d = &self.delivery;
        let l = &self.latency;
        let mut s = format!(
            "== notify-load {} ({}) ==\n\
             connections: {}/{} up for {} users in {:.1}s, {} failed, {} dropped early\n\
             publish:     {} accepted ({} errors) at {:.0}/s (target {:.0}/s, max lag {:.1} ms)\n\
             delivery:    {} received of {} expected: lost {}, duplicated {}, unexpected {} \
             ({} conns lossy, {} with dups)\n\
             throughput:  {:.0} deliveries/s\n\
             latency us:  p50 {} p99 {} p99.9 {} max {} mean {:.0} (n={})\n\
             server:      RSS/conn {}  idle CPU {}  CPU/event {}  publish CPU {}  (client CPU {:.1} s, machine busy {:.0}%)\n",
            self.label,
            self.mode,
            self.connected,
            self.connections,
            self.users,
            self.connect_secs,
            self.connect_failures,
            self.dropped,
            self.published,
            self.publish_errors,
            self.publish_rate,
            self.rate,
            self.publish_max_lag_ms,
            d.received,
            d.expected,
            d.lost,
            d.duplicated,
            d.unexpected,
            self.conns_with_loss,
            self.conns_with_dup,
            self.deliveries_per_sec,
            l.p50_us,
            l.p99_us,
            l.p999_us,
            l.max_us,
            l.mean_us,
            l.count,
            opt(self.rss_per_conn_bytes, " B"),
            opt(self.idle_cpu_pct, "%"),
            opt(self.cpu_us_per_event, " us"),
            opt(self.publish_cpu_secs, " s"),
            self.client_publish_cpu_secs,
            self.machine_busy_pct,
        );
        for p in &self.phases {
            s.push_str(&format!(
                "  {:<9} t={:>7.1}s rss={:>10} B cpu={:.2} s ({} pids)\n",
                p.name, p.at_secs, p.sample.rss_bytes, p.sample.cpu_secs, p.sample.pids_read
            ));
        }
        if let Some(st) = &self.storm {
            s.push_str(&format!(
                "storm:       {}/{} reconnected, {} caught up in {:.2}s; latency us p50 {} p99 {} max {} (n={}); server CPU s {:?}; redis commands {}\n",
                st.reconnected,
                st.connections,
                st.caught_up,
                st.catch_up_secs,
                st.latency.p50_us,
                st.latency.p99_us,
                st.latency.max_us,
                st.latency.count,
                st.cpu_secs,
                st.redis_commands.map_or("n/a".into(), |c| c.to_string()),
            ));
        }
        if let Some(c) = self.redis_commands {
            s.push_str(&format!(
                "redis:       {c} commands while publishing ({:.2} per event received)\n",
                self.redis_commands_per_event.unwrap_or(0.0)
            ));
        }
        if self.resumes > 0 {
            s.push_str(&format!(
                "resumes:     {} (peak {} in one second)\n",
                self.resumes, self.peak_resumes_per_sec
            ));
        }
        for e in &self.errors {
            s.push_str(&format!("  error: {e}\n"));
        }
        s
    }

    /// The one-line JSON form, prefixed with [`JSON_PREFIX`].
    pub fn json_line(&self) -> String {
        let body = serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        format!("{JSON_PREFIX}{body}")
    }
}
