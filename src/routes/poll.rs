//! `GET /poll`: long-poll for clients whose proxies buffer or cut streams.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AppState, cursor, query};
use crate::{
    broker::History,
    error::{ApiError, ErrorBody},
    event::{EventId, StoredEvent, UserId},
    hub::Push,
    metrics::Connection,
    transport::Transport,
};

#[derive(Debug, Deserialize)]
struct PollQuery {
    token: Option<String>,
    cursor: Option<String>,
    timeout: Option<u64>,
}

/// A poll answer: events after the cursor, the cursor to send next, and whether it was reset.
#[derive(Debug, Serialize, ToSchema)]
pub struct PollAnswer {
    /// Events after the cursor, oldest first.
    #[schema(value_type = Vec<StoredEvent>)]
    pub events: Vec<std::sync::Arc<StoredEvent>>,
    /// The cursor to poll from next.
    pub cursor: EventId,
    /// True when the cursor was older than history: events may have been missed.
    pub reset: bool,
}

/// Long-poll: events after the cursor at once, else waits up to `timeout` seconds.
#[utoipa::path(
    get, path = "/poll", tag = "subscribe",
    params(
        ("cursor" = Option<String>, Query, pattern = r"^([0-9]{1,19}-[0-9]{1,19})?$", description = "The cursor of the last answer; absent or empty: answer at once with the current cursor"),
        ("timeout" = Option<u64>, Query, description = "Seconds to wait, capped by --poll-timeout-secs"),
    ),
    security(("subscriber_bearer" = []), ("subscriber_cookie" = []), ("subscriber_query" = [])),
    responses(
        (status = 200, description = "Events, the next cursor, and whether the cursor was reset", body = PollAnswer),
        (status = 400, description = "Malformed cursor or query, or a header token and `?token=` that disagree (`conflicting_tokens`)", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired token", body = ErrorBody),
        (status = 429, description = "Too many connections for this user (`too_many_connections_for_user`), or new connections from this address over --connects-per-sec (`rate_limited`, with `Retry-After`)", body = ErrorBody),
        (status = 503, description = "Starting, full, stopping, or the broker is unreachable", body = ErrorBody),
    )
)]
pub async fn poll(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.limits.connect(&req)?;
    let q: PollQuery = query(&req)?;
    let session = state.auth.session(&req, q.token.as_deref())?;
    let user = session.user;
    // A poll is not held past its token's expiry: the next one must present a valid token.
    let token_left = session
        .expires_at
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    let body = wait(&state, &user, q, token_left).await?;
    // The user counts as online until the next poll is due; fallback events returned here
    // reached them, so they get no email for those.
    state.offline.presence.polled(&user);
    for e in body.events.iter().filter(|e| e.fallback) {
        state.offline.deliveries.report(e.id, &user);
    }
    Ok(answer(body))
}

async fn wait(
    state: &AppState,
    user: &UserId,
    q: PollQuery,
    token_left: Duration,
) -> Result<PollAnswer, ApiError> {
    let cursor = cursor(q.cursor.as_deref())?;
    let timeout = q
        .timeout
        .map(Duration::from_secs)
        .unwrap_or(state.settings.poll_timeout())
        .min(state.settings.poll_timeout())
        .min(token_left);
    if !state.hub.is_live() {
        return Err(ApiError::NotReady);
    }
    let Some(cursor) = cursor else {
        let head = state.broker.head().await?;
        return Ok(PollAnswer {
            events: Vec::new(),
            cursor: head,
            reset: false,
        });
    };
    let batch = state.settings.poll_batch as usize;
    // Subscribe before reading history, so nothing appended in between is missed.
    let mut sub = state.hub.subscribe(user.clone(), Transport::Poll)?;
    match state.broker.read_after(user, cursor, batch).await? {
        History::Reset { head } => {
            state.metrics.trace.reset(user, "poll", cursor, head);
            return Ok(PollAnswer {
                events: Vec::new(),
                cursor: head,
                reset: true,
            });
        }
        History::Events(events) if !events.is_empty() => {
            state.metrics.trace.polled(user, &events);
            state
                .metrics
                .delivered_from_history(Transport::Poll, events.len());
            let last = events.last().map_or(cursor, |e| e.id);
            return Ok(PollAnswer {
                events,
                cursor: last,
                reset: false,
            });
        }
        History::Events(_) => {}
    }
    // Counted as waiting until it answers or the client goes away (the future is dropped).
    let mut waiting = Connection::open(&state.metrics, Transport::Poll, user);
    let mut events = Vec::new();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    while events.is_empty() {
        tokio::select! {
            push = sub.rx.recv() => match push {
                Some(Push::Event(e)) => events.push(e),
                Some(Push::Ping | Push::End(_)) => {}
                // The hub let go of us: shutting down. Answer now so the client moves on.
                None => break,
            },
            () = &mut deadline => break,
        }
        // Take whatever else is already queued, up to the batch size.
        while events.len() < batch {
            match sub.rx.try_recv() {
                Ok(Push::Event(e)) => events.push(e),
                Ok(Push::Ping | Push::End(_)) => {}
                Err(_) => break,
            }
        }
        // A lagging tail can hand over events the client already has.
        events.retain(|e| e.id > cursor);
    }
    for e in &events {
        waiting.sent_live(e.id);
    }
    let last = events.last().map_or(cursor, |e| e.id);
    Ok(PollAnswer {
        events,
        cursor: last,
        reset: false,
    })
}

fn answer(body: PollAnswer) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}
