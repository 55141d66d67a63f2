//! `POST /publish`: the HTTP way in, same JSON as the pub/sub message.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::read_body;
use crate::{
    auth::Authenticator,
    broker::Broker,
    error::{ApiError, ErrorBody},
    event::{EventError, EventId, IdempotencyKey, NewEvent, ParseLimits},
    limits::RateLimits,
    metrics::Metrics,
    trace::Source,
};

/// A stored event.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The assigned id; null when a topic had no subscribers, so nothing was stored.
    pub id: Option<EventId>,
    /// How many users it was stored for, after topic expansion and `exclude`.
    pub recipients: u64,
}

/// Stores the event and answers `202 {"id": cursor}`; never 202 for an event not stored.
/// The body's schema depends on the limits the relay runs with: `describe::limits` writes it.
#[utoipa::path(
    post, path = "/publish", tag = "publish",
    request_body(content = Object, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[A-Za-z0-9_.:/+=-]{1,128}$", description = "The publisher's name for this event, like the body's `idempotency_key`: a publish with a key already stored (for --idempotency-ttl-secs) stores nothing and answers the first one's 202 body")),
    security(("publish_key" = [])),
    responses(
        (status = 202, description = "Stored (or stored before under this idempotency key: the first answer again)", body = Accepted),
        (status = 400, description = "Not a JSON object, no recipient, bad user id, topic, event name or idempotency key (`bad_event`, `bad_topic`, `bad_idempotency_key`), a reserved event name (`reserved_event`), or a topic with more than --max-topic-recipients subscribers (`topic_too_large`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 413, description = "Larger than --max-payload-bytes", body = ErrorBody),
        (status = 415, description = "The body is not declared `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "Publishes with this key over --publishes-per-sec, or too many wrong keys from this address, over --auth-failures-per-min (`rate_limited`): not stored, retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "The broker is unreachable: not stored, retry", body = ErrorBody),
    )
)]
pub async fn publish(
    req: HttpRequest,
    payload: web::Payload,
    auth: web::Data<Authenticator>,
    limits: web::Data<RateLimits>,
    parse: web::Data<ParseLimits>,
    broker: web::Data<dyn Broker>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    let outcome = async {
        let publisher = auth.publisher(&req)?;
        limits.publish(publisher)?;
        store(&req, payload, **parse, &**broker, &metrics).await
    }
    .await;
    match &outcome {
        Ok(_) => metrics.ingested_http.inc(),
        Err(e) => metrics.reject("http", e.code()),
    }
    outcome
}

/// Parses the publisher's message and stores it.
async fn store(
    req: &HttpRequest,
    mut payload: web::Payload,
    limits: ParseLimits,
    broker: &dyn Broker,
    metrics: &Metrics,
) -> Result<HttpResponse, ApiError> {
    require_json(req)?;
    let body = read_body(req, &mut payload, limits.max_bytes).await?;
    let event = with_header_key(req, NewEvent::parse(&body, limits)?)?;
    let appended = broker.append(&event).await?;
    metrics
        .trace
        .appended(&event, &appended, Source::Http, None);
    // A topic with no subscribers stores nothing: there is no id, and the answer says so.
    Ok(HttpResponse::Accepted().json(Accepted {
        id: appended.id,
        recipients: appended.recipients as u64,
    }))
}

/// Refuses a body not declared as JSON: a cross-site form or `fetch` can send `text/plain`
/// without a preflight, but not `application/json`.
fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    match req.mime_type() {
        Ok(Some(m)) if m.essence_str() == "application/json" => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// Takes the `Idempotency-Key` header as the event's key; with the body's `idempotency_key`
/// too, both must say the same.
fn with_header_key(req: &HttpRequest, mut event: NewEvent) -> Result<NewEvent, EventError> {
    let Some(header) = req.headers().get("idempotency-key") else {
        return Ok(event);
    };
    let key = header
        .to_str()
        .map_err(|_| EventError::BadIdempotencyKey)
        .and_then(IdempotencyKey::parse)?;
    if event.idempotency_key.as_ref().is_some_and(|k| *k != key) {
        return Err(EventError::BadIdempotencyKey);
    }
    event.idempotency_key = Some(key);
    Ok(event)
}
