//! What the flat settings say once read: the Redis to use, the ingest stream, the CORS origins.

use clap::Parser;

use super::{DEFAULT_INGEST_STREAM, Settings};

impl Settings {
    /// The Redis URL to use: --redis-url, or with only sentinels or cluster seeds given a plain
    /// `redis://` one (its host is never used). `None`: the in-memory broker.
    pub fn redis_target(&self) -> Option<String> {
        self.redis_url
            .as_ref()
            .map(|u| u.expose().to_owned())
            .or_else(|| {
                (!self.redis_sentinels.is_empty()).then(|| "redis://sentinel-primary".to_owned())
            })
            .or_else(|| (!self.redis_cluster.is_empty()).then(|| "redis://cluster-seed".to_owned()))
    }

    /// True in local demo mode: no JWT secret, loopback only.
    pub fn demo_mode(&self) -> bool {
        self.jwt_secret.is_none()
    }

    /// The configured CORS origins, trimmed, empty entries skipped.
    pub fn cors_origins(&self) -> impl Iterator<Item = &str> {
        self.cors_origins
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
    }

    /// The stream to ingest from, if any: the default on Redis, off on the memory broker
    /// unless asked for (then start-up refuses, see [`super::SettingsError::StreamNeedsRedis`]).
    pub fn ingest_stream(&self) -> Option<&str> {
        match (&self.ingest_stream, self.redis_target()) {
            (Some(name), _) => Some(name.as_str()).filter(|n| !n.is_empty()),
            (None, Some(_)) => Some(DEFAULT_INGEST_STREAM),
            (None, None) => None,
        }
    }

    /// Settings for tests and embedding: the defaults, as if no flag were given.
    pub fn defaults() -> Self {
        Self::parse_from(["notify-relay"])
    }
}
