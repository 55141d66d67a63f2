//! `GET /presence/{user}`: whether a user has a live connection on any instance (publish key).

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use crate::{error::ApiError, event::UserId};

/// Answers `{"online": bool, "connections": n}`.
pub async fn presence(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.auth.publisher(&req)?;
    let user = UserId::parse(&super::path::param(&req, "user"))?;
    let status = state.offline.presence.status(&user).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(status))
}
