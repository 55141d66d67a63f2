//! `GET /notifications?user=&status=&limit=`: the notification log, newest first (publish key).
//! Read from the SQL table when `--notifications-db` is set, else from Redis.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::query;
use crate::{
    auth::Authenticator,
    email::{
        Email, EmailError,
        notification_log::{Page, Status},
    },
    error::{ApiError, ErrorBody},
    event::UserId,
};

/// Most records in one answer.
const MAX_LIMIT: usize = 1_000;
/// Longest a read from the notifications database may take before the answer is a 503.
const DB_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Deserialize)]
struct LogQuery {
    user: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
}

/// The notification log, newest first, optionally of one user and in one status: from the
/// SQL table when `--notifications-db` is set, else from Redis.
#[utoipa::path(
    get, path = "/notifications", tag = "offline",
    params(
        ("user" = Option<String>, Query, min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$", description = "Only this user's records"),
        ("status" = Option<String>, Query, pattern = r"^(queued|sent|failed)$", description = "Only records in this status"),
        ("limit" = Option<u64>, Query, description = "Most records, clamped to 1..=1000 (default 50)"),
    ),
    security(("publish_key" = [])),
    responses(
        (status = 200, description = "Records", body = Page),
        (status = 400, description = "Malformed query (`bad_query`) or user id (`bad_event`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 501, description = "The relay runs on the memory broker (`email_needs_redis`)", body = ErrorBody),
        (status = 503, description = "The broker is unreachable (`broker_unavailable`), or the notifications database (`notifications_db_unavailable`)", body = ErrorBody),
    )
)]
pub async fn notifications(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    email: web::Data<Email>,
) -> Result<HttpResponse, ApiError> {
    auth.publisher(&req)?;
    let q: LogQuery = query(&req)?;
    let store = email.store()?;
    let user = q.user.as_deref().map(UserId::parse).transpose()?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            serde_json::from_value::<Status>(json!(s))
                .map_err(|_| EmailError::BadQuery("status must be queued, sent or failed".into()))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
    let page = match &store.db {
        Some(db) => {
            let read = db.list(user.as_ref(), status.map(Status::as_str), limit);
            let notifications = match tokio::time::timeout(DB_READ_TIMEOUT, read).await {
                Ok(Ok(records)) => records,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot read the notification log from its database");
                    return Err(EmailError::DbUnavailable.into());
                }
                Err(_) => {
                    tracing::warn!("the notification log's database took too long to answer");
                    return Err(EmailError::DbUnavailable.into());
                }
            };
            Page {
                notifications,
                partial: false,
            }
        }
        None => {
            store
                .notification_log
                .list(user.as_ref(), status, limit)
                .await?
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(page))
}
