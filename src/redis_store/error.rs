//! What went wrong talking to Redis, sorted into "retry later" and "fix the configuration".

use redis::{ErrorKind, RedisError};

/// An error from the Redis store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis cannot be reached now (down, restarting, failing over); the caller may retry.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// The write was made but fewer replicas than required confirmed it in time.
    #[error("only {acked} of {wanted} replicas confirmed the write in time")]
    NotReplicated {
        /// Replicas that confirmed.
        acked: u32,
        /// Replicas required.
        wanted: u32,
    },
    /// The sentinels chose a new primary while the write ran on the old one, which may
    /// still discard it.
    #[error("the redis primary changed during the write")]
    PrimaryChanged,
    /// Redis answered but refused us (credentials, certificate): retrying cannot help.
    #[error("redis refused the connection: {message} (check {setting})")]
    Config {
        /// The settings to check, named as flags and env vars.
        setting: &'static str,
        /// What Redis or the TLS handshake said.
        message: String,
    },
}

/// The settings named when Redis refuses the credentials.
const AUTH_SETTINGS: &str = "--redis-username / NOTIFY_REDIS_USERNAME and --redis-password / NOTIFY_REDIS_PASSWORD (or the URL's userinfo)";
/// The settings named when the server's certificate does not verify or ours is refused.
const TLS_SETTINGS: &str = "--redis-ca-file / NOTIFY_REDIS_CA_FILE, --redis-client-cert / NOTIFY_REDIS_CLIENT_CERT, --redis-client-key / NOTIFY_REDIS_CLIENT_KEY and the rediss:// host name";

impl StoreError {
    /// True when retrying cannot help until the configuration changes.
    pub fn is_config(&self) -> bool {
        matches!(self, Self::Config { .. })
    }
}

impl From<RedisError> for StoreError {
    fn from(e: RedisError) -> Self {
        let message = e.to_string();
        if e.kind() == ErrorKind::AuthenticationFailed
            || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
        {
            return Self::Config {
                setting: AUTH_SETTINGS,
                message,
            };
        }
        if is_tls_failure(&message) {
            return Self::Config {
                setting: TLS_SETTINGS,
                message,
            };
        }
        Self::Unavailable(message)
    }
}

/// rustls reports verification failures through `io::Error`s; their text is all redis-rs keeps.
fn is_tls_failure(message: &str) -> bool {
    const SIGNS: [&str; 5] = [
        "invalid peer certificate",
        "UnknownIssuer",
        "NotValidForName",
        "received fatal alert",
        "certificate required",
    ];
    SIGNS.iter().any(|s| message.contains(s))
}
