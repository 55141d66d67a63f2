//! HTTP routes: thin handlers that authenticate, parse, and talk to the hub and broker.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, middleware::from_fn, web};
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
    metrics::Metrics,
};

pub mod contacts;
pub mod demo;
pub mod events;
pub mod metrics;
pub mod notifications;
pub mod openapi;
pub mod ops;
mod path;
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
    /// Counters, gauges and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The admin page's figures and key.
    pub admin: Arc<crate::admin::Admin>,
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
/// A known path asked with another method gets a JSON 405 with `Allow`.
pub fn configure(cfg: &mut web::ServiceConfig, demo: bool, cors_origins: &[String]) {
    let cors = || crate::cors::subscriber_cors(cors_origins.iter().map(String::as_str));
    cfg.service(
        resource("/events", "GET")
            .wrap(cors())
            .wrap(from_fn(crate::cors::only_for_allowed))
            .route(web::get().to(events::events)),
    )
    .service(
        resource("/poll", "GET")
            .wrap(cors())
            .wrap(from_fn(crate::cors::only_for_allowed))
            .route(web::get().to(poll::poll)),
    )
    .service(resource("/publish", "POST").route(web::post().to(publish::publish)))
    .service(
        resource("/topics/{topic}/subscribers", "GET, PUT")
            .route(web::get().to(topics::list))
            .route(web::put().to(topics::replace)),
    )
    .service(
        resource("/topics/{topic}/subscribers/{user}", "PUT, DELETE")
            .route(web::put().to(topics::add))
            .route(web::delete().to(topics::remove)),
    )
    .service(resource("/presence/{user}", "GET").route(web::get().to(presence::presence)))
    .service(
        resource("/users/{user}/contact", "GET, PUT, DELETE")
            .route(web::put().to(contacts::put))
            .route(web::get().to(contacts::get))
            .route(web::delete().to(contacts::delete)),
    )
    .service(resource("/notifications", "GET").route(web::get().to(notifications::list)))
    .service(resource("/healthz", "GET").route(web::get().to(ops::healthz)))
    .service(resource("/readyz", "GET").route(web::get().to(ops::readyz)))
    .service(resource("/metrics", "GET").route(web::get().to(metrics::metrics)))
    .service(resource("/openapi.json", "GET").route(web::get().to(openapi::openapi_json)))
    .service(resource("/", "GET").route(web::get().to(ops::index)))
    .service(resource("/notify-client.js", "GET").route(web::get().to(ops::client_js)))
    // The path a page that copied the client out of `static/` expects.
    .service(resource("/static/notify-client.js", "GET").route(web::get().to(ops::client_js)));
    if demo {
        cfg.service(resource("/demo/token", "GET").route(web::get().to(demo::token)));
    }
}

/// A resource whose other methods get a JSON 405 naming the `allow`ed ones.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allow))
    }))
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
