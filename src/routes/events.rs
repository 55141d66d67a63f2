//! `GET /events`: the SSE stream of one user's events, resumable from `Last-Event-ID`.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use serde::Deserialize;

use super::{AppState, cursor, query};
use crate::{
    broker::History,
    error::ApiError,
    event::{EventId, UserId},
    hub::{Push, Subscription, Transport},
    metrics::Connection,
    sse,
};

/// Events read from history per round trip while replaying.
const REPLAY_BATCH: usize = 500;

#[derive(Debug, Deserialize)]
struct EventsQuery {
    token: Option<String>,
    last_event_id: Option<String>,
    /// `event` to get keepalives as `event: keepalive` instead of comments.
    keepalive: Option<String>,
}

/// Opens the stream: replay after the client's cursor from history, then live events.
pub async fn events(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q: EventsQuery = query(&req)?;
    let user = state.auth.subscriber(&req, q.token.as_deref())?;
    let header_cursor = req
        .headers()
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::Query("Last-Event-ID is not text".into()))
        })
        .transpose()?;
    let cursor = cursor(header_cursor.or(q.last_event_id.as_deref()))?;
    let ping = match q.keepalive.as_deref() {
        None | Some("comment") => sse::KEEPALIVE,
        Some("event") => sse::KEEPALIVE_EVENT,
        Some(_) => return Err(ApiError::Query("keepalive must be comment or event".into())),
    };
    if !state.hub.is_live() {
        return Err(ApiError::NotReady);
    }
    // Subscribe before reading history, so nothing appended in between is missed.
    let sub = state.hub.subscribe(user.clone(), Transport::Sse)?;
    let (prelude, last_sent, replayed) = replay(&state, &user, cursor).await?;
    tracing::info!(user = %user, resume = cursor.is_some(), replayed, "sse stream opened");
    let mut conn = Connection::open(&state.metrics, Transport::Sse, &user);
    conn.sent_from_history(replayed);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        // Tells actix's Compress middleware, and proxies, to leave the stream alone.
        .insert_header(header::ContentEncoding::Identity)
        .streaming(SseBody {
            prelude: Some(prelude),
            sub,
            last_sent,
            conn,
            ping,
        }))
}

/// Builds what the stream starts with: `retry:`, then either the current position (no cursor),
/// the events after the cursor, or a reset to the current position; and how many events it holds.
async fn replay(
    state: &AppState,
    user: &UserId,
    cursor: Option<EventId>,
) -> Result<(Bytes, EventId, usize), ApiError> {
    let retry = state.settings.retry_ms;
    let Some(mut last) = cursor else {
        let head = state.broker.head().await?;
        return Ok((sse::opening_frame(retry, Some(&head.to_string())), head, 0));
    };
    let mut buf = BytesMut::from(&sse::opening_frame(retry, None)[..]);
    let mut count = 0;
    loop {
        match state.broker.read_after(user, last, REPLAY_BATCH).await? {
            History::Reset { head } => {
                buf.extend_from_slice(&reset_frame(head));
                return Ok((buf.freeze(), head, count));
            }
            History::Events(events) => {
                let done = events.len() < REPLAY_BATCH;
                count += events.len();
                for e in &events {
                    buf.extend_from_slice(&e.frame);
                    last = e.id;
                }
                if done {
                    return Ok((buf.freeze(), last, count));
                }
            }
        }
    }
}

/// The frame that tells a client its cursor is too old and where it stands now.
pub fn reset_frame(head: EventId) -> Bytes {
    let data = serde_json::json!({
        "reason": "cursor_too_old",
        "message": "events after your cursor are no longer in history; reload state, then continue from this id",
        "cursor": head.to_string(),
    });
    sse::message_frame(&head.to_string(), Some("reset"), &data.to_string())
}

/// The response body: the prelude, then the subscriber's queue, skipping ids already sent.
struct SseBody {
    prelude: Option<Bytes>,
    sub: Subscription,
    last_sent: EventId,
    /// Gauge, delivery counts and latency, and the closing log line when the stream is dropped.
    conn: Connection,
    /// What a keepalive looks like on this stream (a shared static, not a copy).
    ping: Bytes,
}

impl Stream for SseBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(prelude) = self.prelude.take() {
            return Poll::Ready(Some(Ok(prelude)));
        }
        loop {
            match self.sub.rx.poll_recv(cx) {
                Poll::Ready(Some(Push::Event(e))) => {
                    // The queue may repeat what the replay already sent; ids only grow.
                    if e.id <= self.last_sent {
                        continue;
                    }
                    self.last_sent = e.id;
                    self.conn.sent_live(e.id);
                    return Poll::Ready(Some(Ok(e.frame.clone())));
                }
                Poll::Ready(Some(Push::Ping)) => return Poll::Ready(Some(Ok(self.ping.clone()))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
