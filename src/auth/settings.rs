//! What the authenticator is started with: the token secret and claims, the keys, and the
//! wrong-key budget.

use std::{num::NonZeroU32, time::Duration};

use crate::secret::Secret;

/// The `--jwt-*` settings, the publish and metrics keys, and the wrong-key budget.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// HS256 secret of subscriber tokens; unset: demo mode, with a secret made up per process.
    pub jwt_secret: Option<Secret>,
    /// Required `iss` of tokens.
    pub issuer: Option<String>,
    /// Required `aud` of tokens; unset, tokens must carry none.
    pub audience: Option<String>,
    /// Longest a token may still be valid.
    pub max_lifetime: Option<Duration>,
    /// The key publishers present.
    pub publish_key: Option<Secret>,
    /// The key `GET /metrics` requires.
    pub metrics_key: Option<Secret>,
    /// Wrong keys allowed per client address per minute; `None`: no limit.
    pub failures_per_min: Option<NonZeroU32>,
    /// Proxies whose forwarding headers name the client address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}
