//! Test harness: a real redis-server per test on a free port, the relay on port 0, and clients.
//!
//! - [`redis_server`]: a redis-server of the test's own, to kill and restart.
//! - [`app`]: the relay in the test's process ([`TestApp`]) and its settings and tokens.
//! - [`process`]: the relay binary as a child process ([`RelayProcess`]), to signal or kill.
//! - [`sse`]: an SSE client that parses frames.
//! - [`remote`]: clients for any relay by its base URL, and its metrics.
//! - [`wait`]: the one deadline loop, [`eventually`].

use std::time::Duration;

pub mod app;
pub mod process;
pub mod redis_server;
pub mod remote;
pub mod sse;
pub mod wait;

pub use app::{TestApp, now_secs, test_settings, token, token_with};
pub use process::RelayProcess;
pub use redis_server::{RedisServer, free_port};
pub use remote::{TestAppProbe, publish_at, sample, scrape, sse_at, wait_sample};
pub use sse::{Frame, SseClient};
pub use wait::eventually;

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
