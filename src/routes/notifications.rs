//! `GET /notifications?user=&status=&limit=`: the notification log, newest first (publish key).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{AppState, query};
use crate::{
    email::{EmailError, log::Status},
    error::ApiError,
    event::UserId,
};

/// Most records in one answer.
const MAX_LIMIT: usize = 1_000;

#[derive(Debug, Deserialize)]
struct LogQuery {
    user: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
}

/// Lists log records, optionally of one user and in one status.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.auth.publisher(&req)?;
    let q: LogQuery = query(&req)?;
    let store = state.offline.store()?;
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
    let records = store.log.list(user.as_ref(), status, limit).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "notifications": records })))
}
