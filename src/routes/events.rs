//! `GET /events`: the SSE stream of one user's events, resumable from `Last-Event-ID`.
//!
//! A resumed stream replays history in batches: the first is read before the answer (so a
//! broker failure is still a 503, and a stale cursor a reset), the others by the body as it is
//! written, one batch at a time, before any live event. The relay never holds more than one
//! batch of a user's backlog for a stream.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant, SystemTime},
};

use actix_web::{HttpMessage, HttpRequest, HttpResponse, http::header, web};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use serde::Deserialize;

use super::{AppState, cursor, query};
use crate::{
    address_slots::Slot,
    broker::{Broker, BrokerError, History},
    email::delivery::Deliveries,
    error::{ApiError, ErrorBody},
    event::{EventId, StoredEvent, UserId},
    hub::{EndReason, Push, Subscription},
    metrics::ConnectionAccount,
    sse,
    telemetry::RequestId,
    trace::Tracer,
    transport::Transport,
};

#[cfg(feature = "lab-sse")]
mod lab;

/// Events read from history per round trip while replaying.
const REPLAY_BATCH: usize = 500;

/// Deadlines further out than this are filed at this distance: a stream is ended within a year
/// whatever its token says, and instant arithmetic cannot overflow.
const LONGEST_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Debug, Deserialize)]
struct EventsQuery {
    token: Option<String>,
    last_event_id: Option<String>,
    /// `event` to get keepalives as `event: keepalive` instead of comments.
    keepalive: Option<String>,
}

/// Opens the SSE stream of the token's user: replay after the client's cursor from history,
/// then live events.
#[utoipa::path(
    get, path = "/events", tag = "subscribe",
    params(
        ("keepalive" = Option<String>, Query, pattern = r"^(comment|event)$", description = "`event`: keepalives as `event: keepalive` messages instead of comments"),
        ("last_event_id" = Option<String>, Query, pattern = r"^([0-9]{1,19}-[0-9]{1,19})?$", description = "Resume after this id (EventSource cannot set headers on first connect)"),
        ("Last-Event-ID" = Option<String>, Header, pattern = r"^([0-9]{1,19}-[0-9]{1,19})?$", description = "Resume after this id; wins over the query parameter"),
    ),
    security(("subscriber_bearer" = []), ("subscriber_cookie" = []), ("subscriber_query" = [])),
    responses(
        (status = 200, description = "The event stream: `retry:`, then `id:`/`event:`/`data:` blocks and `: keepalive` comments", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed cursor or query, or a header token and `?token=` that disagree (`conflicting_tokens`)", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired token", body = ErrorBody),
        (status = 429, description = "Too many connections for this user (`too_many_connections_for_user`), or new connections from this address over --connects-per-sec (`rate_limited`, with `Retry-After`), or this address already holds --max-connections-per-address open streams (`too_many_connections_for_address`, with `Retry-After`)", body = ErrorBody),
        (status = 503, description = "Starting, full, stopping, or the broker is unreachable", body = ErrorBody),
    )
)]
pub async fn events(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.limits.connect(&req)?;
    let q: EventsQuery = query(&req)?;
    let session = state.auth.session(&req, q.token.as_deref())?;
    let user = session.user;
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
    // Held by the body for as long as the stream is open.
    let slot = state.limits.open_stream(&req)?;
    // Subscribe before reading history, so nothing appended in between is missed.
    let deadline = stream_deadline(session.expires_at, state.sse.max_stream);
    let sub = state.hub.subscribe_until(user.clone(), Some(deadline))?;
    let (prelude, last_sent, replayed, more) = replay(&state, &user, cursor).await?;
    tracing::info!(user = %user, resume = cursor.is_some(), replayed, more, "sse stream opened");
    let mut conn = ConnectionAccount::open(&state.metrics, Transport::Sse, &user);
    conn.logged_as(req.extensions().get::<RequestId>());
    conn.sent_from_history(replayed);
    let body = SseBody {
        prelude: Some(prelude),
        more: more.then(|| read_batch(state.broker.clone(), user.clone(), last_sent)),
        broker: state.broker.clone(),
        sub,
        last_sent,
        conn,
        ping,
        deliveries: state.email.deliveries.clone(),
        trace: state.metrics.trace.clone(),
        _slot: slot,
    };
    #[cfg(feature = "lab-sse")]
    if lab::enabled() {
        return Ok(lab::respond(body, state.sse.keepalive));
    }
    Ok(respond(body))
}

/// The answer that carries the stream.
fn respond(body: SseBody) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        // Tells actix's Compress middleware, and proxies, to leave the stream alone.
        .insert_header(header::ContentEncoding::Identity)
        .streaming(body)
}

/// When the stream must end, and why: when its token expires, or earlier at the maximum
/// lifetime, shortened by up to 10% at random so streams opened together do not all reconnect
/// together.
fn stream_deadline(
    token_expires: SystemTime,
    max_stream: Option<Duration>,
) -> (Instant, EndReason) {
    let now = Instant::now();
    let token_left = token_expires
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .min(LONGEST_DEADLINE);
    let token = (now + token_left, EndReason::TokenExpired);
    let Some(max_stream) = max_stream else {
        return token;
    };
    let jitter = 1.0 - rand::random::<f64>() * 0.1;
    let lifetime = max_stream.mul_f64(jitter);
    if lifetime < token_left {
        (now + lifetime, EndReason::MaxLifetime)
    } else {
        token
    }
}

/// Builds what the stream starts with: `retry:`, then either the current position (no cursor),
/// the first batch of events after the cursor, or a reset to the current position; with the
/// last id it holds, how many events, and whether history may hold more after them.
async fn replay(
    state: &AppState,
    user: &UserId,
    cursor: Option<EventId>,
) -> Result<(Bytes, EventId, usize, bool), ApiError> {
    let retry = state.sse.retry_ms;
    let Some(cursor) = cursor else {
        let head = state.broker.head_for(user).await?;
        return Ok((
            sse::opening_frame(retry, Some(&head.to_string())),
            head,
            0,
            false,
        ));
    };
    let mut buf = BytesMut::from(&sse::opening_frame(retry, None)[..]);
    let history = state.broker.read_after(user, cursor, REPLAY_BATCH).await?;
    let (last, count, more) = put_history(
        &mut buf,
        history,
        cursor,
        (&state.metrics.trace, user),
        |e| {
            state.email.deliveries.report(e.id, user);
        },
    );
    Ok((buf.freeze(), last, count, more))
}

/// Writes one read of history into `buf`: its events, or the reset frame. Returns the last id
/// written (`last` if none), the number of events, and whether a full batch means more may
/// follow. `fallback` is called for each email-fallback event written; `trace` hears what the
/// user was sent.
fn put_history(
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
type BatchRead = Pin<Box<dyn Future<Output = Result<History, BrokerError>> + Send>>;

fn read_batch(broker: Arc<dyn Broker>, user: UserId, after: EventId) -> BatchRead {
    Box::pin(async move { broker.read_after(&user, after, REPLAY_BATCH).await })
}

/// The response body: the prelude, the rest of the replay batch by batch, then the subscriber's
/// queue, skipping ids already sent.
struct SseBody {
    prelude: Option<Bytes>,
    /// The next replay batch being read; live events wait until the replay is done.
    more: Option<BatchRead>,
    /// Where the replay batches are read.
    broker: Arc<dyn Broker>,
    sub: Subscription,
    last_sent: EventId,
    /// Gauge, delivery counts and latency, and the closing log line when the stream is dropped.
    conn: ConnectionAccount,
    /// What a keepalive looks like on this stream (a shared static, not a copy).
    ping: Bytes,
    /// Where deliveries of email-fallback events are reported (nothing else is).
    deliveries: Arc<Deliveries>,
    /// The delivery trace, which hears the replay batches read after the prelude.
    trace: Arc<Tracer>,
    /// This stream's place in its client address's count, given back when the body is dropped.
    _slot: Option<Slot>,
}

/// What the live part of a stream yields next.
enum Live {
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
    fn poll_replay(&mut self, cx: &mut Context<'_>) -> Poll<Option<Option<Bytes>>> {
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
            let traced = (&*self.trace, &user);
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
    fn poll_live(&mut self, cx: &mut Context<'_>) -> Poll<Option<Live>> {
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
