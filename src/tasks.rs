//! The one owner of the relay's background tasks (the loops beside the HTTP server: tails,
//! tickers, the bridge, the email path), as mini-redis's `Shutdown`: each is spawned here by
//! name into one `JoinSet`, watches one cancellation token, and is joined when the relay stops.
//!
//! Two kinds of task:
//! - [`Tasks::spawn`]: a loop that holds no work of its own (a tail, a ticker, a cleanup). On
//!   shutdown it is dropped at whichever await it is in; nothing it was doing is lost, because
//!   the state it keeps is rebuilt by whoever starts next.
//! - [`Tasks::spawn_graceful`]: a loop that holds work (the mover, the mail worker, a writer).
//!   It gets the token and decides itself where to stop, so that its current item is finished
//!   or left where the next worker picks it up.
//!
//! [`Tasks::shutdown`] cancels the token and waits a bounded time for every task; the ones
//! still running then are named at WARN and aborted, as if the process had died.

use std::{
    borrow::Cow,
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

/// How long [`Tasks::shutdown`] waits for the tasks to end before aborting the rest: longer than
/// one round of any loop that finishes its item (an SMTP exchange, a database write, a read).
pub const JOIN_WAIT: Duration = Duration::from_secs(10);

/// A task's name, as logged.
type Name = Cow<'static, str>;

/// A cheap handle to the owner of every background task; clones share one set and one token.
#[derive(Clone, Default)]
pub struct Tasks(Arc<Inner>);

#[derive(Default)]
struct Inner {
    /// The tasks not joined yet, with their names by task id.
    owned: Mutex<Owned>,
    /// Cancelled once, when the relay stops.
    token: CancellationToken,
    /// Tasks whose future has not finished (or been dropped) yet.
    running: Arc<AtomicUsize>,
}

#[derive(Default)]
struct Owned {
    set: JoinSet<()>,
    names: HashMap<Id, Name>,
}

/// How a [`Tasks::shutdown`] went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Joined {
    /// Tasks that returned (or panicked) within the wait.
    pub ended: usize,
    /// Tasks still running at the end of the wait, aborted.
    pub aborted: Vec<String>,
}

/// Counts a task as running until its future is dropped, however it ends (returns, panics, is
/// aborted).
struct Running(Arc<AtomicUsize>);

impl Running {
    fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Tasks {
    /// An owner with no task yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task`, a loop that holds no work, until it returns or the relay stops (then it is
    /// dropped at its current await).
    pub fn spawn<F>(&self, name: impl Into<Name>, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let token = self.0.token.clone();
        self.spawn_graceful(name, move |_| async move {
            tokio::select! {
                () = token.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// Runs the loop `make` builds from the shutdown token; the loop must return soon after
    /// the token is cancelled, leaving its current item finished or pending for a later worker.
    pub fn spawn_graceful<F, M>(&self, name: impl Into<Name>, make: M)
    where
        M: FnOnce(CancellationToken) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        let task = make(self.0.token.clone());
        let running = Running::start(&self.0.running);
        let mut owned = self.0.owned.lock().unwrap_or_else(|p| p.into_inner());
        let handle = owned.set.spawn(async move {
            let _running = running;
            task.await;
        });
        tracing::debug!(task = %name, "background task started");
        owned.names.insert(handle.id(), name);
    }

    /// The token every task watches; cancelled by [`Self::shutdown`].
    pub fn token(&self) -> CancellationToken {
        self.0.token.clone()
    }

    /// How many tasks are still running (for tests and diagnostics).
    pub fn running(&self) -> usize {
        self.0.running.load(Ordering::Acquire)
    }

    /// Cancels the token and joins every task, waiting at most `wait` in all; the ones still
    /// running after it are logged at WARN and aborted. Each end is logged at DEBUG, the count
    /// at INFO. A second call finds nothing left to join.
    pub async fn shutdown(&self, wait: Duration) -> Joined {
        self.0.token.cancel();
        let deadline = tokio::time::Instant::now() + wait;
        let mut joined = Joined::default();
        loop {
            // Taken out of the lock to be awaited; a task spawned meanwhile is joined next round.
            let Owned { mut set, mut names } =
                std::mem::take(&mut *self.0.owned.lock().unwrap_or_else(|p| p.into_inner()));
            if set.is_empty() {
                break;
            }
            while !set.is_empty() {
                match tokio::time::timeout_at(deadline, set.join_next_with_id()).await {
                    Ok(Some(result)) => {
                        joined.ended += 1;
                        log_end(&mut names, result);
                    }
                    Ok(None) => break,
                    Err(_) => {
                        let mut late: Vec<String> = names.into_values().map(String::from).collect();
                        late.sort();
                        for name in &late {
                            tracing::warn!(task = %name, "background task did not end in time: aborted");
                        }
                        set.shutdown().await;
                        joined.aborted.extend(late);
                        break;
                    }
                }
            }
        }
        tracing::info!(
            ended = joined.ended,
            aborted = joined.aborted.len(),
            "background tasks stopped"
        );
        joined
    }
}

fn log_end(names: &mut HashMap<Id, Name>, result: Result<(Id, ()), tokio::task::JoinError>) {
    match result {
        Ok((id, ())) => {
            let name = names.remove(&id).unwrap_or_default();
            tracing::debug!(task = %name, "background task ended");
        }
        Err(e) => {
            let name = names.remove(&e.id()).unwrap_or_default();
            tracing::error!(task = %name, error = %e, "background task panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_task_ends_on_shutdown_and_a_deaf_one_is_aborted() {
        let tasks = Tasks::new();
        tasks.spawn("ticker", std::future::pending());
        tasks.spawn_graceful("worker", |token| async move { token.cancelled().await });
        tasks.spawn_graceful("deaf", |_| std::future::pending());
        assert_eq!(tasks.running(), 3);
        let joined = tasks.shutdown(Duration::from_millis(200)).await;
        assert_eq!(joined.ended, 2);
        assert_eq!(joined.aborted, ["deaf"]);
        assert_eq!(tasks.running(), 0);
        assert_eq!(tasks.shutdown(Duration::ZERO).await, Joined::default());
    }

    #[tokio::test]
    async fn a_task_that_returned_on_its_own_is_joined_too() {
        let tasks = Tasks::new();
        tasks.spawn("once", async {});
        tokio::task::yield_now().await;
        let joined = tasks.shutdown(Duration::from_secs(1)).await;
        assert_eq!(joined.ended, 1);
        assert!(joined.aborted.is_empty());
    }
}
