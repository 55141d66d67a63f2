//! Server resource samples from /proc: resident memory and CPU time of a set of pids.

use serde::Serialize;

/// RSS and CPU time summed over the sampled pids at one moment.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Sample {
    /// Resident set size, bytes (sum over pids).
    pub rss_bytes: u64,
    /// User + system CPU time, seconds (sum over pids).
    pub cpu_secs: f64,
    /// Pids that could be read.
    pub pids_read: usize,
}

/// Clock ticks per second for /proc/<pid>/stat times.
fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// Samples all `pids` now; unreadable pids are skipped.
pub fn sample(pids: &[u32]) -> Sample {
    let ticks = clock_ticks();
    let mut s = Sample::default();
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        if let (Ok(status), Ok(stat)) = (status, stat) {
            s.rss_bytes += rss_from_status(&status).unwrap_or(0);
            s.cpu_secs += cpu_ticks_from_stat(&stat).unwrap_or(0) as f64 / ticks;
            s.pids_read += 1;
        }
    }
    s
}

/// Machine-wide CPU seconds so far from /proc/stat: (busy, total), summed over all cores.
pub fn machine() -> (f64, f64) {
    let ticks = clock_ticks();
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return (0.0, 0.0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    // idle and iowait are fields 4 and 5.
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (
        (total - idle.min(total)) as f64 / ticks,
        total as f64 / ticks,
    )
}

/// `VmRSS` from a /proc/<pid>/status text, in bytes.
pub fn rss_from_status(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// utime + stime (clock ticks) from a /proc/<pid>/stat text.
pub fn cpu_ticks_from_stat(stat: &str) -> Option<u64> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')' the fields are numbered from 3 (state); utime is 14, stime 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rss_and_cpu() {
        assert_eq!(
            rss_from_status("Name:\tx\nVmRSS:\t  1234 kB\n"),
            Some(1234 * 1024)
        );
        let stat = "42 (a b) c) S 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 5 1000 10";
        assert_eq!(cpu_ticks_from_stat(stat), Some(300));
    }

    #[test]
    fn samples_this_process() {
        let s = sample(&[std::process::id()]);
        assert_eq!(s.pids_read, 1);
        assert!(s.rss_bytes > 0);
    }
}
