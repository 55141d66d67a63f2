//! HTTP routes: thin handlers that authenticate, parse, and talk to the hub and broker.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;

use crate::{
    auth::Authenticator,
    broker::Broker,
    config::Settings,
    error::ApiError,
    event::{EventError, EventId, ParseLimits},
    hub::Hub,
    ingest::BridgeStatus,
    metrics::Metrics,
};

pub mod demo;
pub mod events;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod poll;
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
    /// Counters, gauges and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
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

/// Registers every route. A known path asked with another method gets a JSON 405 with `Allow`.
pub fn configure(cfg: &mut web::ServiceConfig, demo: bool) {
    cfg.service(resource("/events", "GET").route(web::get().to(events::events)))
        .service(resource("/poll", "GET").route(web::get().to(poll::poll)))
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
        .service(resource("/healthz", "GET").route(web::get().to(ops::healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(ops::readyz)))
        .service(resource("/metrics", "GET").route(web::get().to(metrics::metrics)))
        .service(resource("/openapi.json", "GET").route(web::get().to(openapi::openapi_json)))
        .service(resource("/", "GET").route(web::get().to(ops::index)))
        .service(resource("/notify-client.js", "GET").route(web::get().to(ops::client_js)));
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
