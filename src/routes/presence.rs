//! `GET /presence/{user}`: whether a user has a live connection on any instance (publish key).

use actix_web::{HttpRequest, HttpResponse, web};

use super::params::UserPath;
use crate::{
    auth::Authenticator,
    error::{ApiError, ErrorBody},
    presence::{Presence, Status},
};

/// Whether a user has a live connection on any instance: `{"online": bool, "connections": n}`.
#[utoipa::path(
    get, path = "/presence/{user}", tag = "offline",
    params(UserPath),
    security(("publish_key" = [])),
    responses(
        (status = 200, description = "Presence", body = Status),
        (status = 400, description = "Malformed user id (`bad_event`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn presence(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    presence: web::Data<Presence>,
) -> Result<HttpResponse, ApiError> {
    auth.publisher(&req)?;
    let user = UserPath::parse(&req)?;
    let status = presence.status(&user).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(status))
}
