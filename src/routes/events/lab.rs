//! `GET /events` written through actix-web-lab's `Sse` (cargo feature `lab-sse`, off by
//! default): the comparison build of docs/BENCHMARKS.md ("actix-web-lab `Sse` against the
//! relay's body"), kept so the figures can be reproduced. A `lab-sse` binary uses `Sse` only
//! when started with `NOTIFY_LAB_SSE=1`, and the relay's body otherwise, so both sides of the
//! comparison run the same binary with the same dependencies (actix-web-lab turns on features
//! of shared crates, e.g. `tracing/log`, that a default build does not have).
//!
//! The hub, cursors, replay, resets and deadlines are the relay's. What differs is the live part
//! of the body, the part the argument is about: every event is handed to `Sse` as an
//! `sse::Data` built for this connection and encoded by `Sse` for this connection, and keepalive
//! comments come from `Sse`'s own timer (one `tokio::time::Interval` per connection) instead of
//! the hub's shared ticker, whose pings this body skips. The opening frame and the replay
//! batches stay the relay's bytes, written before `Sse` takes over: `Sse` cannot write an `id:`
//! without a `data:` line, which the opening position needs (see docs/BENCHMARKS.md).

use std::{
    convert::Infallible,
    pin::Pin,
    sync::OnceLock,
    task::{Context, Poll},
    time::Duration,
};

use actix_web::{
    HttpResponse,
    body::{BodySize, MessageBody},
    http::header,
};
use actix_web_lab::sse::{Data, Event, Sse};
use bytes::Bytes;
use futures_util::Stream;

use super::body::{Live, SseBody};
use crate::{hub::EndReason, sse};

type BoxError = Box<dyn std::error::Error>;

/// Whether this process writes `/events` through `Sse` (`NOTIFY_LAB_SSE=1`, read once).
pub(super) fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("NOTIFY_LAB_SSE").is_ok_and(|v| v == "1"))
}

/// The `/events` answer with `body` written through `Sse` once its replay is done.
pub(super) fn respond(body: SseBody, keepalive: Duration) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .insert_header(header::ContentEncoding::Identity)
        .body(LabBody {
            replay: Some(body),
            keepalive,
            live: None,
        })
}

/// The relay's replay bytes, then `Sse` over the live events.
struct LabBody {
    replay: Option<SseBody>,
    keepalive: Duration,
    live: Option<Sse<LiveEvents>>,
}

impl MessageBody for LabBody {
    type Error = BoxError;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if let Some(body) = this.replay.as_mut() {
            match body.poll_replay(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(chunk)) => return Poll::Ready(chunk.map(Ok)),
                Poll::Ready(None) => {}
            }
            if let Some(body) = this.replay.take() {
                // `?keepalive=event` wants a named event, which `Sse`'s timer cannot send: those
                // streams keep the hub's pings, rendered by `Sse` as events.
                let comments = body.ping == sse::KEEPALIVE;
                let sse = Sse::from_stream(LiveEvents { body, comments });
                this.live = Some(if comments {
                    sse.with_keep_alive(this.keepalive)
                } else {
                    sse
                });
            }
        }
        match this.live.as_mut() {
            Some(live) => Pin::new(live).poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

/// The subscriber's queue as `Sse` events, each built for this connection.
struct LiveEvents {
    body: SseBody,
    /// Keepalives are `Sse`'s comments (the hub's pings are skipped).
    comments: bool,
}

impl Stream for LiveEvents {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let next = match self.body.poll_live(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(next)) => next,
            };
            let event = match next {
                Live::Event(e) => {
                    let data = Data::new(e.data.get().to_owned()).id(e.id.to_string());
                    match &e.event {
                        Some(name) => data.event(name.clone()),
                        None => data,
                    }
                }
                Live::Ping if self.comments => continue,
                Live::Ping => Data::new("").event("keepalive"),
                Live::End(reason) => end_event(reason),
            };
            return Poll::Ready(Some(Ok(event.into())));
        }
    }
}

/// The end frame as `Sse` data: the relay's own frame's `event:` and `data:` fields.
fn end_event(reason: EndReason) -> Data {
    let frame = reason.frame();
    let text = String::from_utf8_lossy(&frame);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_default()
            .to_owned()
    };
    Data::new(field("data: ")).event(field("event: "))
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use futures_util::stream;

    use super::*;

    #[actix_web::test]
    async fn sse_renders_each_end_frame_as_the_relay_writes_it() {
        for reason in [
            EndReason::TokenExpired,
            EndReason::MaxLifetime,
            EndReason::Shutdown,
        ] {
            let events = stream::iter([Event::from(end_event(reason))]);
            let body = to_bytes(Sse::from_infallible_stream(events))
                .await
                .map_err(|e| e.to_string())
                .expect("an in-memory body");
            assert_eq!(body, reason.frame(), "{reason:?}");
        }
    }
}
