//! `POST /publish`: the HTTP way in, same JSON as the pub/sub message.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use futures_util::StreamExt;
use serde_json::json;

use super::AppState;
use crate::{
    error::ApiError,
    event::{EventError, NewEvent},
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
    state.auth.publisher(req)?;
    let limits = state.parse_limits();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes) {
        return Err(EventError::TooLarge(limits.max_bytes).into());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::Query(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limits.max_bytes {
            return Err(EventError::TooLarge(limits.max_bytes).into());
        }
        body.extend_from_slice(&chunk);
    }
    let event = NewEvent::parse(&body, limits)?;
    let id = state.broker.append(&event).await?;
    Ok(HttpResponse::Accepted().json(json!({ "id": id, "recipients": event.recipients.len() })))
}
