//! Local demo mode only: hands the demo page a token for a user id it picks.

use actix_web::{
    HttpRequest, HttpResponse,
    cookie::{Cookie, SameSite},
    web,
};
use serde::Deserialize;
use serde_json::json;

use super::{AppState, query};
use crate::{auth::TOKEN_COOKIE, error::ApiError, event::UserId};

/// Demo mode listens on loopback only; a local proxy could still carry outside requests in, so
/// a request that was forwarded (or, defensively, one from a non-loopback peer) is refused.
fn local_only(req: &HttpRequest) -> Result<(), ApiError> {
    let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|h| req.headers().contains_key(*h));
    let loopback = req.peer_addr().is_some_and(|a| a.ip().is_loopback());
    if forwarded || !loopback {
        return Err(ApiError::DemoLocalOnly);
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    user_id: String,
}

/// Mints a one-hour token for `?user_id=` and sets it as an HttpOnly cookie too.
pub async fn token(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    local_only(&req)?;
    let q: TokenQuery = query(&req)?;
    let user = UserId::parse(&q.user_id)?;
    let token = state.auth.mint(&user, 3600);
    let cookie = Cookie::build(TOKEN_COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "user_id": user.as_str(), "token": token, "demo": true })))
}
