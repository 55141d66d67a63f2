//! `/users/{user}/contact`: a user's email address and fallback preference, kept by the app
//! ahead of time (publish key). Email needs the redis broker; on the memory broker these
//! answer 501 saying so.

use actix_web::{HttpRequest, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{params::UserPath, read_body};
use crate::{
    auth::Authenticator,
    email::{
        Email,
        contacts::{Contact, ContactBody},
    },
    error::{ApiError, ErrorBody},
};

/// Largest contact body.
const MAX_BODY: usize = 4 * 1024;

/// A user's contact.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserContact {
    /// The user.
    pub user: String,
    /// The contact.
    pub contact: Contact,
}

/// The outcome of removing a contact.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactRemoved {
    /// The user.
    pub user: String,
    /// True when the user had a contact.
    pub removed: bool,
}

/// Sets a user's contact, replacing any previous one: `{"email": "...", "email_fallback": true}`.
#[utoipa::path(
    put, path = "/users/{user}/contact", tag = "offline",
    params(UserPath),
    request_body(content = ContactBody, content_type = "application/json"),
    security(("publish_key" = [])),
    responses(
        (status = 200, description = "Set", body = UserContact),
        (status = 400, description = "Malformed user id (`bad_event`), or not a valid contact (`bad_contact`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 413, description = "Body over 4 KiB", body = ErrorBody),
        (status = 501, description = "The relay runs on the memory broker (`email_needs_redis`)", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn contact_put(
    req: HttpRequest,
    mut payload: web::Payload,
    auth: web::Data<Authenticator>,
    email: web::Data<Email>,
) -> Result<web::Json<UserContact>, ApiError> {
    auth.publisher(&req)?;
    let user = UserPath::parse(&req)?;
    let store = email.store()?;
    let body = read_body(&req, &mut payload, MAX_BODY).await?;
    let contact = Contact::parse(&body)?;
    store.contacts.put(&user, &contact).await?;
    Ok(web::Json(UserContact {
        user: user.as_str().to_owned(),
        contact,
    }))
}

/// A user's contact, or 404.
#[utoipa::path(
    get, path = "/users/{user}/contact", tag = "offline",
    params(UserPath),
    security(("publish_key" = [])),
    responses(
        (status = 200, description = "The contact", body = UserContact),
        (status = 400, description = "Malformed user id (`bad_event`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 404, description = "The user has no contact (`not_found`)", body = ErrorBody),
        (status = 501, description = "The relay runs on the memory broker (`email_needs_redis`)", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn contact_get(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    email: web::Data<Email>,
) -> Result<web::Json<UserContact>, ApiError> {
    auth.publisher(&req)?;
    let user = UserPath::parse(&req)?;
    match email.store()?.contacts.get(&user).await? {
        Some(contact) => Ok(web::Json(UserContact {
            user: user.as_str().to_owned(),
            contact,
        })),
        None => Err(ApiError::NotFound),
    }
}

/// Removes a user's contact: the user gets no more email.
#[utoipa::path(
    delete, path = "/users/{user}/contact", tag = "offline",
    params(UserPath),
    security(("publish_key" = [])),
    responses(
        (status = 200, description = "Removed, or there was none", body = ContactRemoved),
        (status = 400, description = "Malformed user id (`bad_event`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 501, description = "The relay runs on the memory broker (`email_needs_redis`)", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn contact_delete(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    email: web::Data<Email>,
) -> Result<web::Json<ContactRemoved>, ApiError> {
    auth.publisher(&req)?;
    let user = UserPath::parse(&req)?;
    let removed = email.store()?.contacts.delete(&user).await?;
    Ok(web::Json(ContactRemoved {
        user: user.as_str().to_owned(),
        removed,
    }))
}
