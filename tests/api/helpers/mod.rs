//! Test harness: a real redis-server per test on a free port, the relay on port 0, and clients.
//!
//! - [`redis_server`]: a redis-server of the test's own, to kill and restart.
//! - [`app`]: the relay in the test's process ([`TestApp`]) and its settings and tokens.
//! - [`process`]: the relay binary as a child process ([`RelayProcess`]), to signal or kill;
//!   started from the same [`Settings`](notify_relay::config::Settings) and tweak closure as a
//!   [`TestApp`], which [`flags`] turns into its command line; [`start_failure`] runs it
//!   expecting it to stop at start-up.
//! - [`client`]: [`Relay`], the one client for any relay (both of the above deref to it, and
//!   [`Relay::at`] makes one from a base URL), and metrics samples.
//! - [`sse`]: an SSE client that parses frames.
//! - [`wait`]: the one deadline loop, [`eventually`] (with a longer limit: `_within`; showing
//!   the last thing seen: `eventually_ok`).

use std::time::Duration;

pub mod app;
pub mod client;
pub mod flags;
pub mod process;
pub mod redis_server;
pub mod sse;
pub mod wait;

pub use app::{TestApp, now_secs, test_settings, token, token_with};
pub use client::{Relay, sample};
pub use flags::flags;
pub use process::{MailerProcess, RelayProcess, kill_child, logged_run, signal, start_failure};
pub use redis_server::{RedisServer, free_port, subscribed, wait_bridge_subscribed};
pub use sse::{Frame, SseClient};
pub use wait::{eventually, eventually_ok, eventually_ok_within, eventually_within, within};

/// The secret every test relay verifies subscriber tokens with.
pub const JWT_SECRET: &str = "test-jwt-secret";
/// The publish key of every test relay.
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
