//! HTTP routes: thin handlers that authenticate, parse, and talk to the hub and broker.
//!
//! Each shared part (the authenticator, broker, hub, limits, presence, email, metrics, the
//! settings groups) is its own app data, registered by `startup`, and each handler extracts only
//! the `web::Data<T>` it uses. A handler asking for data that was not registered answers 500
//! before it runs; `tests/api/openapi.rs` calls every route and fails on a 500.

use std::{sync::Arc, time::Duration};

use actix_web::{HttpRequest, middleware::from_fn, web};
use serde::de::DeserializeOwned;
use utoipa::OpenApi;

use crate::{
    error::ApiError,
    event::{EventError, EventId},
    lease::Leadership,
};

pub mod api;
pub mod contacts;
pub mod demo;
pub mod describe;
pub mod events;
pub mod metrics;
pub mod notifications;
pub mod openapi;
pub mod ops;
pub mod params;
mod path;
pub mod poll;
pub mod presence;
pub mod publish;
pub mod topics;

api::api!(
    /// The HTTP API: every handler once, registered and described from this list.
    ApiDoc, handlers:
    events::events,
    poll::poll,
    publish::publish,
    topics::topic_list,
    topics::topic_replace,
    topics::topic_add,
    topics::topic_remove,
    presence::presence,
    contacts::contact_put,
    contacts::contact_get,
    contacts::contact_delete,
    notifications::notifications,
    ops::healthz,
    ops::readyz,
    metrics::metrics,
    openapi::openapi,
);

/// Whether this instance holds the leader lease, as `/readyz`, `/metrics` and the admin figures
/// report it: `None` on the memory broker, which has no lease.
pub struct Lease(pub Option<Arc<Leadership>>);

impl Lease {
    /// True while this instance holds the lease (never on the memory broker).
    pub fn held(&self) -> bool {
        self.0.as_ref().is_some_and(|l| l.held())
    }
}

/// How SSE streams are kept: keepalives, the reconnect delay, the longest stream.
#[derive(Debug, Clone, Copy)]
pub struct SseSettings {
    /// Time between keepalives on an idle stream.
    pub keepalive: Duration,
    /// The reconnect delay suggested to browsers, in ms: the unit of the `retry:` field.
    pub retry_ms: u64,
    /// Longest a stream stays open (less up to 10% at random); `None`: no limit.
    pub max_stream: Option<Duration>,
}

/// How long polls wait and how much they answer.
#[derive(Debug, Clone, Copy)]
pub struct PollSettings {
    /// Longest a poll is held; a client's `timeout` is capped by it.
    pub timeout: Duration,
    /// Most events in one answer.
    pub batch: usize,
}

/// Registers every route of [`ApiDoc`], and the demo page and client script; `/events` and
/// `/poll` (the paths [`crate::cors::PreflightDoc`] describes) answer cross-origin requests from
/// `cors_origins`. A known path asked with another method gets a JSON 405 with `Allow`.
pub fn configure(cfg: &mut web::ServiceConfig, demo: bool, cors_origins: &[String]) {
    let cors_paths = crate::cors::cors_paths();
    for resource in api::resources(&ApiDoc::openapi(), &handlers()) {
        if cors_paths.contains(&resource.path) {
            let cors = crate::cors::subscriber_cors(cors_origins.iter().map(String::as_str));
            cfg.service(
                resource
                    .build()
                    .wrap(cors)
                    .wrap(from_fn(crate::cors::only_for_allowed)),
            );
        } else {
            cfg.service(resource.build());
        }
    }
    // Pages, not API: the demo page, and the client at the path a page that copied it out of
    // `static/` expects too.
    cfg.service(api::get_only("/").route(web::get().to(ops::index)))
        .service(api::get_only("/notify-client.js").route(web::get().to(ops::client_js)))
        .service(api::get_only("/static/notify-client.js").route(web::get().to(ops::client_js)));
    if demo {
        cfg.service(api::get_only("/demo/token").route(web::get().to(demo::token)));
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
