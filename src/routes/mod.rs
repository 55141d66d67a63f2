//! HTTP routes: thin handlers that authenticate, parse, and talk to the hub and broker.

use std::sync::Arc;

use actix_web::{HttpRequest, middleware::from_fn, web};
use serde::de::DeserializeOwned;

use crate::{
    auth::Authenticator,
    broker::Broker,
    config::Settings,
    error::ApiError,
    event::{EventId, ParseLimits},
    hub::Hub,
    ingest::BridgeStatus,
    limits::RateLimits,
};

pub mod demo;
pub mod events;
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
    /// Connection and publish rate limits.
    pub limits: Arc<RateLimits>,
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

/// Parses an optional cursor; an empty one counts as absent (EventSource sends none at first).
pub(crate) fn cursor(raw: Option<&str>) -> Result<Option<EventId>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(c) => Ok(Some(c.parse()?)),
    }
}
