//! The one way a test waits for something that happens on its own time: ask again every 20 ms
//! until it is so, and fail after [`WAIT`] (or a longer limit) saying what never happened.

use std::{
    fmt::Display,
    future::Future,
    time::{Duration, Instant},
};

use super::WAIT;

/// Runs `probe` until it answers `Some`, and returns that; panics naming `what` after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: impl Display, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(WAIT, what, probe).await
}

/// [`eventually`] for the few things documented to take longer than [`WAIT`].
pub async fn eventually_within<T, F, Fut>(limit: Duration, what: impl Display, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
