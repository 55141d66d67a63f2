//! `POST /publish`: the HTTP way in, same JSON as the pub/sub message.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{AppState, read_body};
use crate::{
    error::ApiError,
    event::{EventError, NewEvent},
    idempotency::IdempotencyKey,
    trace::Source,
};

/// Stores the event and answers `202 {"id": cursor}`; never 202 for an event not stored.
pub async fn publish(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let outcome = store(&req, payload, &state).await;
    match &outcome {
        Ok(_) => state.metrics.ingested_http.inc(),
        Err(e) => state.metrics.reject("http", e.code()),
    }
    outcome
}

async fn store(
    req: &HttpRequest,
    mut payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let publisher = state.auth.publisher(req)?;
    state.limits.publish(publisher)?;
    require_json(req)?;
    let limits = state.parse_limits();
    let body = read_body(req, &mut payload, limits.max_bytes).await?;
    let event = with_header_key(req, NewEvent::parse(&body, limits)?)?;
    let appended = state.broker.append(&event).await?;
    state
        .metrics
        .trace
        .appended(&event, &appended, Source::Http, None);
    // A topic with no subscribers stores nothing: there is no id, and the answer says so.
    Ok(HttpResponse::Accepted()
        .json(json!({ "id": appended.id, "recipients": appended.recipients })))
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
