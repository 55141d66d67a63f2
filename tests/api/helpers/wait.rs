//! The one way a test waits for something that happens on its own time: ask again every 20 ms
//! until it is so, and fail after [`WAIT`] saying what never happened.

use std::{fmt::Display, future::Future, time::Instant};

use super::WAIT;

/// Runs `probe` until it answers `Some`, and returns that; panics naming `what` after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: impl Display, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
