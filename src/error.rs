//! The one place where failures become HTTP statuses and JSON bodies.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    auth::AuthError, broker::BrokerError, email::EmailError, event::EventError, hub::HubError,
};

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A short machine-readable code, e.g. `bad_query`, `unauthorized`, `broker_unavailable`.
    pub error: &'static str,
    /// What was wrong.
    pub message: String,
}

/// An error answered to an HTTP client as an [`ErrorBody`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Authentication failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A message, user id or cursor is malformed.
    #[error(transparent)]
    Event(#[from] EventError),
    /// A query parameter is malformed.
    #[error("bad query: {0}")]
    Query(String),
    /// A subscriber limit was hit.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// The store is unreachable, or refused the event (a topic over its cap).
    #[error("{}", broker_message(.0))]
    Broker(#[from] BrokerError),
    /// The relay has not finished starting (its log tail is not positioned yet).
    #[error("the relay is starting; retry shortly")]
    NotReady,
    /// No such route.
    #[error("no such endpoint")]
    NotFound,
    /// The client's address already holds the most open `/events` streams allowed.
    #[error("your address already has {0} open event streams; close one or retry later")]
    AddressLimit(usize),
    /// Too many requests of one kind from one client or key.
    #[error("too many {what}; retry in {retry_after} s")]
    RateLimited {
        /// What was counted.
        what: &'static str,
        /// Seconds until a retry can succeed.
        retry_after: u64,
    },
    /// The request's headers are larger than allowed.
    #[error("request headers exceed {0} bytes")]
    HeadersTooLarge(usize),
    /// The query string is longer than allowed.
    #[error("query string exceeds {0} bytes")]
    QueryTooLong(usize),
    /// A CORS preflight was refused (origin, method or header not allowed).
    #[error("{0}")]
    CorsRefused(String),
    /// A demo-mode route was asked from somewhere other than this machine.
    #[error(
        "demo mode answers requests from this machine only: to localhost, 127.0.0.1 or [::1], not forwarded by a proxy"
    )]
    DemoLocalOnly,
    /// An email request (contact, log) was refused.
    #[error(transparent)]
    Email(#[from] EmailError),
    /// The path is longer than allowed.
    #[error("path exceeds {0} bytes")]
    PathTooLong(usize),
    /// A body of a type the route does not take (`/publish` takes `application/json` only).
    #[error("send the body as Content-Type: application/json")]
    UnsupportedMediaType,
    /// A known path asked with a method it does not serve; holds the ones it does.
    #[error("method not allowed: use {0}")]
    MethodNotAllowed(String),
    /// A failure that is the relay's fault; the cause goes to the log.
    #[error("internal error")]
    Internal,
}

/// The client sees why a broker refused an event it could act on, and a generic message for
/// everything else (the cause goes to the log).
fn broker_message(e: &BrokerError) -> String {
    match e {
        BrokerError::TopicTooLarge(_) => e.to_string(),
        _ => "the event store is unavailable; retry shortly".to_owned(),
    }
}

impl ApiError {
    /// The short machine-readable code sent as `error` (also a metrics label).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth(AuthError::PublishDisabled) => "publish_disabled",
            Self::Auth(AuthError::BadPublishKey) => "bad_publish_key",
            Self::Auth(AuthError::Expired) => "token_expired",
            Self::Auth(AuthError::BadMetricsKey) => "bad_metrics_key",
            Self::Auth(AuthError::BadAdminKey) => "bad_admin_key",
            Self::Auth(AuthError::ConflictingTokens) => "conflicting_tokens",
            Self::Auth(AuthError::TooManyFailures(_)) => "rate_limited",
            Self::Auth(_) => "unauthorized",
            Self::Event(EventError::TooLarge(_)) => "payload_too_large",
            Self::Event(EventError::BadCursor) => "bad_cursor",
            Self::Event(EventError::BadTopic) => "bad_topic",
            Self::Event(EventError::BadIdempotencyKey) => "bad_idempotency_key",
            Self::Event(EventError::ReservedEventName(_)) => "reserved_event",
            Self::Event(_) => "bad_event",
            Self::Query(_) => "bad_query",
            Self::Hub(HubError::UserLimit(_)) => "too_many_connections_for_user",
            Self::Hub(HubError::TotalLimit) => "relay_full",
            Self::Hub(HubError::ShuttingDown) => "shutting_down",
            Self::Broker(BrokerError::TopicTooLarge(_)) => "topic_too_large",
            Self::Broker(_) => "broker_unavailable",
            Self::NotReady => "not_ready",
            Self::NotFound => "not_found",
            Self::RateLimited { .. } => "rate_limited",
            Self::AddressLimit(_) => "too_many_connections_for_address",
            Self::HeadersTooLarge(_) => "headers_too_large",
            Self::QueryTooLong(_) => "query_too_long",
            Self::CorsRefused(_) => "cors_refused",
            Self::DemoLocalOnly => "demo_local_only",
            Self::Email(EmailError::NeedsRedis) => "email_needs_redis",
            Self::Email(EmailError::BadContact(_)) => "bad_contact",
            Self::Email(EmailError::BadQuery(_)) => "bad_query",
            Self::Email(EmailError::DbUnavailable) => "notifications_db_unavailable",
            Self::Email(_) => "email_unavailable",
            Self::PathTooLong(_) => "path_too_long",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Internal => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Auth(AuthError::PublishDisabled) => StatusCode::FORBIDDEN,
            Self::Auth(AuthError::ConflictingTokens) => StatusCode::BAD_REQUEST,
            Self::Auth(AuthError::TooManyFailures(_)) => StatusCode::TOO_MANY_REQUESTS,
            Self::Auth(_) => StatusCode::UNAUTHORIZED,
            Self::Event(EventError::TooLarge(_)) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Event(_) | Self::Query(_) => StatusCode::BAD_REQUEST,
            Self::Broker(BrokerError::TopicTooLarge(_)) => StatusCode::BAD_REQUEST,
            Self::Hub(HubError::UserLimit(_)) => StatusCode::TOO_MANY_REQUESTS,
            Self::Hub(_) | Self::Broker(_) | Self::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            Self::Email(EmailError::DbUnavailable) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::RateLimited { .. } | Self::AddressLimit(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::QueryTooLong(_) => StatusCode::URI_TOO_LONG,
            Self::DemoLocalOnly | Self::CorsRefused(_) => StatusCode::FORBIDDEN,
            Self::Email(EmailError::NeedsRedis) => StatusCode::NOT_IMPLEMENTED,
            Self::Email(EmailError::BadContact(_) | EmailError::BadQuery(_)) => {
                StatusCode::BAD_REQUEST
            }
            Self::Email(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::PathTooLong(_) => StatusCode::URI_TOO_LONG,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Broker(cause) = self
            && !matches!(cause, BrokerError::TopicTooLarge(_))
            && let Some(suppressed) = crate::telemetry::failure_line_budget()
        {
            // The client gets a generic message; the cause goes to the log (within a budget:
            // in an outage every request fails).
            tracing::warn!(error = %cause, suppressed, "request failed on the broker");
        }
        let mut res = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            res.insert_header(("Retry-After", "1"));
        }
        if let Self::RateLimited { retry_after, .. }
        | Self::Auth(AuthError::TooManyFailures(retry_after)) = self
        {
            res.insert_header(("Retry-After", retry_after.to_string()));
        }
        if let Self::AddressLimit(_) = self {
            res.insert_header((
                "Retry-After",
                crate::address_slots::RETRY_AFTER_SECS.to_string(),
            ));
        }
        if let Self::MethodNotAllowed(allow) = self {
            res.insert_header((actix_web::http::header::ALLOW, allow.as_str()));
        }
        res.insert_header(("Cache-Control", "no-store"))
            .json(ErrorBody {
                error: self.code(),
                message: self.to_string(),
            })
    }
}
