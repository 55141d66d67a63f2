//! Who is asking: subscriber tokens (HS256 JWT, `sub` = user id) and the publisher key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{HttpRequest, http::header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod failures;
mod settings;

pub use failures::AuthFailures;
pub use settings::AuthSettings;

use crate::{event::UserId, secret::Secret};

/// The cookie a browser may carry its subscriber token in.
pub const TOKEN_COOKIE: &str = "notify_token";

/// Why a request was not authenticated. The message is safe to show the client.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No token in the header, cookie or query.
    #[error("no token: send Authorization: Bearer <jwt>, a notify_token cookie, or ?token=")]
    Missing,
    /// The token is expired.
    #[error("the token has expired")]
    Expired,
    /// The token does not verify or its claims are unusable.
    #[error("the token is invalid: {0}")]
    Invalid(String),
    /// The publisher key is missing or wrong.
    #[error("missing or wrong publish key: send Authorization: Bearer <publish key>")]
    BadPublishKey,
    /// HTTP publishing is switched off.
    #[error("HTTP publishing is off: start the relay with --publish-key / NOTIFY_PUBLISH_KEY")]
    PublishDisabled,
    /// The `Authorization` header and `?token=` carry different tokens.
    #[error(
        "two different tokens: the Authorization header and ?token= disagree; send one (or the same in both)"
    )]
    ConflictingTokens,
    /// The metrics key is missing or wrong.
    #[error("missing or wrong metrics key: send Authorization: Bearer <metrics key>")]
    BadMetricsKey,
    /// The admin key is missing or wrong.
    #[error("missing or wrong admin key: send Authorization: Bearer <admin key>")]
    BadAdminKey,
    /// Too many wrong keys came from this client address; it must wait before trying again.
    #[error("too many wrong keys from your address; retry in {0} s")]
    TooManyFailures(u64),
}

/// Who published: the one identity a publisher proves, which rate limits are counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Publisher {
    /// The holder of `--publish-key`.
    Key,
    /// A loopback caller in demo mode, where no key is set.
    Demo,
}

/// An authenticated subscriber: who, and until when the token that proved it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The token's user.
    pub user: UserId,
    /// The token's `exp`: a stream opened with it must end by then.
    pub expires_at: SystemTime,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// A string or, as PHP apps often send it, an integer; so checked here, not by the library.
    #[serde(default)]
    sub: Value,
    exp: u64,
}

/// Verifies subscriber tokens and the publisher key.
pub struct Authenticator {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    publish_key: Option<Secret>,
    metrics_key: Option<Secret>,
    max_lifetime: Option<Duration>,
    failures: std::sync::Arc<AuthFailures>,
    demo: bool,
}

impl Authenticator {
    /// Builds the authenticator. Without a JWT secret (demo mode) a random one is made up, so
    /// only tokens this process minted are accepted.
    pub fn new(settings: &AuthSettings) -> Self {
        let demo = settings.jwt_secret.is_none();
        let secret: Vec<u8> = match &settings.jwt_secret {
            Some(s) => s.expose().as_bytes().to_vec(),
            None => (0..32).map(|_| rand::random::<u8>()).collect(),
        };
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is exact: a stream must not outlive the token that opened it.
        validation.leeway = 0;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if let Some(iss) = &settings.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        if let Some(aud) = &settings.audience {
            validation.set_audience(&[aud]);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        Self {
            decoding: DecodingKey::from_secret(&secret),
            encoding: EncodingKey::from_secret(&secret),
            validation,
            publish_key: settings.publish_key.clone(),
            metrics_key: settings.metrics_key.clone(),
            max_lifetime: settings.max_lifetime,
            failures: std::sync::Arc::new(AuthFailures::new(
                settings.failures_per_min,
                settings.trusted_proxies.clone(),
            )),
            demo,
        }
    }

    /// The per-address counter of wrong keys (for its periodic clean-up).
    pub fn failures(&self) -> std::sync::Arc<AuthFailures> {
        self.failures.clone()
    }

    /// The user a subscriber request is for, from its token.
    pub fn subscriber(
        &self,
        req: &HttpRequest,
        query_token: Option<&str>,
    ) -> Result<UserId, AuthError> {
        self.session(req, query_token).map(|s| s.user)
    }

    /// The user a subscriber request is for and until when its token is valid.
    pub fn session(
        &self,
        req: &HttpRequest,
        query_token: Option<&str>,
    ) -> Result<Session, AuthError> {
        // What the page passed explicitly wins over the ambient cookie, which may be a stale one
        // of another account; two explicit tokens that disagree are a mistake worth reporting.
        let header = bearer(req).filter(|t| !t.is_empty());
        let query = query_token.filter(|t| !t.is_empty());
        let token = match (header, query) {
            (Some(h), Some(q)) if h != q => return Err(AuthError::ConflictingTokens),
            (Some(h), _) => h,
            (None, Some(q)) => q.to_owned(),
            (None, None) => req
                .cookie(TOKEN_COOKIE)
                .map(|c| c.value().to_owned())
                .filter(|t| !t.is_empty())
                .ok_or(AuthError::Missing)?,
        };
        self.verify_session(&token)
    }

    /// Verifies a token and returns its user.
    pub fn verify(&self, token: &str) -> Result<UserId, AuthError> {
        self.verify_session(token).map(|s| s.user)
    }

    /// Verifies a token and returns its user and expiry.
    pub fn verify_session(&self, token: &str) -> Result<Session, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        let data =
            decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::ImmatureSignature => {
                        AuthError::Invalid("not valid yet (nbf)".into())
                    }
                    ErrorKind::InvalidAlgorithm => {
                        AuthError::Invalid("only HS256 is accepted".into())
                    }
                    ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
                    ErrorKind::MissingRequiredClaim(c) => {
                        AuthError::Invalid(format!("missing claim {c}"))
                    }
                    ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer (iss)".into()),
                    ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience (aud)".into()),
                    _ => AuthError::Invalid("malformed".into()),
                }
            })?;
        if data.claims.sub.is_null() {
            return Err(AuthError::Invalid("missing claim sub".into()));
        }
        let user = UserId::from_json(&data.claims.sub)
            .map_err(|e| AuthError::Invalid(format!("sub: {e}")))?;
        // Checked: an absurd `exp` must be refused, not overflow the clock arithmetic.
        let expires_at = UNIX_EPOCH
            .checked_add(Duration::from_secs(data.claims.exp))
            .ok_or_else(|| AuthError::Invalid("exp out of range".into()))?;
        let now = unix_now();
        // The library accepts `exp == now`; a token is valid strictly before its `exp`.
        if data.claims.exp <= now {
            return Err(AuthError::Expired);
        }
        if let Some(max) = self.max_lifetime.map(|m| m.as_secs())
            && data.claims.exp - now > max
        {
            return Err(AuthError::Invalid(format!(
                "exp lies more than {max} s ahead (--jwt-max-lifetime-secs)"
            )));
        }
        Ok(Session { user, expires_at })
    }

    /// Mints a token for `user` valid for `ttl_secs` (demo mode, and tests).
    pub fn mint(&self, user: &UserId, ttl_secs: u64) -> String {
        let claims = Claims {
            sub: Value::String(user.to_string()),
            exp: unix_now() + ttl_secs,
        };
        // Encoding a two-field struct with an HMAC key cannot fail.
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// Checks the publisher key and names who published. In demo mode without a key, loopback
    /// callers may publish. Wrong keys are counted per client address: past the budget, even
    /// the right key gets 429 for a while, so guessing the key is as slow as the budget.
    pub fn publisher(&self, req: &HttpRequest) -> Result<Publisher, AuthError> {
        let Some(key) = &self.publish_key else {
            return if self.demo {
                Ok(Publisher::Demo)
            } else {
                Err(AuthError::PublishDisabled)
            };
        };
        self.check_key(req, key, AuthError::BadPublishKey)
            .map(|()| Publisher::Key)
    }

    /// Checks the metrics key, if one is set (counted against the same budget of wrong keys).
    pub fn metrics(&self, req: &HttpRequest) -> Result<(), AuthError> {
        match &self.metrics_key {
            Some(key) => self.check_key(req, key, AuthError::BadMetricsKey),
            None => Ok(()),
        }
    }

    /// Checks the admin key (counted against the same budget of wrong keys).
    pub fn admin(&self, req: &HttpRequest, key: &Secret) -> Result<(), AuthError> {
        self.check_key(req, key, AuthError::BadAdminKey)
    }

    fn check_key(
        &self,
        req: &HttpRequest,
        key: &Secret,
        wrong: AuthError,
    ) -> Result<(), AuthError> {
        self.failures
            .admit(req)
            .map_err(AuthError::TooManyFailures)?;
        match bearer(req) {
            Some(given) if constant_time_eq(given.as_bytes(), key.expose().as_bytes()) => Ok(()),
            _ => {
                self.failures
                    .failed(req)
                    .map_err(AuthError::TooManyFailures)?;
                Err(wrong)
            }
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Compares without an early exit, so the time taken does not reveal how much of a key matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
