//! `/topics/{topic}/subscribers`: who follows what, kept by the app ahead of time (publish key).

use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    params::{TopicPath, UserPath},
    query, read_body,
};
use crate::{
    auth::Authenticator,
    broker::Broker,
    error::{ApiError, ErrorBody},
    event::{EventError, UserId},
};

/// Largest `PUT /topics/{topic}/subscribers` body.
pub const MAX_REPLACE_BYTES: usize = 8 * 1024 * 1024;
/// Most subscribers one replace may set.
pub const MAX_REPLACE_USERS: usize = 200_000;
/// Most subscribers in one page.
const MAX_PAGE: usize = 1_000;

/// The outcome of subscribing one user.
#[derive(Debug, Serialize, ToSchema)]
pub struct Subscribed {
    /// The topic.
    pub topic: String,
    /// The user.
    pub user: String,
    /// True the first time, false when the user was subscribed already.
    pub added: bool,
}

/// The outcome of unsubscribing one user.
#[derive(Debug, Serialize, ToSchema)]
pub struct Unsubscribed {
    /// The topic.
    pub topic: String,
    /// The user.
    pub user: String,
    /// True when the user was subscribed.
    pub removed: bool,
}

/// One page of a topic's subscribers.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscribersPage {
    /// The topic.
    pub topic: String,
    /// User ids in byte order.
    pub subscribers: Vec<String>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<String>,
}

/// The outcome of replacing a subscriber set.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopicReplaced {
    /// The topic.
    pub topic: String,
    /// Subscribers now (duplicates counted once).
    pub count: u64,
}

/// Subscribes a user to a topic.
#[utoipa::path(
    put, path = "/topics/{topic}/subscribers/{user}", tag = "topics",
    params(TopicPath, UserPath),
    security(("publish_key" = [])),
    responses(
        (status = 200, description = "Subscribed", body = Subscribed),
        (status = 400, description = "Malformed topic or user id", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn topic_add(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    broker: web::Data<dyn Broker>,
) -> Result<web::Json<Subscribed>, ApiError> {
    auth.publisher(&req)?;
    let (topic, user) = (TopicPath::parse(&req)?, UserPath::parse(&req)?);
    let added = broker.topic_add(&topic, &user).await?;
    Ok(web::Json(Subscribed {
        topic: topic.as_str().to_owned(),
        user: user.as_str().to_owned(),
        added,
    }))
}

/// Unsubscribes a user from a topic.
#[utoipa::path(
    delete, path = "/topics/{topic}/subscribers/{user}", tag = "topics",
    params(TopicPath, UserPath),
    security(("publish_key" = [])),
    responses(
        (status = 200, description = "Unsubscribed", body = Unsubscribed),
        (status = 400, description = "Malformed topic or user id", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn topic_remove(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    broker: web::Data<dyn Broker>,
) -> Result<web::Json<Unsubscribed>, ApiError> {
    auth.publisher(&req)?;
    let (topic, user) = (TopicPath::parse(&req)?, UserPath::parse(&req)?);
    let removed = broker.topic_remove(&topic, &user).await?;
    Ok(web::Json(Unsubscribed {
        topic: topic.as_str().to_owned(),
        user: user.as_str().to_owned(),
        removed,
    }))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// One page of a topic's subscribers, in byte order; `next` is the `after` of the next page.
#[utoipa::path(
    get, path = "/topics/{topic}/subscribers", tag = "topics",
    params(
        TopicPath,
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
pub async fn topic_list(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    broker: web::Data<dyn Broker>,
) -> Result<web::Json<SubscribersPage>, ApiError> {
    auth.publisher(&req)?;
    let topic = TopicPath::parse(&req)?;
    let q: ListQuery = query(&req)?;
    let after = q.after.as_deref().map(UserId::parse).transpose()?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let page = broker.topic_members(&topic, after.as_ref(), limit).await?;
    let next = (page.len() == limit)
        .then(|| page.last().map(|u| u.as_str().to_owned()))
        .flatten();
    Ok(web::Json(SubscribersPage {
        topic: topic.as_str().to_owned(),
        subscribers: page.iter().map(|u| u.as_str().to_owned()).collect(),
        next,
    }))
}

/// The replace body: `{"subscribers": [..]}`. Its schema, with the limits, is written by
/// `describe::limits` (user ids are strings or integers).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReplaceBody {
    /// The new subscriber set; an empty list clears it.
    #[schema(value_type = Vec<Object>)]
    subscribers: Vec<serde_json::Value>,
}

/// Replaces a topic's whole subscriber set (an empty list clears it).
#[utoipa::path(
    put, path = "/topics/{topic}/subscribers", tag = "topics",
    params(TopicPath),
    request_body(content = ReplaceBody, content_type = "application/json"),
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
pub async fn topic_replace(
    req: HttpRequest,
    mut payload: web::Payload,
    auth: web::Data<Authenticator>,
    broker: web::Data<dyn Broker>,
) -> Result<web::Json<TopicReplaced>, ApiError> {
    auth.publisher(&req)?;
    let topic = TopicPath::parse(&req)?;
    let body = read_body(&req, &mut payload, MAX_REPLACE_BYTES).await?;
    let body: ReplaceBody =
        serde_json::from_slice(&body).map_err(|e| EventError::NotJson(e.to_string()))?;
    if body.subscribers.len() > MAX_REPLACE_USERS {
        return Err(EventError::TooManyRecipients(MAX_REPLACE_USERS).into());
    }
    let mut users = body
        .subscribers
        .iter()
        .map(UserId::from_json)
        .collect::<Result<Vec<_>, _>>()?;
    users.sort();
    users.dedup();
    broker.topic_replace(&topic, &users).await?;
    Ok(web::Json(TopicReplaced {
        topic: topic.as_str().to_owned(),
        count: users.len() as u64,
    }))
}
