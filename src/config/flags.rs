//! The command line: one flat struct, every field a flag with a `NOTIFY_*` environment
//! equivalent, its default and its range.
//!
//! Longer than the usual ~300 lines on purpose: clap reads the flags from one struct, and tests
//! and embedders build a [`Settings`] and set its fields by name, so it stays flat; the typed
//! groups the parts of the relay take are made from it once, by [`Settings::split`].

use std::net::SocketAddr;

use clap::Parser;

use super::{
    DEFAULT_CACHE_BYTES, DEFAULT_IDEMPOTENCY_TTL_SECS, DEFAULT_INGEST_CLAIM_SECS,
    DEFAULT_INGEST_GROUP, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, DEFAULT_MAX_TOPIC_RECIPIENTS,
    DEFAULT_NOTIFICATIONS_TABLE, LogFormat, Secret, SmtpTls,
};

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

    /// Redis URL, e.g. redis://127.0.0.1:6379 or rediss://user:pass@host:6380/0 (TLS). Unset:
    /// the embedded in-memory broker.
    #[arg(long, env = "NOTIFY_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,

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
    /// more get 429. IPv6 clients count per /64. 0 (the default): no limit; behind a proxy set
    /// --trusted-proxies first, or every client shares the proxy's budget.
    #[arg(long, env = "NOTIFY_CONNECTS_PER_SEC", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub connects_per_sec: u32,

    /// Publishes allowed per publisher identity per second (also the burst); more get 429. 0: no limit.
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

    // --- Hardening (issue 13): JWT claims, failed-key throttling, path bound ---------------
    /// Required `iss` of subscriber tokens. Unset: `iss` is not checked.
    #[arg(long, env = "NOTIFY_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` of subscriber tokens. Unset: tokens must carry no `aud`.
    #[arg(long, env = "NOTIFY_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Longest a subscriber token may still be valid, in seconds: a token whose `exp` lies
    /// further ahead gets 401. Unset: no limit.
    #[arg(long, env = "NOTIFY_JWT_MAX_LIFETIME_SECS", value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub jwt_max_lifetime_secs: Option<u64>,

    /// Failed publish-key or metrics-key checks allowed per client address per minute (also
    /// the burst); past it 429, even with the right key. 0: no limit.
    #[arg(long, env = "NOTIFY_AUTH_FAILURES_PER_MIN", default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub auth_failures_per_min: u32,

    /// Longest request path, in bytes; longer gets 414.
    #[arg(long, env = "NOTIFY_MAX_PATH_BYTES", default_value_t = 1_024, value_parser = clap::value_parser!(u64).range(64..=65_536))]
    pub max_path_bytes: u64,
    // --- Notification log in the app's SQL database (issue 19) ---
    /// SQL database that also keeps the notification log, as a postgres:// or mysql:// URL
    /// (MariaDB included); `GET /notifications` then reads from it. Never logged.
    #[arg(long, env = "NOTIFY_NOTIFICATIONS_DB", hide_env_values = true)]
    pub notifications_db: Option<Secret>,

    /// Table of the notification log in --notifications-db: 1 to 40 of `a-z A-Z 0-9 _`, not
    /// starting with a digit.
    #[arg(long, env = "NOTIFY_NOTIFICATIONS_TABLE", default_value = DEFAULT_NOTIFICATIONS_TABLE, value_parser = parse_table)]
    pub notifications_table: String,

    // --- Redis TLS, ACL auth, Sentinel and durability (issue 12) ---
    /// Redis ACL user name, instead of the URL's userinfo.
    #[arg(long, env = "NOTIFY_REDIS_USERNAME")]
    pub redis_username: Option<String>,

    /// Redis password, instead of the URL's userinfo; never shown or logged.
    #[arg(long, env = "NOTIFY_REDIS_PASSWORD", hide_env_values = true)]
    pub redis_password: Option<Secret>,

    /// PEM file of a private CA that signs the Redis server's certificate (rediss:// only).
    #[arg(long, env = "NOTIFY_REDIS_CA_FILE")]
    pub redis_ca_file: Option<std::path::PathBuf>,

    /// PEM client certificate for mutual TLS with Redis (with --redis-client-key).
    #[arg(long, env = "NOTIFY_REDIS_CLIENT_CERT")]
    pub redis_client_cert: Option<std::path::PathBuf>,

    /// PEM key of --redis-client-cert.
    #[arg(long, env = "NOTIFY_REDIS_CLIENT_KEY")]
    pub redis_client_key: Option<std::path::PathBuf>,

    /// Replicas that must confirm an append (Redis `WAIT`) before a publish is acknowledged;
    /// 0 acknowledges on the primary's answer alone.
    #[arg(long, env = "NOTIFY_REDIS_WAIT_REPLICAS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=16))]
    pub redis_wait_replicas: u32,

    /// Longest wait for --redis-wait-replicas, in ms; a publish not confirmed by then is a 503.
    #[arg(long, env = "NOTIFY_REDIS_WAIT_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub redis_wait_ms: u64,

    /// Redis Sentinels, comma-separated `host:port`: the relay asks them for the primary and
    /// follows failovers. With them, --redis-url gives only the scheme, userinfo and database.
    #[arg(long, env = "NOTIFY_REDIS_SENTINELS", value_delimiter = ',')]
    pub redis_sentinels: Vec<String>,

    /// The name under which the sentinels monitor the primary.
    #[arg(long, env = "NOTIFY_REDIS_MASTER_NAME", default_value = "mymaster")]
    pub redis_master_name: String,

    /// Redis Cluster seed nodes, comma-separated `host:port`: the log is split into
    /// --redis-partitions partitions spread over the cluster's shards. With them, --redis-url
    /// gives only the scheme and userinfo. Excludes --redis-sentinels.
    #[arg(
        long,
        env = "NOTIFY_REDIS_CLUSTER",
        value_delimiter = ',',
        conflicts_with = "redis_sentinels"
    )]
    pub redis_cluster: Vec<String>,

    /// Partitions of the log on a Redis Cluster (each a hash tag, so a slot); fixed for a
    /// deployment: a relay with another count refuses to start (see docs/CLUSTER.md).
    #[arg(long, env = "NOTIFY_REDIS_PARTITIONS", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub redis_partitions: u16,

    // --- Operators: the admin page and the delivery trace (issue 17) ---
    /// Bearer key of the admin page and routes (`/admin`, `/admin/trace/{user}`). Unset: there
    /// are no admin routes at all.
    #[arg(long, env = "NOTIFY_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<Secret>,

    // --- Lossless ingest (issue 18): idempotency keys and the Redis Stream ingest ---
    /// Seconds an idempotency key is remembered: within this long, a second publish with the
    /// same key stores nothing and gets the first one's answer.
    #[arg(long, env = "NOTIFY_IDEMPOTENCY_TTL_SECS", default_value_t = DEFAULT_IDEMPOTENCY_TTL_SECS, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub idempotency_ttl_secs: u64,

    /// Redis Stream the relay reads events from (`XADD <stream> * data <publish JSON>`); empty
    /// turns it off. Unset: `notify:ingest` on the Redis broker, off on the memory broker.
    #[arg(long, env = "NOTIFY_INGEST_STREAM")]
    pub ingest_stream: Option<String>,

    /// Consumer group the relays read the ingest stream through (one consumer per instance).
    #[arg(long, env = "NOTIFY_INGEST_GROUP", default_value = DEFAULT_INGEST_GROUP)]
    pub ingest_group: String,

    /// Seconds an ingest entry may stay unacknowledged by an instance (it died) before another
    /// instance claims it.
    #[arg(long, env = "NOTIFY_INGEST_CLAIM_SECS", default_value_t = DEFAULT_INGEST_CLAIM_SECS, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub ingest_claim_secs: u64,

    // --- Bounded work per request (outside review, issue 13 items 9 and 16) ---
    /// Most subscribers a topic may have for a publish to it to be accepted; a publish to a
    /// larger topic gets 400 and stores nothing.
    #[arg(long, env = "NOTIFY_MAX_TOPIC_RECIPIENTS", default_value_t = DEFAULT_MAX_TOPIC_RECIPIENTS, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_topic_recipients: u64,

    /// Most open /events streams per client address (IPv6: per /64; behind --trusted-proxies,
    /// the forwarded client); more get 429. 0: no limit.
    #[arg(long, env = "NOTIFY_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub max_connections_per_address: u32,

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

/// A table name used as is in SQL, so only a plain identifier (no quoting needed anywhere).
fn parse_table(s: &str) -> Result<String, String> {
    let ok = (1..=40).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(s.to_owned())
    } else {
        Err("expected 1 to 40 of a-z A-Z 0-9 _, not starting with a digit".into())
    }
}

/// Parses `10.0.0.0/8`, `::1/128` or a bare address (a one-address network).
fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is neither an address nor a CIDR"))
}
