//! `GET /poll`: long-poll for clients whose proxies buffer or cut streams.

use std::{sync::Arc, time::Duration};

use actix_web::{
    HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, http::header, mime, web,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{PollSettings, cursor, query};
use crate::{
    auth::Authenticator,
    broker::{Broker, History},
    email::delivery::Deliveries,
    error::{ApiError, ErrorBody},
    event::{EventId, StoredEvent, UserId},
    hub::Hub,
    limits::RateLimits,
    metrics::{ConnectionAccount, Metrics},
    presence::Presence,
    transport::Transport,
};

mod wait;

pub use wait::Waiting;

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

/// Long-poll: events after the cursor at once, else waits up to `timeout` seconds for one.
///
/// A poll that has to wait answers its head at once and its JSON body later, from the
/// response body ([`Waiting`]) rather than from this handler: a handler that waited would keep
/// the whole request alive for the wait (its head alone is a 6.5 KB header map in actix-http,
/// plus the middleware and handler futures), where the body holds only the subscription, the
/// cursor and the timer. The answer is the same JSON either way; the waiting one is sent chunked.
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
#[allow(clippy::too_many_arguments)] // One extractor per shared part the poll uses.
pub async fn poll(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    limits: web::Data<RateLimits>,
    hub: web::Data<Hub>,
    broker: web::Data<dyn Broker>,
    metrics: web::Data<Metrics>,
    presence: web::Data<Presence>,
    deliveries: web::Data<Deliveries>,
    settings: web::Data<PollSettings>,
) -> Result<HttpResponse, ApiError> {
    limits.connect(&req)?;
    let q: PollQuery = query(&req)?;
    let session = auth.session(&req, q.token.as_deref())?;
    let user = session.user;
    // A poll is not held past its token's expiry: the next one must present a valid token.
    let token_left = session
        .expires_at
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    let cursor = cursor(q.cursor.as_deref())?;
    let timeout = q
        .timeout
        .map(Duration::from_secs)
        .unwrap_or(settings.timeout)
        .min(settings.timeout)
        .min(token_left);
    let mut response = HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type(mime::APPLICATION_JSON)
        .take();
    let reports = Reports {
        presence,
        deliveries,
    };
    let read = Read {
        hub: &hub,
        broker: &**broker,
        metrics: &metrics,
        batch: settings.batch,
    };
    // A waiting poll takes its own handle on the reports, to tell them when it answers.
    let started = start(read, user, cursor, timeout, reports.clone()).await?;
    Ok(match started {
        Start::Answer(user, body) => {
            reports.answered(&user, &body);
            answer(response, &body)
        }
        Start::Wait(waiting) => response.streaming(waiting),
    })
}

/// How a poll goes on once history was read.
enum Start {
    /// History (or the lack of a cursor) answers it now.
    Answer(UserId, PollAnswer),
    /// Nothing yet: the body waits.
    Wait(Waiting),
}

/// What a poll reads before it answers or waits.
struct Read<'a> {
    hub: &'a Arc<Hub>,
    broker: &'a dyn Broker,
    metrics: &'a Arc<Metrics>,
    /// Most events in one answer.
    batch: usize,
}

async fn start(
    read: Read<'_>,
    user: UserId,
    cursor: Option<EventId>,
    timeout: Duration,
    reports: Reports,
) -> Result<Start, ApiError> {
    let Read {
        hub,
        broker,
        metrics,
        batch,
    } = read;
    if !hub.is_live() {
        return Err(ApiError::NotReady);
    }
    let Some(cursor) = cursor else {
        let head = broker.head_for(&user).await?;
        let body = PollAnswer {
            events: Vec::new(),
            cursor: head,
            reset: false,
        };
        return Ok(Start::Answer(user, body));
    };
    // Subscribe before reading history, so nothing appended in between is missed.
    let sub = hub.subscribe(user.clone(), Transport::Poll)?;
    match broker.read_after(&user, cursor, batch).await? {
        History::Reset { head } => {
            metrics.trace.reset(&user, "poll", cursor, head);
            let body = PollAnswer {
                events: Vec::new(),
                cursor: head,
                reset: true,
            };
            return Ok(Start::Answer(user, body));
        }
        History::Events(events) if !events.is_empty() => {
            metrics.trace.polled(&user, &events);
            metrics.delivered_from_history(Transport::Poll, events.len());
            let last = events.last().map_or(cursor, |e| e.id);
            let body = PollAnswer {
                events,
                cursor: last,
                reset: false,
            };
            return Ok(Start::Answer(user, body));
        }
        History::Events(_) => {}
    }
    // Counted as waiting until it answers or the client goes away (the body is dropped).
    let conn = ConnectionAccount::open(metrics, Transport::Poll, &user);
    Ok(Start::Wait(Waiting::new(
        sub, cursor, batch, timeout, conn, reports,
    )))
}

/// Where a poll's answer is reported: the two parts [`Reports::answered`] tells, held by a
/// waiting poll until it answers.
#[derive(Clone)]
struct Reports {
    presence: web::Data<Presence>,
    deliveries: web::Data<Deliveries>,
}

impl Reports {
    /// What a poll's answer means beyond its bytes: the user counts as online until the next
    /// poll is due, and fallback events returned here reached them, so they get no email for
    /// those.
    fn answered(&self, user: &UserId, body: &PollAnswer) {
        self.presence.polled(user);
        for e in body.events.iter().filter(|e| e.fallback) {
            self.deliveries.report(e.id, user);
        }
    }
}

fn answer(mut response: HttpResponseBuilder, body: &PollAnswer) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(json) => response.body(json),
        Err(e) => {
            tracing::error!(error = %e, "could not encode a poll answer");
            ApiError::Internal.error_response()
        }
    }
}
