//! The one split of the flat settings into the typed groups the parts of the relay take: every
//! `_secs`/`_ms` becomes a `Duration` and every count a `usize` here, once, and each part is
//! handed only its group. The groups belong to the modules they configure (`hub::HubLimits`,
//! `event::ParseLimits`, `redis_store::StoreSettings`, ...); only the server's is kept here.

use std::{net::SocketAddr, num::NonZeroU32, time::Duration};

use super::Settings;
use crate::{
    admin::AdminSettings,
    auth::AuthSettings,
    broker::redis::RedisSettings,
    email::{
        EmailSettings, NotificationsDbSettings, WorkerSettings, outbox::OutboxSettings,
        smtp::SmtpSettings,
    },
    event::ParseLimits,
    hub::HubLimits,
    ingest::BridgeSettings,
    ingest_stream::StreamSettings,
    limits::{LimitSettings, RequestBounds},
    redis_store::{Credentials, StoreSettings, WaitFor},
    routes::{PollSettings, SseSettings},
};

/// The settings, split into one group per part of the relay. Its `Debug` shows no secret: keys
/// are [`Secret`](crate::secret::Secret)s, and the Redis URL and password are redacted by
/// `StoreSettings`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The HTTP server.
    pub server: ServerSettings,
    /// Live subscribers: connection caps and queue length.
    pub hub: HubLimits,
    /// Parsing publishers' messages (HTTP, pub/sub and stream alike).
    pub parse: ParseLimits,
    /// Where events are stored and how they come in from Redis.
    pub broker: BrokerSettings,
    /// SSE streams.
    pub sse: SseSettings,
    /// Long polls.
    pub poll: PollSettings,
    /// Tokens and keys.
    pub auth: AuthSettings,
    /// Abuse limits and request bounds.
    pub limits: LimitSettings,
    /// Presence, the outbox, the notification log and the mail worker.
    pub email: EmailSettings,
    /// The operators' page.
    pub admin: AdminSettings,
}

/// How the HTTP server runs.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Worker threads.
    pub workers: usize,
    /// How long an idle keep-alive connection is kept.
    pub http_keepalive: Duration,
    /// How long written data may stay unacknowledged before the kernel drops the connection.
    pub write_timeout: Duration,
    /// How long ending the streams is spread over on SIGTERM.
    pub drain: Duration,
    /// Local demo mode: no JWT secret, loopback only, `/demo/token` served.
    pub demo: bool,
    /// Origins allowed to open `/events` and `/poll` cross-origin, trimmed, none empty.
    pub cors_origins: Vec<String>,
}

/// The broker: the in-memory one, or Redis with its bridge and cache.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// Redis, when the relay runs on it; `None`: the in-memory broker.
    pub store: Option<StoreSettings>,
    /// The log and each user's history (the memory broker takes the history, idempotency and
    /// topic parts).
    pub history: RedisSettings,
    /// Bytes of the recent-event cache in front of Redis; 0: off.
    pub cache_bytes: usize,
    /// The pub/sub bridge and stream ingest (Redis only).
    pub bridge: BridgeSettings,
}

impl Settings {
    /// Splits the settings into the groups the parts of the relay take. Call after
    /// [`Settings::validate`]: the split itself checks nothing.
    pub fn split(self) -> Config {
        let parse = ParseLimits {
            max_bytes: usize_of(self.max_payload_bytes),
            max_recipients: usize_of(self.max_recipients),
        };
        let server = ServerSettings {
            listen: self.listen,
            workers: self.workers.map_or_else(num_workers, usize_of),
            http_keepalive: Duration::from_secs(self.http_keepalive_secs),
            write_timeout: Duration::from_secs(self.write_timeout_secs),
            drain: Duration::from_secs(self.drain_secs),
            demo: self.demo_mode(),
            cors_origins: self.cors_origins().map(str::to_owned).collect(),
        };
        let hub = HubLimits {
            per_user: usize_of(self.max_connections_per_user),
            total: usize_of(self.max_connections),
            queue_len: usize_of(self.queue_len),
        };
        let sse = SseSettings {
            keepalive: Duration::from_secs(self.keepalive_secs),
            retry_ms: self.retry_ms,
            max_stream: (self.max_stream_secs > 0)
                .then(|| Duration::from_secs(self.max_stream_secs)),
        };
        let poll = PollSettings {
            timeout: Duration::from_secs(self.poll_timeout_secs),
            batch: usize_of(self.poll_batch),
        };
        let admin = AdminSettings {
            key: self.admin_key.clone(),
            connections_limit: hub.total,
            history_len: usize_of(self.history_len),
        };
        Config {
            broker: self.broker(parse),
            auth: self.auth(),
            limits: self.limits(),
            // A poll counts as a live connection for as long as the longest poll.
            email: self.email(),
            server,
            hub,
            parse,
            sse,
            poll,
            admin,
        }
    }

    fn broker(&self, parse: ParseLimits) -> BrokerSettings {
        let history = RedisSettings {
            history_len: usize_of(self.history_len),
            history_ttl: Duration::from_secs(self.history_ttl_secs),
            log_len: usize_of(self.log_len),
            append_batch: usize_of(self.append_batch),
            email_grace: Duration::from_secs(self.email_grace_secs),
            idempotency_ttl: Duration::from_secs(self.idempotency_ttl_secs),
            max_topic_recipients: usize_of(self.max_topic_recipients),
        };
        let bridge = BridgeSettings {
            channels: self.channels.iter().map(|c| c.trim().to_owned()).collect(),
            limits: parse,
            lease: Duration::from_millis(self.bridge_lease_ms),
            fallback_channels: self.email_fallback_channels.clone(),
            stream: self.ingest_stream().map(|stream| StreamSettings {
                stream: stream.to_owned(),
                group: self.ingest_group.clone(),
                claim: Duration::from_secs(self.ingest_claim_secs),
                limits: parse,
            }),
        };
        BrokerSettings {
            store: self.redis_target().map(|url| self.store(url)),
            history,
            cache_bytes: usize_of(self.cache_bytes),
            bridge,
        }
    }

    fn store(&self, url: String) -> StoreSettings {
        StoreSettings {
            url,
            prefix: self.redis_prefix.clone(),
            credentials: Credentials {
                username: self.redis_username.clone(),
                password: self.redis_password.as_ref().map(|p| p.expose().to_owned()),
                ca_file: self.redis_ca_file.clone(),
                client_cert: self.redis_client_cert.clone(),
                client_key: self.redis_client_key.clone(),
            },
            wait: WaitFor {
                replicas: self.redis_wait_replicas,
                timeout: Duration::from_millis(self.redis_wait_ms),
            },
            sentinels: self.redis_sentinels.clone(),
            master_name: self.redis_master_name.clone(),
            cluster: self.redis_cluster.clone(),
            partitions: self.redis_partitions,
        }
    }

    fn auth(&self) -> AuthSettings {
        AuthSettings {
            jwt_secret: self.jwt_secret.clone(),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            max_lifetime: self.jwt_max_lifetime_secs.map(Duration::from_secs),
            publish_key: self.publish_key.clone(),
            metrics_key: self.metrics_key.clone(),
            failures_per_min: NonZeroU32::new(self.auth_failures_per_min),
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }

    fn limits(&self) -> LimitSettings {
        LimitSettings {
            connects_per_sec: NonZeroU32::new(self.connects_per_sec),
            publishes_per_sec: NonZeroU32::new(self.publishes_per_sec),
            trusted_proxies: self.trusted_proxies.clone(),
            streams_per_address: usize_of(u64::from(self.max_connections_per_address)),
            bounds: RequestBounds {
                path: usize_of(self.max_path_bytes),
                query: usize_of(self.max_query_bytes),
                head: usize_of(self.max_header_bytes),
            },
        }
    }

    fn email(&self) -> EmailSettings {
        let db = self
            .notifications_db
            .clone()
            .map(|url| NotificationsDbSettings {
                url,
                table: self.notifications_table.clone(),
            });
        let smtp = SmtpSettings {
            url: self.smtp_url.clone(),
            host: self.smtp_host.clone(),
            port: self.smtp_port,
            tls: self.smtp_tls,
            user: self.smtp_user.clone(),
            password: self.smtp_password.clone(),
            timeout: Duration::from_secs(self.smtp_timeout_secs),
            from: self.email_from.clone(),
        };
        EmailSettings {
            run_mailer: self.mailer,
            outbox: OutboxSettings {
                digest: Duration::from_secs(self.email_digest_secs),
                outbox_len: self.notification_log_max,
                log_retention: Duration::from_secs(self.notification_log_secs),
                log_max: self.notification_log_max,
                sql: db.is_some(),
            },
            worker: WorkerSettings {
                smtp,
                templates: self.email_templates.clone(),
                link_base: self.email_link_base.clone(),
                max_attempts: self.email_max_attempts,
                retry: Duration::from_millis(self.email_retry_ms),
                retry_max: Duration::from_millis(self.email_retry_max_ms),
                reclaim_idle: Duration::from_secs(self.email_reclaim_secs),
                sql_log: db.is_some(),
            },
            db,
        }
    }
}

/// A count from the command line as a `usize`; the flags' ranges keep them far below
/// `usize::MAX` on 64-bit targets, and a larger one (on 32 bits) saturates.
fn usize_of(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// One worker per core when `--workers` is not given.
fn num_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
