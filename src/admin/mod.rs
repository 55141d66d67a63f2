//! Operators' routes: the admin page, live figures, a user lookup and the delivery trace.
//!
//! Everything here exists only when `--admin-key` / `NOTIFY_ADMIN_KEY` is set; without it the
//! paths are unknown (404 like any other). The page itself (`GET /admin`) is a static shell with
//! no data in it: the operator types the key into it, and the page sends it as
//! `Authorization: Bearer` to the JSON routes, which answer 401 `bad_admin_key` without it. The
//! key never travels in a URL, so it cannot land in an access log.
//!
//! # Layout
//! - this module: the [`Admin`] handle, the page and the figure routes.
//! - [`description`](mod@description): the admin routes' description and their shared refusals.
//! - [`figures`]: this instance's and the cluster's figures, and the parts they are read from.
//! - `lookup`: one user's figures.
//! - `trace`: the delivery trace endpoints.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Serialize;
use utoipa::OpenApi;

use crate::{
    auth::Authenticator,
    error::{ApiError, ErrorBody},
    redis_store::RedisStore,
    routes::params::UserPath,
    secret::Secret,
};

pub mod bodies;
mod description;
pub mod figures;
mod lookup;
mod trace;

pub use description::description;
pub use trace::TraceState;

/// What the admin side is started with.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// The admin key (`--admin-key`); unset: no admin routes.
    pub key: Option<Secret>,
    /// Most open connections of this instance, shown beside the open ones.
    pub connections_limit: usize,
    /// Events kept per user, all read for a user lookup.
    pub history_len: usize,
}

/// The admin side of one relay: its key, its name among instances, and where it reads from.
pub struct Admin {
    key: Option<Secret>,
    connections_limit: usize,
    history_len: usize,
    instance: String,
    redis: Option<Arc<RedisStore>>,
    rates: figures::Rates,
    /// The relay's parts the figures read (see [`figures::Sources`] for why they are held here).
    sources: figures::Sources,
}

impl Admin {
    /// The admin side; no key means no admin routes.
    pub fn new(
        settings: AdminSettings,
        instance: &str,
        redis: Option<Arc<RedisStore>>,
        sources: figures::Sources,
    ) -> Arc<Self> {
        Arc::new(Self {
            key: settings.key,
            connections_limit: settings.connections_limit,
            history_len: settings.history_len,
            instance: instance.to_owned(),
            redis,
            rates: figures::Rates::default(),
            sources,
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
}

crate::routes::api::api!(
    /// The admin routes: registered and described only when the admin key is set.
    AdminDoc, handlers:
    self::page,
    self::overview,
    self::user,
    trace::trace_get,
    trace::trace_start,
    trace::trace_stop,
);

/// Registers the admin routes when the admin key is set.
pub fn configure(cfg: &mut web::ServiceConfig, enabled: bool) {
    if !enabled {
        return;
    }
    for resource in crate::routes::api::resources(&AdminDoc::openapi(), &handlers()) {
        cfg.service(resource.build());
    }
}

/// An answer no cache keeps: the figures are live, and name users.
fn no_store<T: Serialize>(body: T) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// The page: a static shell that asks for the admin key; all data comes from the JSON routes.
#[utoipa::path(get, path = "/admin", tag = "admin",
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
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

/// Live figures of this instance and the cluster, failed emails, recent errors.
#[utoipa::path(get, path = "/admin/overview", tag = "admin",
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The figures: this instance, the cluster, every instance, failed emails, recent errors", body = bodies::Overview),
    ))]
async fn overview(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    admin: web::Data<Admin>,
) -> Result<HttpResponse, ApiError> {
    admin.check(&req, &auth)?;
    Ok(no_store(figures::overview(&admin).await?))
}

/// A user: presence per instance, history head, contact, notification log, trace state.
#[utoipa::path(get, path = "/admin/users/{user}", tag = "admin",
    params(UserPath),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The user", body = bodies::UserLookup),
        (status = 400, description = "Malformed user id (`bad_event`)", body = ErrorBody),
    ))]
async fn user(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    admin: web::Data<Admin>,
) -> Result<HttpResponse, ApiError> {
    admin.check(&req, &auth)?;
    let user = UserPath::parse(&req)?;
    Ok(no_store(lookup::user(&admin, &user).await?))
}
