//! The description of the offline-delivery routes (publish key): `/presence/{user}`,
//! `/users/{user}/contact` and `/notifications`. Contacts and the log live in Redis: on the
//! memory broker those routes answer 501 `email_needs_redis`.

use utoipa::ToSchema;

use super::spec::ErrorBody;

/// Whether a user is connected anywhere.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Presence {
    /// True when the user has a live connection on some instance.
    online: bool,
    /// Their live connections over all instances.
    connections: u64,
}

/// A contact as the relay keeps it (the address trimmed).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Contact {
    /// Where email goes.
    email: String,
    /// Whether events the user missed may be emailed.
    email_fallback: bool,
}

/// Placeholder for the contact body; [`super::document`] writes the real schema.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactBody {}

/// A user's contact.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserContact {
    /// The user.
    user: String,
    /// The contact.
    contact: Contact,
}

/// The outcome of removing a contact.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactRemoved {
    /// The user.
    user: String,
    /// True when the user had a contact.
    removed: bool,
}

/// One email in the notification log.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Notification {
    /// The notification id (the outbox entry id).
    id: String,
    /// The recipient.
    user: String,
    /// Always `email` for now.
    #[schema(rename = "type")]
    kind: String,
    /// `queued`, `sent` or `failed`.
    #[schema(pattern = r"^(queued|sent|failed)$")]
    status: String,
    /// SMTP attempts made.
    attempts: u64,
    /// The address it went to.
    email: Option<String>,
    /// The events it carries.
    event_ids: Vec<String>,
    /// The SMTP server's answer on success.
    smtp_response: Option<String>,
    /// The last failure, if any.
    error_message: Option<String>,
    /// When it was queued, ms since the epoch.
    created_at_ms: u64,
    /// When it last changed, ms since the epoch.
    updated_at_ms: u64,
}

/// Log records, newest first.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Notifications {
    /// The records.
    notifications: Vec<Notification>,
    /// True when a search by `status` in Redis stopped after the newest 2,000 records (or
    /// `limit`, if more) before finding `limit` matches: older matches may exist. Always false
    /// when the log is read from `--notifications-db`.
    partial: bool,
}

/// Whether a user has a live connection on any instance.
#[utoipa::path(
    get, path = "/presence/{user}", tag = "offline",
    params(("user" = String, Path, pattern = r"^[^\u0000-\u001f\u007f-\u009f/%?#]{1,128}$", description = "The user id")),
    security(("publish_key" = [])),
    responses(
        (status = 200, description = "Presence", body = Presence),
        (status = 400, description = "Malformed user id (`bad_event`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
#[allow(dead_code)]
pub fn presence() {}

/// Sets a user's contact, replacing any previous one.
#[utoipa::path(
    put, path = "/users/{user}/contact", tag = "offline",
    params(("user" = String, Path, pattern = r"^[^\u0000-\u001f\u007f-\u009f/%?#]{1,128}$", description = "The user id")),
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
#[allow(dead_code)]
pub fn contact_put() {}

/// A user's contact.
#[utoipa::path(
    get, path = "/users/{user}/contact", tag = "offline",
    params(("user" = String, Path, pattern = r"^[^\u0000-\u001f\u007f-\u009f/%?#]{1,128}$", description = "The user id")),
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
#[allow(dead_code)]
pub fn contact_get() {}

/// Removes a user's contact: the user gets no more email.
#[utoipa::path(
    delete, path = "/users/{user}/contact", tag = "offline",
    params(("user" = String, Path, pattern = r"^[^\u0000-\u001f\u007f-\u009f/%?#]{1,128}$", description = "The user id")),
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
#[allow(dead_code)]
pub fn contact_delete() {}

/// The notification log, newest first: from the SQL table when `--notifications-db` is set,
/// else from Redis.
#[utoipa::path(
    get, path = "/notifications", tag = "offline",
    params(
        ("user" = Option<String>, Query, min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$", description = "Only this user's records"),
        ("status" = Option<String>, Query, pattern = r"^(queued|sent|failed)$", description = "Only records in this status"),
        ("limit" = Option<u64>, Query, description = "Most records, clamped to 1..=1000 (default 50)"),
    ),
    security(("publish_key" = [])),
    responses(
        (status = 200, description = "Records", body = Notifications),
        (status = 400, description = "Malformed query (`bad_query`) or user id (`bad_event`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 501, description = "The relay runs on the memory broker (`email_needs_redis`)", body = ErrorBody),
        (status = 503, description = "The broker is unreachable (`broker_unavailable`), or the notifications database (`notifications_db_unavailable`)", body = ErrorBody),
    )
)]
#[allow(dead_code)]
pub fn notifications() {}
