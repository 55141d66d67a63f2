//! `GET /metrics`: Prometheus metrics, optionally behind `--metrics-key`.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, http::header, web};

use super::AppState;
use crate::error::ApiError;

/// Longest a scrape waits for the broker's ping before reporting it down.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Samples the broker, tail and bridge, then renders every metric.
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(key) = &state.settings.metrics_key
        && !presents(&req, key.expose())
    {
        return Err(ApiError::BadMetricsKey);
    }
    let broker_up = matches!(
        tokio::time::timeout(PING_TIMEOUT, state.broker.ping()).await,
        Ok(Ok(()))
    );
    let holder = state
        .bridge
        .as_ref()
        .is_some_and(|b| b.holder.load(std::sync::atomic::Ordering::Acquire));
    state.metrics.sample(broker_up, state.hub.is_live(), holder);
    state.admin.sample_outbox(&state.metrics).await;
    let body = state.metrics.render().map_err(|e| {
        tracing::error!(error = %e, "could not render metrics");
        ApiError::Internal
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// True when the request carries `Authorization: Bearer <key>`; compared without an early exit.
pub(crate) fn presents(req: &HttpRequest, key: &str) -> bool {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim());
    given.len() == key.len()
        && given
            .bytes()
            .zip(key.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
