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

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::{
    auth::Authenticator,
    error::{ApiError, ErrorBody},
    event::UserId,
    redis_store::RedisStore,
    routes::{AppState, params::UserPath},
    secret::Secret,
    trace,
};

pub mod figures;

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
}

impl Admin {
    /// The admin side; no key means no admin routes.
    pub fn new(
        settings: AdminSettings,
        instance: &str,
        redis: Option<Arc<RedisStore>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            key: settings.key,
            connections_limit: settings.connections_limit,
            history_len: settings.history_len,
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
}

crate::routes::api::api!(
    /// The admin routes: registered and described only when the admin key is set.
    AdminDoc, handlers:
    self::page,
    self::overview,
    self::user,
    self::trace_get,
    self::trace_start,
    self::trace_stop,
);

/// The admin routes' description, with the admin key's scheme.
pub fn description() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    let mut doc = AdminDoc::openapi();
    let scheme = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some("the --admin-key (NOTIFY_ADMIN_KEY)"))
        .build();
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme("admin_key", SecurityScheme::Http(scheme));
    shared_refusals(&mut doc);
    doc
}

/// Every route that takes the admin key ([`Admin::check`], first) and reads the broker may
/// refuse the same two ways; they are described once here, on each operation with the key's
/// security requirement.
fn shared_refusals(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let refusal = |description: &str| {
        let body = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build();
        ResponseBuilder::new()
            .description(description)
            .content("application/json", body)
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.post, &mut item.delete];
        for op in operations.into_iter().flatten() {
            if op.security.is_none() {
                continue;
            }
            let answers = &mut op.responses.responses;
            answers.insert(
                "401".into(),
                refusal("Missing or wrong admin key (`bad_admin_key`)").into(),
            );
            answers.insert(
                "503".into(),
                refusal("The broker is unreachable (`broker_unavailable`)").into(),
            );
        }
    }
}

/// Registers the admin routes when the admin key is set.
pub fn configure(cfg: &mut web::ServiceConfig, enabled: bool) {
    if !enabled {
        return;
    }
    for resource in crate::routes::api::resources(&AdminDoc::openapi(), &handlers()) {
        cfg.service(resource.build());
    }
}

fn no_store<T: Serialize>(body: T) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// A user's delivery trace: whether it is on, and (when read) its records.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceState {
    /// The user.
    pub user: String,
    /// A trace is on (on every instance).
    pub tracing: bool,
    /// When it ends, ms since the epoch.
    pub until_ms: Option<u64>,
    /// This instance has heard of the trace and records (on a read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_here: Option<bool>,
    /// This instance's name (on a read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Newest first (on a read): `appended`, `fanned_out`, `delivered`, `replayed`, `polled`,
    /// `skipped`, `reset`, `emailed`, `email_retry`, `email_failed`, each with `kind`, `at_ms`,
    /// `instance` and usually the event `id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub records: Option<Vec<serde_json::Value>>,
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
        (status = 200, description = "The figures: `instance`, `cluster`, `instances`, `failed_emails`, `recent_errors`", body = Object),
    ))]
async fn overview(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: web::Data<Admin>,
) -> Result<HttpResponse, ApiError> {
    admin.check(&req, &state.auth)?;
    Ok(no_store(figures::overview(&state, &admin).await?))
}

/// A user: presence per instance, history head, contact, notification log, trace state.
#[utoipa::path(get, path = "/admin/users/{user}", tag = "admin",
    params(UserPath),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The user", body = Object),
        (status = 400, description = "Malformed user id (`bad_event`)", body = ErrorBody),
    ))]
async fn user(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: web::Data<Admin>,
) -> Result<HttpResponse, ApiError> {
    admin.check(&req, &state.auth)?;
    let user = UserPath::parse(&req)?;
    Ok(no_store(figures::user(&state, &admin, &user).await?))
}

#[derive(Debug, Deserialize)]
struct TraceQuery {
    minutes: Option<u64>,
}

/// Turns the user's delivery trace on, on every instance, for `minutes`.
#[utoipa::path(post, path = "/admin/trace/{user}", tag = "admin",
    params(
        UserPath,
        ("minutes" = Option<u64>, Query, minimum = 1, description = "How long the trace lasts in minutes (default 10; the most is written from `trace::MAX_MINUTES`)"),
    ),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The trace", body = TraceState),
        (status = 400, description = "Malformed user id or minutes out of range (`bad_event`, `bad_query`)", body = ErrorBody),
    ))]
async fn trace_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: web::Data<Admin>,
) -> Result<HttpResponse, ApiError> {
    admin.check(&req, &state.auth)?;
    let user = UserPath::parse(&req)?;
    let q: TraceQuery = crate::routes::query(&req)?;
    let minutes = q.minutes.unwrap_or(trace::DEFAULT_MINUTES);
    if !(1..=trace::MAX_MINUTES).contains(&minutes) {
        return Err(ApiError::Query(format!(
            "minutes must be 1 to {}",
            trace::MAX_MINUTES
        )));
    }
    let until = crate::event::now_ms() + minutes * 60_000;
    state.metrics.trace.start(&user, until).await?;
    tracing::info!(user = %user, minutes, "delivery trace started");
    Ok(no_store(TraceState::switched(&user, Some(until))))
}

/// Turns the user's delivery trace off; its records stay readable until they expire.
#[utoipa::path(delete, path = "/admin/trace/{user}", tag = "admin",
    params(UserPath),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The trace", body = TraceState),
        (status = 400, description = "Malformed user id (`bad_event`)", body = ErrorBody),
    ))]
async fn trace_stop(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: web::Data<Admin>,
) -> Result<HttpResponse, ApiError> {
    admin.check(&req, &state.auth)?;
    let user = UserPath::parse(&req)?;
    state.metrics.trace.stop(&user).await?;
    tracing::info!(user = %user, "delivery trace stopped");
    Ok(no_store(TraceState::switched(&user, None)))
}

/// The user's delivery trace, merged across instances, newest first.
#[utoipa::path(get, path = "/admin/trace/{user}", tag = "admin",
    params(UserPath),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The trace", body = TraceState),
        (status = 400, description = "Malformed user id (`bad_event`)", body = ErrorBody),
    ))]
async fn trace_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: web::Data<Admin>,
) -> Result<HttpResponse, ApiError> {
    admin.check(&req, &state.auth)?;
    let user = UserPath::parse(&req)?;
    let tracer = &state.metrics.trace;
    let until = tracer.until_shared(&user).await?;
    let records = tracer.records(&user).await?;
    Ok(no_store(TraceState {
        user: user.as_str().to_owned(),
        tracing: until.is_some(),
        until_ms: until,
        recording_here: Some(tracer.tracing(&user)),
        instance: Some(admin.instance.clone()),
        records: Some(records),
    }))
}

impl TraceState {
    /// The answer to turning a trace on (until `until`) or off.
    fn switched(user: &UserId, until: Option<u64>) -> Self {
        Self {
            user: user.as_str().to_owned(),
            tracing: until.is_some(),
            until_ms: until,
            recording_here: None,
            instance: None,
            records: None,
        }
    }
}
