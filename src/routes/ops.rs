//! Operator endpoints (health, readiness) and the static demo page and client.

use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: the broker answers and the log tail is positioned.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let broker = state.broker.ping().await;
    let tail = state.hub.is_live();
    let body = json!({
        "broker": if broker.is_ok() { "ok" } else { "unavailable" },
        "tail": if tail { "live" } else { "starting" },
        "connections": state.hub.connections(),
        "bridge": match &state.bridge {
            None => "off",
            Some(b) if b.holder.load(Ordering::Acquire) => "holder",
            Some(_) => "standby",
        },
    });
    if broker.is_ok() && tail {
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
