//! The relay in the test's own process, on port 0, with test settings and tokens.

use std::{
    ops::Deref,
    time::{SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use notify_relay::{
    config::Settings,
    startup::{Application, Stopper},
};
use serde_json::{Value, json};

use super::{Backend, JWT_SECRET, PUBLISH_KEY, RedisServer, Relay, wait_bridge_subscribed};

/// A running relay and the redis-server behind it (if any). Talk to it through [`Relay`], which
/// it derefs to.
pub struct TestApp {
    relay: Relay,
    pub redis: Option<RedisServer>,
    pub stopper: Stopper,
}

impl Deref for TestApp {
    type Target = Relay;
    fn deref(&self) -> &Relay {
        &self.relay
    }
}

impl TestApp {
    /// Starts the relay with the test defaults on `backend` and waits until ready.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts the relay with the test defaults, adjusted by `tweak`, and waits until ready.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Self {
        let redis = match backend {
            Backend::Memory => None,
            Backend::Redis | Backend::RedisUncached => Some(RedisServer::start().await),
        };
        let mut settings = test_settings(redis.as_ref().map(RedisServer::url));
        if backend == Backend::RedisUncached {
            settings.cache_bytes = 0;
        }
        tweak(&mut settings);
        let app = Self::start(settings, redis).await;
        app.wait_ready().await;
        if backend != Backend::Memory {
            app.wait_bridge_subscribed().await;
        }
        app
    }

    /// Starts the relay without waiting for readiness.
    pub async fn start(settings: Settings, redis: Option<RedisServer>) -> Self {
        let app = Application::build(settings).await.expect("relay builds");
        let relay = Relay::at(format!("http://127.0.0.1:{}", app.port()));
        let stopper = app.stopper();
        tokio::spawn(app.run());
        Self {
            relay,
            redis,
            stopper,
        }
    }

    /// The redis-server behind the relay; panics on the memory broker.
    pub fn redis(&self) -> &RedisServer {
        self.redis
            .as_ref()
            .expect("this test runs on the redis broker")
    }

    /// The redis-server behind the relay, to kill or restart; panics on the memory broker.
    pub fn redis_mut(&mut self) -> &mut RedisServer {
        self.redis
            .as_mut()
            .expect("this test runs on the redis broker")
    }

    /// Waits until the pub/sub bridge is subscribed (PUBSUB NUMSUB > 0).
    pub async fn wait_bridge_subscribed(&self) {
        wait_bridge_subscribed(&self.redis().connection().await).await;
    }
}

/// The settings every test relay starts from, in-process or as the binary.
pub fn test_settings(redis_url: Option<String>) -> Settings {
    let mut s = Settings::defaults();
    s.listen = "127.0.0.1:0".parse().expect("addr");
    s.redis_url = redis_url.map(|u| u.parse().expect("redis url"));
    s.redis_prefix = "test".into();
    s.jwt_secret = Some(JWT_SECRET.parse().expect("secret"));
    s.publish_key = Some(PUBLISH_KEY.parse().expect("key"));
    s.keepalive_secs = 1;
    s.workers = Some(2);
    // Tests open streams and publish in bursts from one address; the limits have their own tests.
    s.connects_per_sec = 0;
    s.publishes_per_sec = 0;
    s
}

/// Seconds since the Unix epoch, for token expiries.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A subscriber token for `user`, valid for an hour.
pub fn token(user: &str) -> String {
    token_with(json!({ "sub": user, "exp": now_secs() + 3600 }), JWT_SECRET)
}

/// A token with any `claims`, signed with `secret` (HS256).
pub fn token_with(claims: Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token")
}
