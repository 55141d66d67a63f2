//! HTTP routes: thin handlers that authenticate, parse, and talk to the hub and broker.

use std::sync::Arc;

use actix_web::{HttpRequest, middleware::from_fn, web};
use serde::de::DeserializeOwned;

use crate::{
    auth::Authenticator,
    broker::Broker,
    config::Settings,
    error::ApiError,
    event::{EventError, EventId, ParseLimits},
    hub::Hub,
    ingest::BridgeStatus,
    limits::RateLimits,
};

pub mod contacts;
pub mod demo;
pub mod events;
pub mod notifications;
pub mod ops;
pub mod poll;
pub mod presence;
pub mod publish;
pub mod topics;

/// What every handler shares.
pub struct AppState {
    /// Where events are stored.
    pub broker: Arc<dyn Broker>,
    /// Live subscribers of this instance.
    pub hub: Arc<Hub>,
    /// Token and key checks.
    pub auth: Authenticator,
    /// The settings the relay started with.
    pub settings: Settings,
    /// The pub/sub bridge, when running on Redis.
    pub bridge: Option<Arc<BridgeStatus>>,
    /// Connection and publish rate limits.
    pub limits: Arc<RateLimits>,
    /// Presence, delivery reports, contacts and the notification log.
    pub offline: crate::email::Offline,
}

impl AppState {
    /// Limits for parsing a publisher's message.
    pub fn parse_limits(&self) -> ParseLimits {
        ParseLimits {
            max_bytes: self.settings.max_payload_bytes as usize,
            max_recipients: self.settings.max_recipients as usize,
        }
    }
}

/// Registers every route; `/events` and `/poll` answer cross-origin requests from `cors_origins`.
pub fn configure(cfg: &mut web::ServiceConfig, demo: bool, cors_origins: &[String]) {
    let cors = || crate::cors::subscriber_cors(cors_origins.iter().map(String::as_str));
    cfg.service(
        web::resource("/events")
            .wrap(cors())
            .wrap(from_fn(crate::cors::only_for_allowed))
            .route(web::get().to(events::events)),
    )
    .service(
        web::resource("/poll")
            .wrap(cors())
            .wrap(from_fn(crate::cors::only_for_allowed))
            .route(web::get().to(poll::poll)),
    )
    .route("/publish", web::post().to(publish::publish))
    .route("/topics/{topic}/subscribers", web::get().to(topics::list))
    .route(
        "/topics/{topic}/subscribers",
        web::put().to(topics::replace),
    )
    .route(
        "/topics/{topic}/subscribers/{user}",
        web::put().to(topics::add),
    )
    .route(
        "/topics/{topic}/subscribers/{user}",
        web::delete().to(topics::remove),
    )
    .route("/presence/{user}", web::get().to(presence::presence))
    .route("/users/{user}/contact", web::put().to(contacts::put))
    .route("/users/{user}/contact", web::get().to(contacts::get))
    .route("/users/{user}/contact", web::delete().to(contacts::delete))
    .route("/notifications", web::get().to(notifications::list))
    .route("/healthz", web::get().to(ops::healthz))
    .route("/readyz", web::get().to(ops::readyz))
    .route("/", web::get().to(ops::index))
    .route("/notify-client.js", web::get().to(ops::client_js));
    if demo {
        cfg.route("/demo/token", web::get().to(demo::token));
    }
}

/// Parses the query string into `T`, answering 400 with the reason.
pub(crate) fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::Query(e.to_string()))
}

/// Reads a request body of at most `max` bytes, answering 413 past it (checked on the declared
/// length first, then while reading, so a lying or missing Content-Length changes nothing).
pub(crate) async fn read_body(
    req: &HttpRequest,
    payload: &mut web::Payload,
    max: usize,
) -> Result<web::BytesMut, ApiError> {
    use futures_util::StreamExt;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(EventError::TooLarge(max).into());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::Query(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > max {
            return Err(EventError::TooLarge(max).into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses an optional cursor; an empty one counts as absent (EventSource sends none at first).
pub(crate) fn cursor(raw: Option<&str>) -> Result<Option<EventId>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(c) => Ok(Some(c.parse()?)),
    }
}
