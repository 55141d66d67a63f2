//! Each subscriber's queue: bounded, one producer (the hub), one consumer (the stream or poll).
//!
//! It replaces a tokio `mpsc` channel for memory: a tokio channel allocates its channel state
//! (two cache-padded halves) and a first block of 32 slots when created, about 1.5 KB of
//! resident memory per connection before any event flows, which at 19,000 idle streams is the
//! largest piece of the relay's own share (`bench/actix-floor.sh`). This queue is one small
//! allocation while empty (a `VecDeque` allocates on the first event and is let go once drained
//! after a burst); a mutex held for a push or a pop is uncontended in practice (one producer,
//! one consumer).

use std::{
    collections::VecDeque,
    future::poll_fn,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
};

pub use tokio::sync::mpsc::error::{TryRecvError, TrySendError};

use super::Push;

/// A drained queue whose buffer grew past this many slots gives the buffer back.
const KEEP_SLOTS: usize = 8;

struct State {
    items: VecDeque<Push>,
    waker: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

struct Shared(Mutex<State>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain data: a panic elsewhere must not stop delivery.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The hub's end: pushes without waiting.
pub struct Sender {
    shared: Arc<Shared>,
    capacity: usize,
}

/// The subscriber's end.
pub struct Receiver {
    shared: Arc<Shared>,
}

/// A queue holding at most `capacity` items.
pub fn channel(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared(Mutex::new(State {
        items: VecDeque::new(),
        waker: None,
        sender_gone: false,
        receiver_gone: false,
    })));
    (
        Sender {
            shared: shared.clone(),
            capacity: capacity.max(1),
        },
        Receiver { shared },
    )
}

impl Sender {
    /// Queues `item`, or gives it back when the queue is full or its receiver is gone.
    pub fn try_send(&self, item: Push) -> Result<(), TrySendError<Push>> {
        let mut state = self.shared.lock();
        if state.receiver_gone {
            return Err(TrySendError::Closed(item));
        }
        if state.items.len() >= self.capacity {
            return Err(TrySendError::Full(item));
        }
        state.items.push_back(item);
        let waker = state.waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.sender_gone = true;
        let waker = state.waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Receiver {
    /// The next item; `None` once the sender is gone and everything queued was taken.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Push>> {
        let mut state = self.shared.lock();
        if let Some(item) = state.items.pop_front() {
            if state.items.is_empty() && state.items.capacity() > KEEP_SLOTS {
                state.items = VecDeque::new();
            }
            return Poll::Ready(Some(item));
        }
        if state.sender_gone {
            return Poll::Ready(None);
        }
        match &mut state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Waits for the next item; `None` once the sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Push> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next item if one is queued.
    pub fn try_recv(&mut self) -> Result<Push, TryRecvError> {
        let mut state = self.shared.lock();
        match state.items.pop_front() {
            Some(item) => Ok(item),
            None if state.sender_gone => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        state.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_come_in_order_up_to_the_capacity_then_the_end() {
        let (tx, mut rx) = channel(2);
        assert!(tx.try_send(Push::Ping).is_ok());
        assert!(tx.try_send(Push::Ping).is_ok());
        assert!(matches!(
            tx.try_send(Push::Ping),
            Err(TrySendError::Full(_))
        ));
        assert!(matches!(rx.recv().await, Some(Push::Ping)));
        assert!(matches!(rx.try_recv(), Ok(Push::Ping)));
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        let waiting = tokio::spawn(async move { (rx.recv().await.is_some(), rx.recv().await) });
        tokio::task::yield_now().await;
        assert!(
            tx.try_send(Push::Ping).is_ok(),
            "wakes the waiting receiver"
        );
        drop(tx);
        let (got, end) = waiting.await.unwrap();
        assert!(got);
        assert!(end.is_none(), "ends once the sender is gone");
    }

    #[test]
    fn a_gone_receiver_closes_the_queue() {
        let (tx, rx) = channel(4);
        drop(rx);
        assert!(matches!(
            tx.try_send(Push::Ping),
            Err(TrySendError::Closed(_))
        ));
    }
}
