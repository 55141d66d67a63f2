//! The relay in the test's own process, on port 0, with test settings and tokens.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use notify_relay::{
    config::Settings,
    startup::{Application, Stopper},
};
use serde_json::{Value, json};

use super::{
    Backend, JWT_SECRET, PUBLISH_KEY, RedisServer, SseClient, TestAppProbe, eventually, publish_at,
    sse_at,
};

/// A running relay and the redis-server behind it (if any).
pub struct TestApp {
    pub base: String,
    pub redis: Option<RedisServer>,
    pub http: reqwest::Client,
    pub stopper: Stopper,
}

impl TestApp {
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
        let base = format!("http://127.0.0.1:{}", app.port());
        let stopper = app.stopper();
        tokio::spawn(app.run());
        Self {
            base,
            redis,
            http: reqwest::Client::new(),
            stopper,
        }
    }

    pub fn redis(&self) -> &RedisServer {
        self.redis
            .as_ref()
            .expect("this test runs on the redis broker")
    }

    pub fn redis_mut(&mut self) -> &mut RedisServer {
        self.redis
            .as_mut()
            .expect("this test runs on the redis broker")
    }

    pub async fn wait_ready(&self) {
        self.wait_status("/readyz", 200).await;
    }

    /// Polls a path until it answers `status`.
    pub async fn wait_status(&self, path: &str, status: u16) {
        TestAppProbe {
            base: self.base.clone(),
        }
        .wait_status(path, status)
        .await;
    }

    /// Waits until the pub/sub bridge is subscribed (PUBSUB NUMSUB > 0).
    pub async fn wait_bridge_subscribed(&self) {
        let c = self.redis().connection().await;
        eventually("the bridge never subscribed", || {
            let mut c = c.clone();
            async move {
                let (_, n): (String, i64) = redis::cmd("PUBSUB")
                    .arg("NUMSUB")
                    .arg("image_update")
                    .query_async(&mut c)
                    .await
                    .unwrap_or_default();
                (n > 0).then_some(())
            }
        })
        .await;
    }

    pub async fn publish(&self, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/publish", self.base))
            .bearer_auth(PUBLISH_KEY)
            .json(&body)
            .send()
            .await
            .expect("publish request")
    }

    /// Publishes over HTTP and returns the assigned id.
    pub async fn publish_ok(&self, body: Value) -> String {
        publish_at(&self.base, body).await
    }

    pub async fn sse(&self, user: &str) -> SseClient {
        self.sse_from(user, None).await
    }

    /// Opens `/events` for `user`, resuming from `last_event_id` if given.
    pub async fn sse_from(&self, user: &str, last_event_id: Option<&str>) -> SseClient {
        sse_at(&self.base, user, last_event_id).await
    }

    /// The current position for `user`: a poll without cursor, which answers at once.
    pub async fn cursor_now(&self, user: &str) -> String {
        let poll = self.poll(user, None, 0).await;
        poll["cursor"].as_str().expect("cursor").to_owned()
    }

    pub async fn poll(&self, user: &str, cursor: Option<&str>, timeout: u64) -> Value {
        let mut url = format!("{}/poll?timeout={timeout}", self.base);
        if let Some(c) = cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let res = self
            .http
            .get(url)
            .bearer_auth(token(user))
            .send()
            .await
            .expect("poll");
        assert_eq!(res.status().as_u16(), 200);
        res.json().await.expect("poll json")
    }

    /// `GET path` as `user` (a bearer token).
    pub async fn get_as(&self, user: &str, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token(user))
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }
}

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

pub fn token_with(claims: Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token")
}
