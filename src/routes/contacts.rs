//! `/users/{user}/contact`: a user's email address and fallback preference, kept by the app
//! ahead of time (publish key). Email needs the redis broker; on the memory broker these
//! answer 501 saying so.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{AppState, read_body};
use crate::{email::contacts::Contact, error::ApiError, event::UserId};

/// Largest contact body.
const MAX_BODY: usize = 4 * 1024;

fn user(req: &HttpRequest) -> Result<UserId, ApiError> {
    Ok(UserId::parse(&super::path::param(req, "user"))?)
}

/// Sets the contact: `{"email": "...", "email_fallback": true}`.
pub async fn put(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.auth.publisher(&req)?;
    let user = user(&req)?;
    let store = state.offline.store()?;
    let body = read_body(&req, &mut payload, MAX_BODY).await?;
    let contact = Contact::parse(&body)?;
    store.contacts.put(&user, &contact).await?;
    Ok(HttpResponse::Ok().json(json!({ "user": user.as_str(), "contact": contact })))
}

/// The contact, or 404.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.auth.publisher(&req)?;
    let user = user(&req)?;
    match state.offline.store()?.contacts.get(&user).await? {
        Some(contact) => {
            Ok(HttpResponse::Ok().json(json!({ "user": user.as_str(), "contact": contact })))
        }
        None => Err(ApiError::NotFound),
    }
}

/// Removes the contact: the user gets no more email.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.auth.publisher(&req)?;
    let user = user(&req)?;
    let removed = state.offline.store()?.contacts.delete(&user).await?;
    Ok(HttpResponse::Ok().json(json!({ "user": user.as_str(), "removed": removed })))
}
