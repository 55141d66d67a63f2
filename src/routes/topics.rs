//! `/topics/{topic}/subscribers`: who follows what, kept by the app ahead of time (publish key).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{AppState, query, read_body};
use crate::{
    error::ApiError,
    event::{EventError, Topic, UserId},
};

/// Largest `PUT /topics/{topic}/subscribers` body.
const MAX_REPLACE_BYTES: usize = 8 * 1024 * 1024;
/// Most subscribers one replace may set.
const MAX_REPLACE_USERS: usize = 200_000;
/// Most subscribers in one page.
const MAX_PAGE: usize = 1_000;

fn topic(req: &HttpRequest) -> Result<Topic, ApiError> {
    Ok(Topic::parse(&super::path::param(req, "topic"))?)
}

fn user(req: &HttpRequest) -> Result<UserId, ApiError> {
    Ok(UserId::parse(&super::path::param(req, "user"))?)
}

/// Subscribes a user to a topic.
pub async fn add(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.auth.publisher(&req)?;
    let (topic, user) = (topic(&req)?, user(&req)?);
    let added = state.broker.topic_add(&topic, &user).await?;
    Ok(HttpResponse::Ok()
        .json(json!({ "topic": topic.as_str(), "user": user.as_str(), "added": added })))
}

/// Unsubscribes a user from a topic.
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.auth.publisher(&req)?;
    let (topic, user) = (topic(&req)?, user(&req)?);
    let removed = state.broker.topic_remove(&topic, &user).await?;
    Ok(HttpResponse::Ok()
        .json(json!({ "topic": topic.as_str(), "user": user.as_str(), "removed": removed })))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// One page of a topic's subscribers, in byte order; `next` is the `after` of the next page.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.auth.publisher(&req)?;
    let topic = topic(&req)?;
    let q: ListQuery = query(&req)?;
    let after = q.after.as_deref().map(UserId::parse).transpose()?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let page = state
        .broker
        .topic_members(&topic, after.as_ref(), limit)
        .await?;
    let next = (page.len() == limit)
        .then(|| page.last().map(UserId::as_str))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({
        "topic": topic.as_str(),
        "subscribers": page.iter().map(UserId::as_str).collect::<Vec<_>>(),
        "next": next,
    })))
}

#[derive(Debug, Deserialize)]
struct ReplaceBody {
    subscribers: Vec<serde_json::Value>,
}

/// Replaces the whole subscriber set: `{"subscribers": [..]}` (an empty list clears it).
pub async fn replace(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.auth.publisher(&req)?;
    let topic = topic(&req)?;
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
    state.broker.topic_replace(&topic, &users).await?;
    Ok(HttpResponse::Ok().json(json!({ "topic": topic.as_str(), "count": users.len() })))
}
