//! HTTP routes: thin handlers that authenticate, parse, and talk to the hub and broker.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;

use crate::{
    auth::Authenticator,
    broker::Broker,
    config::Settings,
    error::ApiError,
    event::{EventId, ParseLimits},
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
    cfg.service(get("/events").route(web::get().to(events::events)))
        .service(get("/poll").route(web::get().to(poll::poll)))
        .service(
            web::resource("/publish")
                .route(web::post().to(publish::publish))
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(ApiError::MethodNotAllowed("POST"))
                })),
        )
        .service(get("/healthz").route(web::get().to(ops::healthz)))
        .service(get("/readyz").route(web::get().to(ops::readyz)))
        .service(get("/metrics").route(web::get().to(metrics::metrics)))
        .service(get("/openapi.json").route(web::get().to(openapi::openapi_json)))
        .service(get("/").route(web::get().to(ops::index)))
        .service(get("/notify-client.js").route(web::get().to(ops::client_js)));
    if demo {
        cfg.service(get("/demo/token").route(web::get().to(demo::token)));
    }
}

/// A resource served to GET only.
fn get(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed("GET"))
    }))
}

/// Parses the query string into `T`, answering 400 with the reason.
pub(crate) fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::Query(e.to_string()))
}

/// Parses an optional cursor; an empty one counts as absent (EventSource sends none at first).
pub(crate) fn cursor(raw: Option<&str>) -> Result<Option<EventId>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(c) => Ok(Some(c.parse()?)),
    }
}
