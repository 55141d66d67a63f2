//! The description of `/topics/{topic}/subscribers[/{user}]` (publish key).

use utoipa::ToSchema;

use super::spec::ErrorBody;

/// A topic name: 1 to 128 of `A-Z a-z 0-9 : _ . - /`.
pub const TOPIC_PATTERN: &str = r"^[A-Za-z0-9:_./-]{1,128}$";
/// Most subscribers one replace may set (the route's own limit).
pub const MAX_REPLACE_USERS: usize = 200_000;

/// Placeholder for the replace body; [`super::document`] writes the real schema.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Subscribers {}

/// One page of a topic's subscribers.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SubscribersPage {
    /// The topic.
    topic: String,
    /// User ids in byte order.
    subscribers: Vec<String>,
    /// Pass as `after` for the next page; null on the last page.
    next: Option<String>,
}

/// The outcome of subscribing or unsubscribing one user.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TopicMembership {
    /// The topic.
    topic: String,
    /// The user.
    user: String,
    /// On subscribe: true the first time.
    added: Option<bool>,
    /// On unsubscribe: true when the user was subscribed.
    removed: Option<bool>,
}

/// The outcome of replacing a subscriber set.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TopicReplaced {
    /// The topic.
    topic: String,
    /// Subscribers now (duplicates counted once).
    count: u64,
}

/// One page of a topic's subscribers.
#[utoipa::path(
    get, path = "/topics/{topic}/subscribers", tag = "topics",
    params(
        ("topic" = String, Path, pattern = r"^[A-Za-z0-9:_.-]{1,128}$", description = "The topic name"),
        ("after" = Option<String>, Query, min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$", description = "The `next` of the previous page"),
        ("limit" = Option<u64>, Query, description = "Page size, clamped to 1..=1000 (default 100)"),
    ),
    security(("publish_key" = [])),
    responses(
        (status = 200, description = "A page", body = SubscribersPage),
        (status = 400, description = "Malformed topic, user id or query", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
#[allow(dead_code)]
pub fn topic_list() {}

/// Replaces a topic's whole subscriber set (an empty list clears it).
#[utoipa::path(
    put, path = "/topics/{topic}/subscribers", tag = "topics",
    params(("topic" = String, Path, pattern = r"^[A-Za-z0-9:_.-]{1,128}$", description = "The topic name")),
    request_body(content = Subscribers, content_type = "application/json"),
    security(("publish_key" = [])),
    responses(
        (status = 200, description = "Replaced", body = TopicReplaced),
        (status = 400, description = "Malformed topic, body or user id", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 413, description = "Body over 8 MiB", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
#[allow(dead_code)]
pub fn topic_replace() {}

/// Subscribes a user to a topic.
#[utoipa::path(
    put, path = "/topics/{topic}/subscribers/{user}", tag = "topics",
    params(
        ("topic" = String, Path, pattern = r"^[A-Za-z0-9:_.-]{1,128}$", description = "The topic name"),
        ("user" = String, Path, pattern = r"^[^\u0000-\u001f\u007f-\u009f/%?#]{1,128}$", description = "The user id"),
    ),
    security(("publish_key" = [])),
    responses(
        (status = 200, description = "Subscribed", body = TopicMembership),
        (status = 400, description = "Malformed topic or user id", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
#[allow(dead_code)]
pub fn topic_add() {}

/// Unsubscribes a user from a topic.
#[utoipa::path(
    delete, path = "/topics/{topic}/subscribers/{user}", tag = "topics",
    params(
        ("topic" = String, Path, pattern = r"^[A-Za-z0-9:_.-]{1,128}$", description = "The topic name"),
        ("user" = String, Path, pattern = r"^[^\u0000-\u001f\u007f-\u009f/%?#]{1,128}$", description = "The user id"),
    ),
    security(("publish_key" = [])),
    responses(
        (status = 200, description = "Unsubscribed", body = TopicMembership),
        (status = 400, description = "Malformed topic or user id", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
#[allow(dead_code)]
pub fn topic_remove() {}
