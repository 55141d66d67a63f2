//! The body of a `GET /poll` that has to wait: it holds only the subscription, the cursor and
//! the timer (not the request), and writes the JSON answer when events come or time is up.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use actix_web::web::Bytes;
use futures_util::Stream;

use super::{PollAnswer, Reports};
use crate::{
    event::{EventId, StoredEvent},
    hub::{Push, Subscription},
    metrics::ConnectionAccount,
};

/// The body of a poll that waits: nothing until an event for the user arrives (with whatever
/// else is already queued, up to the batch), the timeout passes or the relay shuts down; then
/// the JSON answer in one chunk, and the end.
pub struct Waiting {
    /// `None` once answered: the subscription and the timer go as soon as the answer is made.
    wait: Option<Pin<Box<Wait>>>,
}

impl Waiting {
    /// A poll of `sub` after `cursor` that waits up to `timeout`, answering at most `batch`
    /// events; `conn` counts it as waiting, `reports` hears its answer.
    pub(super) fn new(
        sub: Subscription,
        cursor: EventId,
        batch: usize,
        timeout: Duration,
        conn: ConnectionAccount,
        reports: Reports,
    ) -> Self {
        Self {
            wait: Some(Box::pin(Wait {
                sub,
                cursor,
                batch,
                deadline: tokio::time::sleep(timeout),
                conn,
                reports,
            })),
        }
    }
}

pin_project_lite::pin_project! {
    struct Wait {
        sub: Subscription,
        cursor: EventId,
        batch: usize,
        #[pin]
        deadline: tokio::time::Sleep,
        // The waiting-poll gauge and the delivery counts.
        conn: ConnectionAccount,
        reports: Reports,
    }
}

impl Wait {
    /// The events to answer with, once there are any, the time is up or the queue closed.
    fn poll_events(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<Arc<StoredEvent>>> {
        let mut this = self.project();
        let mut events = Vec::new();
        loop {
            match this.sub.rx.poll_recv(cx) {
                Poll::Ready(Some(Push::Event(e))) => events.push(e),
                Poll::Ready(Some(Push::Ping | Push::End(_))) => {}
                // The hub let go of us: shutting down. Answer now so the client moves on.
                Poll::Ready(None) => return Poll::Ready(events),
                Poll::Pending => {
                    return match this.deadline.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(events),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
            // Take whatever else is already queued, up to the batch size.
            while events.len() < *this.batch {
                match this.sub.rx.try_recv() {
                    Ok(Push::Event(e)) => events.push(e),
                    Ok(Push::Ping | Push::End(_)) => {}
                    Err(_) => break,
                }
            }
            // A lagging tail can hand over events the client already has.
            events.retain(|e| e.id > *this.cursor);
            if !events.is_empty() {
                return Poll::Ready(events);
            }
        }
    }
}

impl Stream for Waiting {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(wait) = self.wait.as_mut() else {
            return Poll::Ready(None);
        };
        let Poll::Ready(events) = wait.as_mut().poll_events(cx) else {
            return Poll::Pending;
        };
        let Some(mut wait) = self.wait.take() else {
            return Poll::Ready(None);
        };
        let wait = wait.as_mut().project();
        for e in &events {
            wait.conn.sent_live(e.id);
        }
        let body = PollAnswer {
            cursor: events.last().map_or(*wait.cursor, |e| e.id),
            events,
            reset: false,
        };
        wait.reports.answered(wait.sub.user(), &body);
        match serde_json::to_vec(&body) {
            Ok(json) => Poll::Ready(Some(Ok(Bytes::from(json)))),
            Err(e) => {
                // The head is out: all that is left is to cut the body, which the client sees.
                tracing::error!(error = %e, "could not encode a poll answer; cutting it");
                Poll::Ready(None)
            }
        }
    }
}
