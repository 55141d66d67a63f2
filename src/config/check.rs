//! The checks of settings that depend on each other, made before anything starts; each refusal
//! names the flag and variable to fix.

use std::net::SocketAddr;

use super::Settings;

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
    /// A secret is the value the example files show.
    #[error(
        "{0} is the example value {1:?}: generate a secret of its own, e.g. `openssl rand -hex 32`"
    )]
    ExampleSecret(&'static str, String),
    /// Two secrets that protect different things are the same.
    #[error(
        "{0} and {1} are identical: each protects something else (subscriber tokens, publishing, metrics), so a leak of one must not give away the other; generate one per setting"
    )]
    SameSecret(&'static str, &'static str),
    /// The email link base is not an http(s) URL.
    #[error(
        "--email-link-base / NOTIFY_EMAIL_LINK_BASE is {0:?}: expected the app's base URL, http(s)://host[:port][/path], e.g. https://app.example.com"
    )]
    BadLinkBase(String),
    /// The Redis URL does not parse.
    #[error(
        "--redis-url / NOTIFY_REDIS_URL is not a Redis URL ({0}): expected redis://[[user]:password@]host[:port][/db], rediss://... for TLS, or redis+unix:///path/to/socket"
    )]
    BadRedisUrl(String),
    /// The notifications database URL names no database this relay can write to.
    #[error(
        "--notifications-db / NOTIFY_NOTIFICATIONS_DB must be a postgres:// or mysql:// URL (postgresql:// and mariadb:// too)"
    )]
    BadNotificationsDb,
    /// Stream ingest was asked for without Redis.
    #[error(
        "--ingest-stream / NOTIFY_INGEST_STREAM is {0:?}, but stream ingest needs Redis: set --redis-url / NOTIFY_REDIS_URL, or set it to \"\" to turn stream ingest off"
    )]
    StreamNeedsRedis(String),
    /// The consumer group name is empty.
    #[error("--ingest-group / NOTIFY_INGEST_GROUP must not be empty")]
    EmptyIngestGroup,
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
        self.validate_secrets()?;
        if let Some(base) = &self.email_link_base
            && !is_link_base(base)
        {
            return Err(SettingsError::BadLinkBase(base.clone()));
        }
        if let Some(url) = &self.redis_url {
            // The URL may carry a password: only the parser's reason is shown, never the URL.
            redis::IntoConnectionInfo::into_connection_info(url.expose())
                .map_err(|e| SettingsError::BadRedisUrl(e.to_string()))?;
        }
        if let Some(url) = &self.notifications_db
            && !["postgres://", "postgresql://", "mysql://", "mariadb://"]
                .iter()
                .any(|scheme| url.expose().starts_with(scheme))
        {
            return Err(SettingsError::BadNotificationsDb);
        }
        if self.redis_target().is_none()
            && let Some(stream) = self.ingest_stream()
        {
            return Err(SettingsError::StreamNeedsRedis(stream.to_owned()));
        }
        if self.ingest_group.trim().is_empty() {
            return Err(SettingsError::EmptyIngestGroup);
        }
        Ok(())
    }
}

/// True for `http(s)://host[:port]` with an optional path: a base that email links start with.
pub(super) fn is_link_base(base: &str) -> bool {
    let trimmed = base.trim_end_matches('/');
    let origin_end = trimmed
        .find("://")
        .and_then(|i| trimmed[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(trimmed.len());
    is_origin(&trimmed[..origin_end]) && !base.contains(['?', '#', ' '])
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
