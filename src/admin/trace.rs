//! The delivery trace endpoints: turn a user's trace on or off on every instance, and read it.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Admin, no_store};
use crate::{
    auth::Authenticator,
    error::{ApiError, ErrorBody},
    event::UserId,
    routes::params::UserPath,
    trace::{self, Tracer},
};

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
pub(super) async fn trace_start(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    admin: web::Data<Admin>,
    tracer: web::Data<Tracer>,
) -> Result<HttpResponse, ApiError> {
    admin.check(&req, &auth)?;
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
    tracer.start(&user, until).await?;
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
pub(super) async fn trace_stop(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    admin: web::Data<Admin>,
    tracer: web::Data<Tracer>,
) -> Result<HttpResponse, ApiError> {
    admin.check(&req, &auth)?;
    let user = UserPath::parse(&req)?;
    tracer.stop(&user).await?;
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
pub(super) async fn trace_get(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    admin: web::Data<Admin>,
    tracer: web::Data<Tracer>,
) -> Result<HttpResponse, ApiError> {
    admin.check(&req, &auth)?;
    let user = UserPath::parse(&req)?;
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
