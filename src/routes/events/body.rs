//! The body of a `GET /events` answer: the prelude the handler built, the rest of the replay
//! batch by batch, then the subscriber's queue (events, the hub's keepalives, the last frame).

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;

use crate::{
    address_slots::Slot,
    broker::{Broker, BrokerError, History},
    email::delivery::Deliveries,
    event::{EventId, StoredEvent, UserId},
    hub::{EndReason, Push, Subscription},
    metrics::ConnectionAccount,
    sse,
    trace::Tracer,
};

/// Events read from history per round trip while replaying.
pub(super) const REPLAY_BATCH: usize = 500;

/// Writes one read of history into `buf`: its events, or the reset frame. Returns the last id
/// written (`last` if none), the number of events, and whether a full batch means more may
/// follow. `fallback` is called for each email-fallback event written; `trace` hears what the
/// user was sent.
pub(super) fn put_history(
    buf: &mut BytesMut,
    history: History,
    mut last: EventId,
    (trace, user): (&Tracer, &UserId),
    mut fallback: impl FnMut(&StoredEvent),
) -> (EventId, usize, bool) {
    match history {
        History::Reset { head } => {
            trace.reset(user, "sse", last, head);
            buf.extend_from_slice(&sse::reset_frame(&head.to_string()));
            (head, 0, false)
        }
        History::Events(events) => {
            trace.replayed(user, &events);
            for e in &events {
                buf.extend_from_slice(&e.frame);
                last = e.id;
                if e.fallback {
                    fallback(e);
                }
            }
            (last, events.len(), events.len() >= REPLAY_BATCH)
        }
    }
}

/// A read of the next replay batch, owned by the body that awaits it.
pub(super) type BatchRead = Pin<Box<dyn Future<Output = Result<History, BrokerError>> + Send>>;

pub(super) fn read_batch(broker: Arc<dyn Broker>, user: UserId, after: EventId) -> BatchRead {
    Box::pin(async move { broker.read_after(&user, after, REPLAY_BATCH).await })
}

/// The response body: the prelude, the rest of the replay batch by batch, then the subscriber's
/// queue, skipping ids already sent.
pub(super) struct SseBody {
    pub(super) prelude: Option<Bytes>,
    /// The next replay batch being read; live events wait until the replay is done.
    pub(super) more: Option<BatchRead>,
    /// Where the replay batches are read.
    pub(super) broker: Arc<dyn Broker>,
    pub(super) sub: Subscription,
    pub(super) last_sent: EventId,
    /// Gauge, delivery counts and latency, and the closing log line when the stream is dropped.
    pub(super) conn: ConnectionAccount,
    /// What a keepalive looks like on this stream (a shared static, not a copy).
    pub(super) ping: Bytes,
    /// Where deliveries of email-fallback events are reported (nothing else is).
    pub(super) deliveries: Arc<Deliveries>,
    /// This stream's place in its client address's count, given back when the body is dropped.
    pub(super) _slot: Option<Slot>,
}

/// What the live part of a stream yields next.
pub(super) enum Live {
    /// An event the client has not had yet.
    Event(Arc<StoredEvent>),
    /// Time for a keepalive (the hub's shared ticker).
    Ping,
    /// The stream's last frame.
    End(EndReason),
}

impl SseBody {
    /// Polls the replay: `Some(Some(bytes))` is the next chunk, `Some(None)` ends the stream (the
    /// broker failed mid-replay), `None` means the replay is done and live events follow.
    pub(super) fn poll_replay(&mut self, cx: &mut Context<'_>) -> Poll<Option<Option<Bytes>>> {
        if let Some(prelude) = self.prelude.take() {
            return Poll::Ready(Some(Some(prelude)));
        }
        while let Some(read) = self.more.as_mut() {
            let history = match read.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(history)) => history,
                Poll::Ready(Err(e)) => {
                    // The client resumes from the last id it got, on this or another instance.
                    let _span = self.conn.span().entered();
                    tracing::warn!(error = %e, "replay interrupted by the broker; ending the stream");
                    return Poll::Ready(Some(None));
                }
            };
            let mut buf = BytesMut::new();
            let (user, deliveries) = (self.sub.user().clone(), self.deliveries.clone());
            let traced = (self.conn.trace(), &user);
            let (last, count, more) = put_history(&mut buf, history, self.last_sent, traced, |e| {
                deliveries.report(e.id, &user);
            });
            self.last_sent = last;
            self.conn.sent_from_history(count);
            self.more = more.then(|| read_batch(self.broker.clone(), user, last));
            if !buf.is_empty() {
                return Poll::Ready(Some(Some(buf.freeze())));
            }
        }
        Poll::Ready(None)
    }

    /// Polls the subscriber's queue, skipping ids already sent; `None` when the queue closed.
    pub(super) fn poll_live(&mut self, cx: &mut Context<'_>) -> Poll<Option<Live>> {
        loop {
            match self.sub.rx.poll_recv(cx) {
                Poll::Ready(Some(Push::Event(e))) => {
                    // The queue may repeat what the replay already sent; ids only grow.
                    if e.id <= self.last_sent {
                        continue;
                    }
                    self.last_sent = e.id;
                    if e.fallback {
                        self.deliveries.report(e.id, self.sub.user());
                    }
                    self.conn.sent_live(e.id);
                    return Poll::Ready(Some(Live::Event(e)));
                }
                Poll::Ready(Some(Push::Ping)) => return Poll::Ready(Some(Live::Ping)),
                // The hub closed the queue behind this frame, so the stream ends after it.
                Poll::Ready(Some(Push::End(reason))) => {
                    return Poll::Ready(Some(Live::End(reason)));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Stream for SseBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.poll_replay(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(chunk)) => return Poll::Ready(chunk.map(Ok)),
            Poll::Ready(None) => {}
        }
        this.poll_live(cx).map(|next| {
            next.map(|live| {
                Ok(match live {
                    Live::Event(e) => e.frame.clone(),
                    Live::Ping => this.ping.clone(),
                    Live::End(reason) => reason.frame(),
                })
            })
        })
    }
}
