//! Settings: one struct, every field a CLI flag with a `NOTIFY_*` environment equivalent.

use std::{fmt, net::SocketAddr, str::FromStr, time::Duration};

use clap::{Parser, ValueEnum};

/// A secret read from the command line or environment; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret's text, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(Self(s.to_owned()))
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything the relay can be told at start-up.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "notify-relay",
    version,
    args_override_self = true,
    about = "Pushes per-user notifications from Redis to browsers over SSE and long-poll"
)]
pub struct Settings {
    /// Address to listen on. Without a JWT secret it must be a loopback address (demo mode).
    #[arg(long, env = "NOTIFY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Redis URL, e.g. redis://127.0.0.1:6379. Unset: the embedded in-memory broker.
    #[arg(long, env = "NOTIFY_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key this relay writes.
    #[arg(long, env = "NOTIFY_REDIS_PREFIX", default_value = "notify")]
    pub redis_prefix: String,

    /// Redis pub/sub channels to ingest, comma-separated (redis broker only).
    #[arg(
        long,
        env = "NOTIFY_CHANNELS",
        value_delimiter = ',',
        default_value = "image_update"
    )]
    pub channels: Vec<String>,

    /// Length of the pub/sub bridge lease in ms: with several instances, one bridges; if it
    /// dies another takes over within about this long.
    #[arg(long, env = "NOTIFY_BRIDGE_LEASE_MS", default_value_t = 6_000, value_parser = clap::value_parser!(u64).range(300..=600_000))]
    pub bridge_lease_ms: u64,

    /// Seconds a connection may leave written data unacknowledged (a client that stopped reading,
    /// or vanished) before the kernel drops it (TCP_USER_TIMEOUT).
    #[arg(long, env = "NOTIFY_WRITE_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub write_timeout_secs: u64,

    /// HS256 secret for subscriber tokens. Unset: local demo mode (loopback only).
    #[arg(long, env = "NOTIFY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Bearer key publishers present to POST /publish. Unset: HTTP publishing is off (outside demo mode).
    #[arg(long, env = "NOTIFY_PUBLISH_KEY", hide_env_values = true)]
    pub publish_key: Option<Secret>,

    /// Seconds between keepalive comments on idle SSE streams.
    #[arg(long, env = "NOTIFY_KEEPALIVE_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub keepalive_secs: u64,

    /// Longest a poll is held, in seconds; a client's `timeout` is capped by it.
    #[arg(long, env = "NOTIFY_POLL_TIMEOUT_SECS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub poll_timeout_secs: u64,

    /// Events kept per user for resume.
    #[arg(long, env = "NOTIFY_HISTORY_LEN", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub history_len: u64,

    /// Seconds a user's history is kept after their last event.
    #[arg(long, env = "NOTIFY_HISTORY_TTL_SECS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub history_ttl_secs: u64,

    /// Approximate number of events kept in the shared Redis log.
    #[arg(long, env = "NOTIFY_LOG_LEN", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(100..=100_000_000))]
    pub log_len: u64,

    /// Most user histories one Redis script writes; a topic with more subscribers is written in
    /// batches of this size, so Redis is never held long (the same id for every recipient).
    #[arg(long, env = "NOTIFY_APPEND_BATCH", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub append_batch: u64,

    /// Largest published message, in bytes.
    #[arg(long, env = "NOTIFY_MAX_PAYLOAD_BYTES", default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(64..=16_777_216))]
    pub max_payload_bytes: u64,

    /// Most recipients in one event (`user_ids`).
    #[arg(long, env = "NOTIFY_MAX_RECIPIENTS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_recipients: u64,

    /// Most open connections (SSE streams and waiting polls) per user; more get 429.
    #[arg(long, env = "NOTIFY_MAX_CONNECTIONS_PER_USER", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections_per_user: u64,

    /// Most open connections in this instance; more get 503.
    #[arg(long, env = "NOTIFY_MAX_CONNECTIONS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_connections: u64,

    /// Events queued per connection before a slow client is disconnected.
    #[arg(long, env = "NOTIFY_QUEUE_LEN", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub queue_len: u64,

    /// Most events in one poll answer.
    #[arg(long, env = "NOTIFY_POLL_BATCH", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub poll_batch: u64,

    /// Reconnect delay suggested to browsers (`retry:`), in ms.
    #[arg(long, env = "NOTIFY_RETRY_MS", default_value_t = 3_000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub retry_ms: u64,

    /// Seconds an idle HTTP keep-alive connection is kept open. Keep it above the idle timeout
    /// of any proxy's upstream pool (nginx `keepalive_timeout`, 60 s by default), so the proxy
    /// never reuses a connection the relay is just closing.
    #[arg(long, env = "NOTIFY_HTTP_KEEPALIVE_SECS", default_value_t = 75, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http_keepalive_secs: u64,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "NOTIFY_WORKERS", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub workers: Option<u64>,

    /// Log line format.
    #[arg(long, env = "NOTIFY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Origins (e.g. https://app.example.com) whose pages may open /events and /poll with
    /// credentials, comma-separated. Empty: same-origin only.
    #[arg(long, env = "NOTIFY_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Longest an SSE stream stays open, in seconds (each stream gets up to 10% less, at random,
    /// so reconnects spread out); the browser resumes from its last id. 0: no limit.
    #[arg(long, env = "NOTIFY_MAX_STREAM_SECS", default_value_t = 3_600, value_parser = clap::value_parser!(u64).range(0..=604_800))]
    pub max_stream_secs: u64,

    /// New /events and /poll requests allowed per client address per second (also the burst);
    /// more get 429. IPv6 clients count per /64. 0: no limit.
    #[arg(long, env = "NOTIFY_CONNECTS_PER_SEC", default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub connects_per_sec: u32,

    /// Publishes allowed per publish key per second (also the burst); more get 429. 0: no limit.
    #[arg(long, env = "NOTIFY_PUBLISHES_PER_SEC", default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub publishes_per_sec: u32,

    /// Proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For / X-Real-IP name the
    /// client address. Empty: the peer address is the client, forwarding headers are ignored.
    #[arg(long, env = "NOTIFY_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Largest request head (all header names and values), in bytes; more get 431.
    #[arg(long, env = "NOTIFY_MAX_HEADER_BYTES", default_value_t = 16_384, value_parser = clap::value_parser!(u64).range(1_024..=131_072))]
    pub max_header_bytes: u64,

    /// Longest query string, in bytes; longer gets 414.
    #[arg(long, env = "NOTIFY_MAX_QUERY_BYTES", default_value_t = 4_096, value_parser = clap::value_parser!(u64).range(256..=65_536))]
    pub max_query_bytes: u64,

    /// Run the mail worker inside this relay (redis broker only); `notify-relay mailer` runs
    /// it as its own process instead.
    #[arg(long, env = "NOTIFY_MAILER")]
    pub mailer: bool,

    /// Seconds an email-fallback event has to reach a live connection of a recipient before it
    /// is queued for email to that recipient.
    #[arg(long, env = "NOTIFY_EMAIL_GRACE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub email_grace_secs: u64,

    /// Seconds offline events of one user are gathered into one email, from the first one.
    #[arg(long, env = "NOTIFY_EMAIL_DIGEST_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub email_digest_secs: u64,

    /// Pub/sub channels whose messages fall back to email as if they said `"fallback":"email"`.
    #[arg(long, env = "NOTIFY_EMAIL_FALLBACK_CHANNELS", value_delimiter = ',')]
    pub email_fallback_channels: Vec<String>,

    /// SMTP attempts per email before it is logged as failed.
    #[arg(long, env = "NOTIFY_EMAIL_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub email_max_attempts: u64,

    /// First retry delay after a transient SMTP failure, in ms; doubles up to the maximum.
    #[arg(long, env = "NOTIFY_EMAIL_RETRY_MS", default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub email_retry_ms: u64,

    /// Longest retry delay after a transient SMTP failure, in ms.
    #[arg(long, env = "NOTIFY_EMAIL_RETRY_MAX_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub email_retry_max_ms: u64,

    /// Seconds an outbox message may sit unacknowledged with a worker (that crashed) before
    /// another worker reclaims it.
    #[arg(long, env = "NOTIFY_EMAIL_RECLAIM_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub email_reclaim_secs: u64,

    /// Directory with `subject.txt`, `body.txt` and `body.html` templates overriding the built-in ones.
    #[arg(long, env = "NOTIFY_EMAIL_TEMPLATES")]
    pub email_templates: Option<std::path::PathBuf>,

    /// Base URL of the app, joined with an event's `img_url` for the link in the email.
    #[arg(long, env = "NOTIFY_EMAIL_LINK_BASE")]
    pub email_link_base: Option<String>,

    /// Sender of notification emails.
    #[arg(
        long,
        env = "NOTIFY_EMAIL_FROM",
        default_value = "notify-relay <noreply@localhost>"
    )]
    pub email_from: String,

    /// SMTP server as a URL (`smtp://user:pass@host:587?tls=required`, `smtps://...`); takes
    /// precedence over the other `--smtp-*` settings.
    #[arg(long, env = "NOTIFY_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret>,

    /// SMTP server host.
    #[arg(long, env = "NOTIFY_SMTP_HOST", default_value = "localhost")]
    pub smtp_host: String,

    /// SMTP server port (default: 25 without TLS, 587 with STARTTLS, 465 with TLS).
    #[arg(long, env = "NOTIFY_SMTP_PORT")]
    pub smtp_port: Option<u16>,

    /// SMTP transport security.
    #[arg(long, env = "NOTIFY_SMTP_TLS", value_enum, default_value_t = SmtpTls::Starttls)]
    pub smtp_tls: SmtpTls,

    /// SMTP user name.
    #[arg(long, env = "NOTIFY_SMTP_USER")]
    pub smtp_user: Option<String>,

    /// SMTP password; never logged.
    #[arg(long, env = "NOTIFY_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<Secret>,

    /// Seconds one SMTP conversation may take.
    #[arg(long, env = "NOTIFY_SMTP_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub smtp_timeout_secs: u64,

    /// Seconds notification log records are kept.
    #[arg(long, env = "NOTIFY_NOTIFICATION_LOG_SECS", default_value_t = 604_800, value_parser = clap::value_parser!(u64).range(60..=31_536_000))]
    pub notification_log_secs: u64,

    /// Most notification log records kept.
    #[arg(long, env = "NOTIFY_NOTIFICATION_LOG_MAX", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(10..=10_000_000))]
    pub notification_log_max: u64,

    /// Bearer key that `GET /metrics` requires. Unset: /metrics is open (restrict it at the proxy).
    #[arg(long, env = "NOTIFY_METRICS_KEY", hide_env_values = true)]
    pub metrics_key: Option<Secret>,

    // --- Performance (issue 16): recent-event cache, paced shutdown ---
    /// Bytes of recent events each instance keeps in memory to answer resumes and polls without
    /// a Redis round trip (Redis broker only; the memory broker keeps its history in memory
    /// anyway). 0: off, every read goes to Redis.
    #[arg(long, env = "NOTIFY_CACHE_BYTES", default_value_t = DEFAULT_CACHE_BYTES, value_parser = clap::value_parser!(u64).range(0..=68_719_476_736))]
    pub cache_bytes: u64,

    /// Seconds over which SIGTERM ends open SSE streams, spread evenly (each with
    /// `event: reconnect`), so their clients reconnect elsewhere at a steady rate instead of all
    /// at once; new connections are refused and waiting polls answer at once. 0: all at once.
    #[arg(long, env = "NOTIFY_DRAIN_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3_600))]
    pub drain_secs: u64,
}

/// Default of `--cache-bytes`: 64 MiB, some 200,000 small events.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Parses `10.0.0.0/8`, `::1/128` or a bare address (a one-address network).
fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is neither an address nor a CIDR"))
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmtpTls {
    /// Plain text (a local relay only).
    None,
    /// Plain connection upgraded with STARTTLS, required.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// A combination of settings that cannot work, found before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Demo mode on a reachable address would let anyone act as any user.
    #[error(
        "--listen / NOTIFY_LISTEN is {0}, not a loopback address, and no --jwt-secret / NOTIFY_JWT_SECRET is set: without a secret the relay runs in demo mode, which lets anyone pick a user id, so it only listens on loopback"
    )]
    DemoNotLoopback(SocketAddr),
    /// A channel name is empty.
    #[error("--channels / NOTIFY_CHANNELS has an empty channel name")]
    EmptyChannel,
    /// A CORS origin is not of the form scheme://host[:port].
    #[error(
        "--cors-origins / NOTIFY_CORS_ORIGINS: {0:?} is not an origin; write scheme://host[:port], e.g. https://app.example.com (no path, no *)"
    )]
    BadOrigin(String),
}

impl Settings {
    /// Checks the settings that depend on each other.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.jwt_secret.is_none() && !self.listen.ip().is_loopback() {
            return Err(SettingsError::DemoNotLoopback(self.listen));
        }
        if self.channels.iter().any(|c| c.trim().is_empty()) {
            return Err(SettingsError::EmptyChannel);
        }
        if let Some(bad) = self.cors_origins().find(|o| !is_origin(o)) {
            return Err(SettingsError::BadOrigin(bad.to_owned()));
        }
        Ok(())
    }

    /// True in local demo mode: no JWT secret, loopback only.
    pub fn demo_mode(&self) -> bool {
        self.jwt_secret.is_none()
    }

    /// The keepalive interval.
    pub fn keepalive(&self) -> Duration {
        Duration::from_secs(self.keepalive_secs)
    }

    /// The longest a poll is held.
    pub fn poll_timeout(&self) -> Duration {
        Duration::from_secs(self.poll_timeout_secs)
    }

    /// The configured CORS origins, trimmed, empty entries skipped.
    pub fn cors_origins(&self) -> impl Iterator<Item = &str> {
        self.cors_origins
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
    }

    /// Settings for tests and embedding: the defaults, as if no flag were given.
    pub fn defaults() -> Self {
        Self::parse_from(["notify-relay"])
    }
}

/// True for `http(s)://host[:port]`: what a browser sends in `Origin`, compared byte for byte.
fn is_origin(o: &str) -> bool {
    let Some(rest) = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && !rest.contains(['/', '*', '?', '#', '@', ' '])
        && rest.parse::<actix_web::http::uri::Authority>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_names_the_setting() {
        let err = Settings::try_parse_from(["notify-relay", "--keepalive-secs", "0"]).unwrap_err();
        assert!(err.to_string().contains("--keepalive-secs"), "{err}");
        let err = Settings::try_parse_from(["notify-relay", "--listen", "nope"]).unwrap_err();
        assert!(err.to_string().contains("--listen"), "{err}");
    }

    #[test]
    fn demo_mode_refuses_a_public_address() {
        let s = Settings::try_parse_from(["notify-relay", "--listen", "0.0.0.0:8080"]).unwrap();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("NOTIFY_JWT_SECRET"), "{err}");
        let s = Settings::try_parse_from([
            "notify-relay",
            "--listen",
            "0.0.0.0:8080",
            "--jwt-secret",
            "s",
        ])
        .unwrap();
        assert!(s.validate().is_ok());
    }

    #[test]
    fn cors_origins_must_be_bare_origins() {
        let with = |o: &str| {
            Settings::try_parse_from(["notify-relay", "--cors-origins", o])
                .unwrap()
                .validate()
        };
        assert!(with("https://app.example.com,http://localhost:3000").is_ok());
        assert!(with("").is_ok());
        for bad in [
            "*",
            "app.example.com",
            "https://app.example.com/",
            "ftp://x",
        ] {
            assert!(
                matches!(with(bad), Err(SettingsError::BadOrigin(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn trusted_proxies_take_addresses_and_cidrs() {
        let s = Settings::try_parse_from([
            "notify-relay",
            "--trusted-proxies",
            "10.0.0.0/8, 127.0.0.1,::1",
        ])
        .unwrap();
        assert_eq!(s.trusted_proxies.len(), 3);
        assert!(Settings::try_parse_from(["notify-relay", "--trusted-proxies", "nope"]).is_err());
    }

    #[test]
    fn secrets_never_print() {
        let s = Settings::try_parse_from([
            "notify-relay",
            "--jwt-secret",
            "hunter2",
            "--publish-key",
            "k3y",
            "--smtp-password",
            "m41l",
            "--smtp-url",
            "smtp://u:s3cr3t@mail:587",
        ])
        .unwrap();
        let shown = format!("{s:?}");
        for secret in ["hunter2", "k3y", "m41l", "s3cr3t"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
