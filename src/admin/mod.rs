//! Operators' routes: the admin page, live figures, a user lookup and the delivery trace.
//!
//! Everything here exists only when `--admin-key` / `NOTIFY_ADMIN_KEY` is set; without it the
//! paths are unknown (404 like any other). The page itself (`GET /admin`) is a static shell with
//! no data in it: the operator types the key into it, and the page sends it as
//! `Authorization: Bearer` to the JSON routes, which answer 401 `bad_admin_key` without it. The
//! key never travels in a URL, so it cannot land in an access log.
//!
//! # Layout
//! - this module: the [`Admin`] handle, the routes, the trace endpoints.
//! - [`figures`]: this instance's and the cluster's figures, and the user lookup.
//! - [`errors`]: the ring of recent WARN and ERROR log lines.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;
use serde_json::json;

use crate::{
    auth::Authenticator, config::Secret, error::ApiError, event::UserId, metrics::Metrics,
    redis_store::RedisStore, routes::AppState, trace,
};

pub mod errors;
pub mod figures;

/// The admin side of one relay: its key, its name among instances, and where it reads from.
pub struct Admin {
    key: Option<Secret>,
    instance: String,
    redis: Option<Arc<RedisStore>>,
    rates: figures::Rates,
}

impl Admin {
    /// The admin side; `key` unset means no admin routes.
    pub fn new(key: Option<Secret>, instance: &str, redis: Option<Arc<RedisStore>>) -> Arc<Self> {
        Arc::new(Self {
            key,
            instance: instance.to_owned(),
            redis,
            rates: figures::Rates::default(),
        })
    }

    /// True when the admin routes are served.
    pub fn enabled(&self) -> bool {
        self.key.is_some()
    }

    /// Refuses a request that does not carry the admin key.
    fn check(&self, req: &HttpRequest, auth: &Authenticator) -> Result<(), ApiError> {
        match &self.key {
            Some(key) => Ok(auth.admin(req, key)?),
            None => Err(ApiError::NotFound),
        }
    }

    /// Sets the outbox depth gauge from Redis (left as it was when Redis does not answer within
    /// a second: a scrape must not hang on it).
    pub async fn sample_outbox(&self, metrics: &Metrics) {
        let depth = tokio::time::timeout(std::time::Duration::from_secs(1), self.outbox_depth());
        if let Ok(Some(Ok(depth))) = depth.await {
            metrics.email_outbox_depth.set(depth as i64);
        }
    }
}

/// Registers the admin routes when the admin key is set.
pub fn configure(cfg: &mut web::ServiceConfig, enabled: bool) {
    if !enabled {
        return;
    }
    cfg.service(resource("/admin", "GET").route(web::get().to(page)))
        .service(resource("/admin/overview", "GET").route(web::get().to(overview)))
        .service(resource("/admin/users/{user}", "GET").route(web::get().to(user)))
        .service(
            resource("/admin/trace/{user}", "GET, POST, DELETE")
                .route(web::get().to(trace_get))
                .route(web::post().to(trace_start))
                .route(web::delete().to(trace_stop)),
        );
}

fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allow))
    }))
}

fn no_store(body: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

fn path_user(req: &HttpRequest) -> Result<UserId, ApiError> {
    Ok(UserId::parse(
        req.match_info().get("user").unwrap_or_default(),
    )?)
}

/// The page: a static shell that asks for the key; every figure comes from the JSON routes.
async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
        ))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(include_str!("../../static/admin.html"))
}

async fn overview(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.admin.check(&req, &state.auth)?;
    Ok(no_store(figures::overview(&state).await?))
}

async fn user(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.admin.check(&req, &state.auth)?;
    let user = path_user(&req)?;
    Ok(no_store(figures::user(&state, &user).await?))
}

#[derive(Debug, Deserialize)]
struct TraceQuery {
    minutes: Option<u64>,
}

/// `POST /admin/trace/{user}?minutes=N`: traces the user on every instance for N minutes.
async fn trace_start(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.admin.check(&req, &state.auth)?;
    let user = path_user(&req)?;
    let q: TraceQuery = crate::routes::query(&req)?;
    let minutes = q.minutes.unwrap_or(trace::DEFAULT_MINUTES);
    if !(1..=trace::MAX_MINUTES).contains(&minutes) {
        return Err(ApiError::Query(format!(
            "minutes must be 1 to {}",
            trace::MAX_MINUTES
        )));
    }
    let until = trace::store::now_ms() + minutes * 60_000;
    state.metrics.trace.start(&user, until).await?;
    tracing::info!(user = %user, minutes, "delivery trace started");
    Ok(no_store(
        json!({ "user": user.as_str(), "tracing": true, "until_ms": until }),
    ))
}

/// `DELETE /admin/trace/{user}`: stops the trace; its records stay readable until they expire.
async fn trace_stop(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.admin.check(&req, &state.auth)?;
    let user = path_user(&req)?;
    state.metrics.trace.stop(&user).await?;
    tracing::info!(user = %user, "delivery trace stopped");
    Ok(no_store(
        json!({ "user": user.as_str(), "tracing": false, "until_ms": null }),
    ))
}

/// `GET /admin/trace/{user}`: the records of every instance, newest first.
async fn trace_get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.admin.check(&req, &state.auth)?;
    let user = path_user(&req)?;
    let tracer = &state.metrics.trace;
    let until = tracer.until_shared(&user).await?;
    let records = tracer.records(&user).await?;
    Ok(no_store(json!({
        "user": user.as_str(),
        "tracing": until.is_some(),
        "until_ms": until,
        "recording_here": tracer.tracing(&user),
        "instance": state.admin.instance,
        "records": records,
    })))
}
