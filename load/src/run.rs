//! One benchmark run: ramp up subscribers, idle, publish, drain, tally.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header, encode};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::cli::Args;
use crate::http::{Target, source_ips};
use crate::procstat::{self, Sample};
use crate::publisher::{self, Outcome, Plan, Sink};
use crate::report::{Phase, Report};
use crate::stats::{ConnResult, Shared, Tally, now_us};
use crate::storm::Storm;
use crate::subscriber::{self, Spec, SubCtx};

#[derive(serde::Serialize)]
struct Claims {
    sub: String,
    exp: u64,
}

/// Mints one HS256 token per user (valid for a day).
pub fn mint_tokens(secret: &str, user_base: u64, users: usize) -> Result<Vec<String>, String> {
    let key = EncodingKey::from_secret(secret.as_bytes());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    (0..users)
        .map(|u| {
            let claims = Claims {
                sub: (user_base + u as u64).to_string(),
                exp: now + 86_400,
            };
            encode(&Header::default(), &claims, &key).map_err(|e| format!("jwt: {e}"))
        })
        .collect()
}

async fn sink(args: &Args) -> Result<Option<Sink>, String> {
    if let Some(addr) = &args.pub_redis {
        let addr = tokio::net::lookup_host(addr)
            .await
            .map_err(|e| format!("redis address {addr}: {e}"))?
            .next()
            .ok_or("no redis address")?;
        return Ok(Some(Sink::Redis {
            addr,
            channel: args.pub_channel.clone(),
            stream: args.pub_stream.clone(),
        }));
    }
    if let Some(url) = &args.pub_relay {
        let key = args
            .publish_key
            .clone()
            .ok_or("--pub-relay needs --publish-key")?;
        let target = Target::parse(url).await?;
        return Ok(Some(Sink::Relay { target, key }));
    }
    if let Some(url) = &args.pub_url {
        return Ok(Some(Sink::Url {
            target: Target::parse(url).await?,
        }));
    }
    Ok(None)
}

async fn ramp(args: &Args, ctx: &Arc<SubCtx>, tokens: &[String]) -> Vec<JoinHandle<ConnResult>> {
    let users = args.user_count();
    let srcs = source_ips(&ctx.target.addr, !args.no_spread);
    let start = Instant::now();
    let mut handles = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let due = start + Duration::from_secs_f64(i as f64 / args.ramp_rate);
        if due > Instant::now() {
            sleep_until(due).await;
        }
        let user = i % users;
        let uid = (args.user_base + user as u64).to_string();
        let token = tokens.get(user).map(String::as_str).unwrap_or("");
        let spec = Spec {
            index: i,
            user,
            path: ctx.target.path_for(&uid, token),
            src: (!srcs.is_empty()).then(|| srcs[i % srcs.len()]),
        };
        handles.push(tokio::spawn(subscriber::run(ctx.clone(), spec)));
    }
    handles
}

/// Waits (bounded) until every connection is up or has failed.
async fn wait_up(shared: &Shared, n: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let done = shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed);
        if done >= n {
            return;
        }
        sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the whole benchmark and returns its report.
pub async fn run(args: &Args) -> Result<Report, String> {
    let shared = Arc::new(Shared::new()?);
    let stop = CancellationToken::new();
    let users = args.user_count();
    let n = args.connections;
    let mut phases = vec![Phase::at("before", procstat::sample(&args.pids), 0.0)];
    let t0 = Instant::now();

    let storm = match args.storm_at_secs {
        Some(_) => Some(Arc::new(Storm::new()?)),
        None => None,
    };
    let mut handles = Vec::new();
    if let Some(url) = args.url.as_deref().filter(|_| n > 0) {
        let tokens = match (&args.jwt_secret, url.contains("{token}")) {
            (Some(s), true) => mint_tokens(s, args.user_base, users)?,
            (None, true) => return Err("--url has {token}: give --jwt-secret".into()),
            _ => Vec::new(),
        };
        let ctx = Arc::new(SubCtx {
            target: Target::parse(url).await?,
            shared: shared.clone(),
            stop: stop.clone(),
            mode: args.mode,
            poll_timeout_secs: args.poll_timeout_secs,
            quickack: args.quickack,
            storm: storm.clone(),
            resume: args.resume_ms.map(Duration::from_millis),
        });
        handles = ramp(args, &ctx, &tokens).await;
        wait_up(&shared, n, Duration::from_secs(args.connect_timeout_secs)).await;
    }
    let connect_secs = t0.elapsed().as_secs_f64();
    phases.push(Phase::at(
        "connected",
        procstat::sample(&args.pids),
        connect_secs,
    ));
    // Let the server settle (allocator, kernel) before the idle window.
    sleep(Duration::from_millis(if n > 0 { 1000 } else { 0 })).await;
    let idle_start = procstat::sample(&args.pids);
    let ka0 = shared.keepalives.load(Ordering::Relaxed);
    sleep(Duration::from_secs(args.idle_secs)).await;
    phases.push(Phase::at(
        "idle",
        procstat::sample(&args.pids),
        t0.elapsed().as_secs_f64(),
    ));
    let idle_keepalives = shared.keepalives.load(Ordering::Relaxed) - ka0;
    let me = [std::process::id()];
    let client_idle = procstat::sample(&me);
    let machine0 = procstat::machine();

    let plan = Plan {
        total: args.total_events(),
        rate: args.rate,
        users,
        user_base: args.user_base,
        topic: args.pub_topic.clone(),
    };
    if let Some(at) = args.publish_at_unix_ms {
        let wait = Duration::from_micros(at.saturating_mul(1000).saturating_sub(now_us()));
        sleep(wait).await;
    }
    let redis0 = match &args.redis_stats {
        Some(a) => crate::storm::redis_calls(a).await.ok(),
        None => None,
    };
    let pub_start = Instant::now();
    let pub_start_us = now_us();
    let storm_run = match (&storm, args.storm_at_secs) {
        (Some(st), Some(at)) => {
            let (st, pids, redis) = (st.clone(), args.pids.clone(), args.redis_stats.clone());
            let conns = shared.connected.load(Ordering::Relaxed);
            let limit = Duration::from_secs(args.storm_wait_secs);
            Some(tokio::spawn(async move {
                sleep_until(pub_start + Duration::from_secs_f64(at.max(0.0))).await;
                st.run(conns, &pids, redis.as_deref(), limit).await
            }))
        }
        _ => None,
    };
    let mut outcome = Outcome::default();
    if let Some(sink) = sink(args).await?.filter(|_| plan.total > 0) {
        let w = args.pub_conns;
        let jobs: Vec<_> = (0..w)
            .map(|k| tokio::spawn(publisher::run(sink.clone(), plan.clone(), k, w, pub_start)))
            .collect();
        for j in jobs {
            let o = j.await.map_err(|e| format!("publisher task: {e}"))?;
            outcome.accepted.extend(o.accepted);
            outcome.errors += o.errors;
            outcome.max_lag_us = outcome.max_lag_us.max(o.max_lag_us);
            if outcome.first_error.is_none() {
                outcome.first_error = o.first_error;
            }
        }
    }
    let publish_secs = pub_start.elapsed().as_secs_f64();
    let storm_report = match storm_run {
        Some(h) => Some(h.await.map_err(|e| format!("storm task: {e}"))?),
        None => None,
    };

    let mut per_user: Vec<Vec<u32>> = vec![Vec::new(); users];
    for &(seq, user) in &outcome.accepted {
        if args.pub_topic.is_some() {
            // A topic event goes to every user.
            per_user.iter_mut().for_each(|v| v.push(seq));
        } else if let Some(v) = per_user.get_mut(user as usize) {
            v.push(seq);
        }
    }
    per_user.iter_mut().for_each(|v| v.sort_unstable());
    let expected: u64 = (0..n).map(|i| per_user[i % users].len() as u64).sum();
    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain_secs.max(0.0));
    while shared.received.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        sleep(Duration::from_millis(10)).await;
    }
    let redis1 = match &args.redis_stats {
        Some(a) => crate::storm::redis_calls(a).await.ok(),
        None => None,
    };
    let after = procstat::sample(&args.pids);
    phases.push(Phase::at("after", after, t0.elapsed().as_secs_f64()));
    let client_publish_cpu = procstat::sample(&me).cpu_secs - client_idle.cpu_secs;
    let machine1 = procstat::machine();
    let machine_busy_pct = 100.0 * (machine1.0 - machine0.0) / (machine1.1 - machine0.1).max(1e-9);
    stop.cancel();

    let mut tally = Tally::default();
    let (mut lossy, mut dupy) = (0usize, 0usize);
    for h in handles {
        let r = h.await.map_err(|e| format!("subscriber task: {e}"))?;
        if !r.connected {
            continue;
        }
        let t = Tally::of(&per_user[r.user], &r.seqs);
        lossy += usize::from(t.lost > 0);
        dupy += usize::from(t.duplicated > 0);
        tally.add(&t);
    }
    if let Some(path) = &args.hist_out {
        write_histogram(&shared, path)?;
    }
    let last = shared.last_recv_us.load(Ordering::Relaxed);
    let window = last.saturating_sub(pub_start_us).max(1) as f64 / 1e6;
    Ok(Report::build(crate::report::Inputs {
        args,
        shared: &shared,
        outcome: &outcome,
        tally,
        lossy,
        dupy,
        connect_secs,
        publish_secs,
        deliver_window_secs: window,
        idle_start,
        idle_keepalives,
        client_publish_cpu,
        machine_busy_pct,
        phases,
        storm: storm_report,
        redis_commands: redis0.zip(redis1).map(|(a, b)| b.saturating_sub(a)),
    }))
}

/// Writes the latency histogram as `<us> <count>` lines (the highest value equivalent to each
/// recorded bucket), for merging with other processes' histograms.
fn write_histogram(shared: &Shared, path: &std::path::Path) -> Result<(), String> {
    use std::fmt::Write as _;
    let h = shared.histogram()?;
    let mut out = String::new();
    for v in h.iter_recorded() {
        let _ = writeln!(
            out,
            "{} {}",
            h.highest_equivalent(v.value_iterated_to()),
            v.count_at_value()
        );
    }
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))
}

/// Convenience for reports: per-phase sample.
pub fn delta(a: &Sample, b: &Sample) -> (i64, f64) {
    (
        b.rss_bytes as i64 - a.rss_bytes as i64,
        b.cpu_secs - a.cpu_secs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_file_holds_every_sample_as_value_and_count_lines() {
        let shared = Shared::new().expect("histogram");
        for (conn, age_us) in [(0, 1_000), (1, 1_000), (2, 50_000)] {
            let data = format!(
                "{{\"user_id\":1,\"seq\":{conn},\"ts\":{}}}",
                now_us() - age_us
            );
            assert!(shared.record(conn, data.as_bytes()).is_some());
        }
        let path =
            std::env::temp_dir().join(format!("notify-load-hist-{}.txt", std::process::id()));
        write_histogram(&shared, &path).expect("written");
        let text = std::fs::read_to_string(&path).expect("readable");
        let _ = std::fs::remove_file(&path);
        let lines: Vec<(u64, u64)> = text
            .lines()
            .map(|l| {
                let (v, c) = l.split_once(' ').expect("two fields");
                (v.parse().expect("value"), c.parse().expect("count"))
            })
            .collect();
        assert_eq!(lines.iter().map(|(_, c)| c).sum::<u64>(), 3, "{text}");
        let (min, max) = (lines[0].0, lines[lines.len() - 1].0);
        assert!((1_000..2_000).contains(&min), "{text}");
        assert!((50_000..60_000).contains(&max), "{text}");
    }
}
