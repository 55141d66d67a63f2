//! Command-line options.

use clap::{ArgGroup, Parser, ValueEnum};

/// How subscribers receive events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Server-Sent Events stream (notify-relay `/events`, Nchan `/sub/..` with EventSource).
    Sse,
    /// notify-relay long-poll: `/poll` with a `cursor` loop.
    RelayPoll,
    /// Nchan long-poll: `If-Modified-Since` / `If-None-Match` loop.
    NchanPoll,
}

/// Load and latency benchmark for notify-relay and Nchan.
///
/// Opens N subscribers for U users (connection i is user `user-base + i % users`), waits until
/// all are up, publishes `rate` events/s for `duration-secs`, and reports publish-to-receive
/// latency, throughput, lost/duplicated events and server RSS/CPU (from /proc for --pid).
#[derive(Debug, Parser)]
#[command(name = "notify-load", version)]
#[command(group(ArgGroup::new("publisher").args(["pub_redis", "pub_relay", "pub_url"])))]
pub struct Args {
    /// Subscriber URL template; `{user}` and `{token}` are filled per connection.
    /// e.g. `http://127.0.0.1:8080/events?token={token}` or `http://127.0.0.1:8090/sub/u{user}`.
    #[arg(long)]
    pub url: Option<String>,

    /// Subscriber protocol.
    #[arg(long, value_enum, default_value_t = Mode::Sse)]
    pub mode: Mode,

    /// Number of subscriber connections (or long-poll loops).
    #[arg(long, default_value_t = 100)]
    pub connections: usize,

    /// Number of distinct users (default: one per connection).
    #[arg(long)]
    pub users: Option<usize>,

    /// First user id; users are numbered from here.
    #[arg(long, default_value_t = 1)]
    pub user_base: u64,

    /// New connections per second while ramping up.
    #[arg(long, default_value_t = 2000.0)]
    pub ramp_rate: f64,

    /// Give up waiting for connections after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub connect_timeout_secs: u64,

    /// Do not spread source addresses over 127.0.0.2-254 (loopback targets only).
    #[arg(long)]
    pub no_spread: bool,

    /// HS256 secret to mint `{token}` (claims `sub` = user id, `exp`).
    #[arg(long, env = "NOTIFY_LOAD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Seconds to hold all connections idle before publishing (measures idle CPU).
    #[arg(long, default_value_t = 0)]
    pub idle_secs: u64,

    /// Publish with Redis `PUBLISH` to this `host:port`.
    #[arg(long)]
    pub pub_redis: Option<String>,

    /// Redis channel for --pub-redis.
    #[arg(long, default_value = "image_update")]
    pub pub_channel: String,

    /// With --pub-redis: `XADD <stream> * data <json>` to this stream (the relay's stream
    /// ingest) instead of `PUBLISH`.
    #[arg(long, requires = "pub_redis")]
    pub pub_stream: Option<String>,

    /// Publish with `POST` to the relay's publish URL, e.g. `http://127.0.0.1:8080/publish`.
    #[arg(long)]
    pub pub_relay: Option<String>,

    /// Bearer key for --pub-relay.
    #[arg(long, env = "NOTIFY_LOAD_PUBLISH_KEY", hide_env_values = true)]
    pub publish_key: Option<String>,

    /// Publish with `POST` to a URL template, e.g. `http://127.0.0.1:8090/pub/u{user}`.
    #[arg(long)]
    pub pub_url: Option<String>,

    /// Publish each event once to this relay topic instead of to one user (with --pub-relay or
    /// --pub-redis); every user is expected to receive every event, so the topic's subscribers
    /// must be exactly the load's users (`bench/topics.sh` sets them up).
    #[arg(long)]
    pub pub_topic: Option<String>,

    /// Events published per second (over all users, round-robin).
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,

    /// Seconds to publish for.
    #[arg(long, default_value_t = 10.0)]
    pub duration_secs: f64,

    /// Parallel publisher connections.
    #[arg(long, default_value_t = 4)]
    pub pub_conns: usize,

    /// After publishing, wait at most this long for outstanding deliveries.
    #[arg(long, default_value_t = 5.0)]
    pub drain_secs: f64,

    /// Server process to sample RSS and CPU time from (repeatable).
    #[arg(long = "pid")]
    pub pids: Vec<u32>,

    /// `timeout` parameter sent on relay long-polls, in seconds.
    #[arg(long, default_value_t = 25)]
    pub poll_timeout_secs: u64,

    /// Label copied into the JSON result line.
    #[arg(long, default_value = "")]
    pub label: String,

    /// Diagnostic: re-arm TCP_QUICKACK after every SSE read so the server's Nagle never waits
    /// on our delayed ACK (browsers do not do this; compare runs with and without).
    #[arg(long)]
    pub quickack: bool,

    /// Reconnect storm: this many seconds after publishing starts, every SSE connection drops
    /// and reopens at once with its `Last-Event-ID` (SSE only; give a --duration-secs that
    /// leaves time to catch up).
    #[arg(long)]
    pub storm_at_secs: Option<f64>,

    /// Longest the storm is waited on for every client to catch up, in seconds.
    #[arg(long, default_value_t = 60)]
    pub storm_wait_secs: u64,

    /// Redis `host:port` whose `INFO commandstats` is read when publishing starts and after the
    /// drain (and at the storm's start and end).
    #[arg(long)]
    pub redis_stats: Option<String>,

    /// Reopen an SSE stream the server ends (a drain, a restart) with its `Last-Event-ID`
    /// after this many ms, instead of counting the connection as dropped.
    #[arg(long)]
    pub resume_ms: Option<u64>,

    /// Start publishing at this wall-clock time (ms since the Unix epoch) if it is later than
    /// the end of the idle window: several load processes then publish over the same window
    /// (`bench/scale.sh`).
    #[arg(long)]
    pub publish_at_unix_ms: Option<u64>,

    /// Write the delivery latency histogram to this file, one `<us> <count>` line per recorded
    /// value, so the histograms of several load processes can be merged (`bench/scale.sh`).
    #[arg(long)]
    pub hist_out: Option<std::path::PathBuf>,

    /// Tokio worker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

impl Args {
    /// Number of users, at least 1.
    pub fn user_count(&self) -> usize {
        self.users.unwrap_or(self.connections).max(1)
    }

    /// Total events to publish.
    pub fn total_events(&self) -> u64 {
        (self.rate * self.duration_secs).round().max(0.0) as u64
    }

    /// Checks option combinations clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.connections > 0 && self.url.is_none() {
            return Err("--url is required when --connections > 0".into());
        }
        if self.pub_relay.is_some() && self.publish_key.is_none() {
            return Err("--pub-relay needs --publish-key".into());
        }
        if !(self.rate.is_finite() && self.rate >= 0.0 && self.duration_secs.is_finite()) {
            return Err("--rate and --duration-secs must be finite and >= 0".into());
        }
        if self.ramp_rate <= 0.0 || !self.ramp_rate.is_finite() {
            return Err("--ramp-rate must be > 0".into());
        }
        if self.total_events() > u64::from(u32::MAX) {
            return Err("too many events for one run (max 2^32)".into());
        }
        if (self.storm_at_secs.is_some() || self.resume_ms.is_some()) && self.mode != Mode::Sse {
            return Err("--storm-at-secs and --resume-ms are for SSE only".into());
        }
        if self.pub_conns == 0 || self.threads == 0 {
            return Err("--pub-conns and --threads must be >= 1".into());
        }
        Ok(())
    }
}
