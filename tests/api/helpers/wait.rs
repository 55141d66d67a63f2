//! The one way a test waits for something that happens on its own time: ask again every 20 ms
//! until it is so, and fail after [`WAIT`] (or a longer limit) saying what never happened.
//! [`within`] is the same loop for a caller that handles the timeout itself.

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
    let probe = || {
        let answer = probe();
        async move { answer.await.ok_or("") }
    };
    wait_until(limit, what, probe).await
}

/// [`eventually`] for a probe that answers `Err(what it saw)` until it is so: the last thing
/// seen is in the panic message.
pub async fn eventually_ok<T, E, F, Fut>(what: impl Display, probe: F) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    eventually_ok_within(WAIT, what, probe).await
}

/// [`eventually_ok`] with a longer limit than [`WAIT`].
pub async fn eventually_ok_within<T, E, F, Fut>(
    limit: Duration,
    what: impl Display,
    mut probe: F,
) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let probe = || {
        let answer = probe();
        async move { answer.await.map_err(|seen| format!(": {seen}")) }
    };
    wait_until(limit, what, probe).await
}

async fn wait_until<T, E, F, Fut>(limit: Duration, what: impl Display, probe: F) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    match within(limit, probe).await {
        Ok(value) => value,
        Err(seen) => panic!("{what}{seen}"),
    }
}

/// The deadline loop itself, for a caller that decides what a timeout means: runs `probe` until
/// it answers `Ok`, at most `limit`; then the last `Err` it answered.
pub async fn within<T, E, F, Fut>(limit: Duration, mut probe: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(seen) if Instant::now() >= deadline => return Err(seen),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
