//! Operator endpoints (health, readiness) and the static demo page and client.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::Lease;
use crate::{broker::Broker, hub::Hub};

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Readiness details.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ok` or `unavailable`.
    pub broker: &'static str,
    /// `live` or `starting`.
    pub tail: &'static str,
    /// Open connections.
    pub connections: u64,
    /// `off`, `holder` or `standby`.
    pub bridge: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operate",
    responses((status = 200, description = "The process answers", body = Health)))]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Readiness: the broker answers and the log tail is positioned.
#[utoipa::path(get, path = "/readyz", tag = "operate",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready", body = Readiness),
    ))]
pub async fn readyz(
    broker: web::Data<dyn Broker>,
    hub: web::Data<Hub>,
    lease: web::Data<Lease>,
) -> HttpResponse {
    let broker = broker.ping().await.is_ok();
    let tail = hub.is_live();
    let body = Readiness {
        broker: if broker { "ok" } else { "unavailable" },
        tail: if tail { "live" } else { "starting" },
        connections: hub.connections() as u64,
        bridge: match &lease.0 {
            None => "off",
            Some(b) if b.held() => "holder",
            Some(_) => "standby",
        },
    };
    if broker && tail {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The demo page.
pub async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(include_str!("../../static/index.html"))
}

/// The browser client.
pub async fn client_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(include_str!("../../clients/js/notify-client.js"))
}
