//! `GET /metrics`: Prometheus metrics, optionally behind `--metrics-key`.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, http::header, web};

use super::Lease;
use crate::{
    auth::Authenticator,
    broker::Broker,
    email::{Email, db::writer},
    error::{ApiError, ErrorBody},
    hub::Hub,
    metrics::Metrics,
};

/// Longest a scrape waits for the broker's ping before reporting it down.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Prometheus metrics in the text exposition format: samples the broker, tail and bridge,
/// then renders every metric.
#[utoipa::path(get, path = "/metrics", tag = "operate",
    security((), ("metrics_key" = [])),
    responses(
        (status = 200, description = "Metrics", content_type = "text/plain", body = String),
        (status = 401, description = "--metrics-key is set and was not presented", body = ErrorBody),
    ))]
pub async fn metrics(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    broker: web::Data<dyn Broker>,
    hub: web::Data<Hub>,
    lease: web::Data<Lease>,
    email: web::Data<Email>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    auth.metrics(&req)?;
    let broker_up = matches!(
        tokio::time::timeout(PING_TIMEOUT, broker.ping()).await,
        Ok(Ok(()))
    );
    metrics.sample(broker_up, hub.is_live(), lease.held());
    if let Some(redis) = email.store.as_ref().and_then(|s| s.db_queue()) {
        // Unknown (Redis down) keeps the last value rather than claiming an empty backlog.
        if let Ok(Ok(n)) = tokio::time::timeout(PING_TIMEOUT, writer::backlog(redis)).await {
            metrics.notifications_db.backlog.set(n as i64);
        }
    }
    if let Some(store) = &email.store {
        // Left as it was when Redis does not answer in time: a scrape must not hang on it.
        if let Ok(Ok(depth)) = tokio::time::timeout(PING_TIMEOUT, store.outbox_depth()).await {
            metrics.email_outbox_depth.set(depth as i64);
        }
    }
    let body = metrics.render().map_err(|e| {
        tracing::error!(error = %e, "could not render metrics");
        ApiError::Internal
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
