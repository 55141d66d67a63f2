//! Test harness: a real redis-server per test on a free port, the relay on port 0, and clients.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures_util::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use notify_relay::{
    config::Settings,
    startup::{Application, Stopper},
};
use serde_json::{Value, json};

pub const JWT_SECRET: &str = "test-jwt-secret";
pub const PUBLISH_KEY: &str = "test-publish-key";
/// Longest any single wait in a test may take before it counts as a failure.
pub const WAIT: Duration = Duration::from_secs(10);

/// Which broker a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    /// Redis with the recent-event cache on (the default).
    Redis,
    /// Redis with the cache off (`--cache-bytes 0`): every read goes to Redis.
    RedisUncached,
}

/// Runs a shared test case once per broker, as two tests named after the brokers.
#[macro_export]
macro_rules! on_both_brokers {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() { super::$case($crate::helpers::Backend::Memory).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() { super::$case($crate::helpers::Backend::Redis).await }
        }
    )*};
}

/// Runs a shared test case on every read path: memory, Redis with and without the cache.
#[macro_export]
macro_rules! on_every_path {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() { super::$case($crate::helpers::Backend::Memory).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() { super::$case($crate::helpers::Backend::Redis).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis_uncached() {
                super::$case($crate::helpers::Backend::RedisUncached).await
            }
        }
    )*};
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A redis-server owned by one test; killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).expect("url");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
            {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }

    /// `PUBLISH channel payload`, as a PHP app would.
    pub async fn publish(&self, channel: &str, payload: &str) -> i64 {
        let mut c = self.connection().await;
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(&mut c)
            .await
            .expect("publish")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

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
        let mut c = self.redis().connection().await;
        let deadline = Instant::now() + WAIT;
        loop {
            let (_, n): (String, i64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg("image_update")
                .query_async(&mut c)
                .await
                .unwrap_or_default();
            if n > 0 {
                return;
            }
            assert!(Instant::now() < deadline, "the bridge never subscribed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

/// One block of an SSE stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A block with fields.
    Message {
        id: Option<String>,
        event: Option<String>,
        data: Option<String>,
        retry: Option<String>,
    },
    /// A block of comment lines only.
    Comment(String),
}

/// A minimal SSE reader over a streaming response that also sees comments and data-less blocks.
pub struct SseClient {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

/// A data-carrying event as a browser's `onmessage`/`addEventListener` would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub id: String,
    pub event: Option<String>,
    pub data: Value,
}

impl SseClient {
    pub fn new(res: reqwest::Response) -> Self {
        Self {
            stream: res.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next block, or None when the stream ended; panics after [`WAIT`].
    pub async fn next_frame(&mut self) -> Option<Frame> {
        tokio::time::timeout(WAIT, self.next_frame_inner())
            .await
            .expect("no SSE frame in time")
    }

    async fn next_frame_inner(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                return Some(parse_block(block.trim_end_matches('\n')));
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => self
                    .buf
                    .push_str(std::str::from_utf8(&chunk).expect("utf-8")),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next event with data, skipping comments and data-less blocks.
    pub async fn next_event(&mut self) -> Delivered {
        loop {
            match self
                .next_frame()
                .await
                .expect("stream ended before an event")
            {
                Frame::Message {
                    id,
                    event,
                    data: Some(data),
                    ..
                } => {
                    return Delivered {
                        id: id.expect("every event has an id"),
                        event,
                        data: serde_json::from_str(&data).expect("data is JSON"),
                    };
                }
                _ => continue,
            }
        }
    }

    /// Reads `n` events.
    pub async fn events(&mut self, n: usize) -> Vec<Delivered> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next_event().await);
        }
        out
    }
}

fn parse_block(block: &str) -> Frame {
    let mut id = None;
    let mut event = None;
    let mut data: Option<String> = None;
    let mut retry = None;
    let mut comments = Vec::new();
    for line in block.split('\n') {
        if let Some(c) = line.strip_prefix(':') {
            comments.push(c.trim().to_owned());
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .map_or((line, ""), |(n, v)| (n, v.strip_prefix(' ').unwrap_or(v)));
        match name {
            "id" => id = Some(value.to_owned()),
            "event" => event = Some(value.to_owned()),
            "retry" => retry = Some(value.to_owned()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    if id.is_none() && event.is_none() && data.is_none() && retry.is_none() {
        return Frame::Comment(comments.join("\n"));
    }
    Frame::Message {
        id,
        event,
        data,
        retry,
    }
}

impl RedisServer {
    /// A server that is not running yet (start it with [`RedisServer::restart`]).
    pub fn unstarted() -> Self {
        Self {
            port: free_port(),
            child: None,
        }
    }
}

/// The relay as a separate process (the real binary), so a test can SIGKILL or SIGTERM it.
pub struct RelayProcess {
    pub base: String,
    child: Option<Child>,
}

impl RelayProcess {
    /// Starts `notify-relay` with the test defaults plus `args`, and waits until it is ready.
    pub async fn start(redis_url: Option<&str>, args: &[&str]) -> Self {
        Self::start_logged(redis_url, args, &[("RUST_LOG", "warn")], None).await
    }

    /// Like [`Self::start`], with environment `envs` and stdout and stderr written to `log`.
    pub async fn start_logged(
        redis_url: Option<&str>,
        args: &[&str],
        envs: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Self {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_notify-relay"));
        cmd.args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--jwt-secret",
            JWT_SECRET,
            "--publish-key",
            PUBLISH_KEY,
        ])
        .args(["--keepalive-secs", "1", "--redis-prefix", "test"])
        .args(["--connects-per-sec", "0", "--publishes-per-sec", "0"])
        .args(args)
        .envs(envs.iter().copied());
        match log {
            Some(path) => {
                let file = std::fs::File::create(path).expect("log file");
                cmd.stdout(file.try_clone().expect("log file")).stderr(file);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        if let Some(url) = redis_url {
            cmd.args(["--redis-url", url]);
        }
        let relay = Self {
            base: format!("http://127.0.0.1:{port}"),
            child: Some(cmd.spawn().expect("relay binary")),
        };
        let probe = TestAppProbe {
            base: relay.base.clone(),
        };
        probe.wait_status("/readyz", 200).await;
        relay
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    /// Sends a signal with kill(1).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    /// Waits for the process to exit, at most `limit`; returns whether it did.
    pub async fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().expect("try_wait").is_some()
            {
                self.child = None;
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The relay's /readyz JSON.
    pub async fn ready_json(&self) -> Value {
        reqwest::get(format!("{}/readyz", self.base))
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json")
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Just enough of a client to wait for a status on any base URL.
pub struct TestAppProbe {
    pub base: String,
}

impl TestAppProbe {
    pub async fn wait_status(&self, path: &str, status: u16) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = reqwest::get(format!("{}{path}", self.base)).await
                && r.status().as_u16() == status
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}{path} never answered {status}",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Opens `/events` on any relay for `user`.
pub async fn sse_at(base: &str, user: &str, last_event_id: Option<&str>) -> SseClient {
    let mut req = reqwest::Client::new()
        .get(format!("{base}/events"))
        .bearer_auth(token(user));
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    let res = req.send().await.expect("events request");
    assert_eq!(res.status().as_u16(), 200);
    SseClient::new(res)
}

/// Publishes over HTTP to any relay and returns the id.
pub async fn publish_at(base: &str, body: Value) -> String {
    let res = reqwest::Client::new()
        .post(format!("{base}/publish"))
        .bearer_auth(PUBLISH_KEY)
        .json(&body)
        .send()
        .await
        .expect("publish");
    assert_eq!(res.status().as_u16(), 202);
    let v: Value = res.json().await.expect("json");
    v["id"].as_str().expect("id").to_owned()
}

/// Scrapes `/metrics` from any relay.
pub async fn scrape(base: &str) -> String {
    let res = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics");
    assert_eq!(res.status().as_u16(), 200);
    res.text().await.expect("metrics text")
}

/// The value of one sample, `name{labels}` exactly as exposed (labels sorted by name), or
/// `name` alone; 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// Scrapes until `series` reaches at least `value` (the thing counted happens after the
/// response that caused it); panics after [`WAIT`].
pub async fn wait_sample(base: &str, series: &str, value: f64) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = scrape(base).await;
        if sample(&text, series) >= value {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never reached {value}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
