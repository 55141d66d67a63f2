//! `GET /events`: the SSE stream of one user's events, resumable from `Last-Event-ID`.
//!
//! A resumed stream replays history in batches: the first is read before the answer (so a
//! broker failure is still a 503, and a stale cursor a reset), the others by the body as it is
//! written, one batch at a time, before any live event. The relay never holds more than one
//! batch of a user's backlog for a stream.
//!
//! # Layout
//! - this module: the handler, the stream's deadline and the first batch.
//! - [`body`]: the response body (the rest of the replay, then live events and keepalives).

use std::time::{Duration, Instant, SystemTime};

use actix_web::{HttpMessage, HttpRequest, HttpResponse, http::header, web};
use bytes::{Bytes, BytesMut};
use serde::Deserialize;

use super::{SseSettings, cursor, query};
use crate::{
    auth::Authenticator,
    broker::Broker,
    email::delivery::Deliveries,
    error::{ApiError, ErrorBody},
    event::{EventId, UserId},
    hub::{EndReason, Hub},
    limits::RateLimits,
    metrics::{ConnectionAccount, Metrics},
    sse,
    telemetry::RequestId,
    transport::Transport,
};

mod body;
#[cfg(feature = "lab-sse")]
mod lab;

use body::{REPLAY_BATCH, SseBody, put_history, read_batch};

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
#[allow(clippy::too_many_arguments)] // One extractor per shared part the stream uses.
pub async fn events(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    limits: web::Data<RateLimits>,
    hub: web::Data<Hub>,
    broker: web::Data<dyn Broker>,
    metrics: web::Data<Metrics>,
    deliveries: web::Data<Deliveries>,
    settings: web::Data<SseSettings>,
) -> Result<HttpResponse, ApiError> {
    limits.connect(&req)?;
    let q: EventsQuery = query(&req)?;
    let session = auth.session(&req, q.token.as_deref())?;
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
    if !hub.is_live() {
        return Err(ApiError::NotReady);
    }
    // Held by the body for as long as the stream is open.
    let slot = limits.open_stream(&req)?;
    // Subscribe before reading history, so nothing appended in between is missed.
    let deadline = stream_deadline(session.expires_at, settings.max_stream);
    let sub = hub.subscribe_until(user.clone(), Some(deadline))?;
    let first = replay(
        &**broker,
        &metrics,
        &deliveries,
        settings.retry_ms,
        &user,
        cursor,
    )
    .await?;
    let (prelude, last_sent, replayed, more) = first;
    tracing::info!(user = %user, resume = cursor.is_some(), replayed, more, "sse stream opened");
    let mut conn = ConnectionAccount::open(&metrics, Transport::Sse, &user);
    conn.logged_as(req.extensions().get::<RequestId>());
    conn.sent_from_history(replayed);
    let broker = broker.into_inner();
    let body = SseBody {
        prelude: Some(prelude),
        more: more.then(|| read_batch(broker.clone(), user.clone(), last_sent)),
        broker,
        sub,
        last_sent,
        conn,
        ping,
        deliveries: deliveries.into_inner(),
        _slot: slot,
    };
    #[cfg(feature = "lab-sse")]
    if lab::enabled() {
        return Ok(lab::respond(body, settings.keepalive));
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
    broker: &dyn Broker,
    metrics: &Metrics,
    deliveries: &Deliveries,
    retry: u64,
    user: &UserId,
    cursor: Option<EventId>,
) -> Result<(Bytes, EventId, usize, bool), ApiError> {
    let Some(cursor) = cursor else {
        let head = broker.head_for(user).await?;
        return Ok((
            sse::opening_frame(retry, Some(&head.to_string())),
            head,
            0,
            false,
        ));
    };
    let mut buf = BytesMut::from(&sse::opening_frame(retry, None)[..]);
    let history = broker.read_after(user, cursor, REPLAY_BATCH).await?;
    let (last, count, more) = put_history(&mut buf, history, cursor, (&metrics.trace, user), |e| {
        deliveries.report(e.id, user);
    });
    Ok((buf.freeze(), last, count, more))
}
