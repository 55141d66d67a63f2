//! The operations and bodies that utoipa derives: described on stubs, since the handlers build
//! their answers with `json!` (the description lives in one place; schemathesis checks it
//! against the real answers).

use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::offline::{
    __path_contact_delete, __path_contact_get, __path_contact_put, __path_notifications,
    __path_presence, Contact, ContactBody, ContactRemoved, Notification, Notifications, Presence,
    UserContact,
};
use super::topics::{
    __path_topic_add, __path_topic_list, __path_topic_remove, __path_topic_replace, Subscribers,
    SubscribersPage, TopicMembership, TopicReplaced,
};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "notify-relay",
        description = "Pushes per-user notifications to browsers over Server-Sent Events and long-poll."
    ),
    paths(
        events, events_preflight, poll, poll_preflight, publish, topic_list, topic_replace,
        topic_add, topic_remove, presence, contact_put, contact_get, contact_delete,
        notifications, healthz, readyz, metrics, openapi
    ),
    components(schemas(
        ErrorBody, PollAnswer, PolledEvent, Publication, Accepted, Health, Readiness,
        Subscribers, SubscribersPage, TopicMembership, TopicReplaced, Presence, Contact,
        ContactBody, UserContact, ContactRemoved, Notification, Notifications
    )),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// The schemes: a subscriber JWT in three places, the publish key, the optional metrics key.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let bearer = |desc: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(desc))
                    .build(),
            )
        };
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "subscriber_bearer",
            bearer("HS256 JWT whose `sub` is the user id"),
        );
        components.add_security_scheme(
            "subscriber_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("notify_token"))),
        );
        components.add_security_scheme(
            "subscriber_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("token"))),
        );
        components.add_security_scheme("publish_key", bearer("the --publish-key"));
        components.add_security_scheme("metrics_key", bearer("the --metrics-key, if set"));
    }
}

// The types below only describe JSON bodies (the handlers build the real ones), and the
// functions only carry the operations' descriptions: nothing constructs or calls them.

/// An error: a short machine-readable code and a human-readable message.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// e.g. `bad_query`, `unauthorized`, `broker_unavailable`.
    error: String,
    /// What was wrong.
    message: String,
}

/// One delivered event.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PolledEvent {
    /// The event's id, also the cursor after it.
    #[schema(pattern = r"^[0-9]+-[0-9]+$")]
    id: String,
    /// The SSE event name, if the publisher gave one.
    event: Option<String>,
    /// The object the publisher sent.
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

/// A poll answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PollAnswer {
    /// Events after the cursor, oldest first.
    events: Vec<PolledEvent>,
    /// The cursor to poll from next.
    #[schema(pattern = r"^[0-9]+-[0-9]+$")]
    cursor: String,
    /// True when the cursor was older than history: events may have been missed.
    reset: bool,
}

/// Placeholder for the message schema; [`super::document`] writes the real one.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Publication {}

/// A stored event.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Accepted {
    /// The assigned id; null when a topic had no subscribers, so nothing was stored.
    #[schema(pattern = r"^[0-9]+-[0-9]+$")]
    id: Option<String>,
    /// How many users it was stored for, after topic expansion and `exclude`.
    recipients: u64,
}

/// Liveness.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Health {
    /// Always `ok`.
    status: String,
}

/// Readiness details.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Readiness {
    /// `ok` or `unavailable`.
    broker: String,
    /// `live` or `starting`.
    tail: String,
    /// Open connections.
    connections: u64,
    /// `off`, `holder` or `standby`.
    bridge: String,
}

/// Opens the SSE stream of the token's user.
#[utoipa::path(
    get, path = "/events", tag = "subscribe",
    params(
        ("keepalive" = Option<String>, Query, pattern = r"^(comment|event)$", description = "`event`: keepalives as `event: keepalive` messages instead of comments"),
        ("last_event_id" = Option<String>, Query, pattern = r"^([0-9]{1,19}-[0-9]{1,19})?$", description = "Resume after this id (EventSource cannot set headers on first connect)"),
        ("Last-Event-ID" = Option<String>, Header, pattern = r"^([0-9]{1,19}-[0-9]{1,19})?$", description = "Resume after this id; wins over the query parameter"),
    ),
    security(("subscriber_bearer" = []), ("subscriber_cookie" = []), ("subscriber_query" = [])),
    responses(
        (status = 200, description = "The event stream: `retry:`, then `id:`/`event:`/`data:` blocks and `: keepalive` comments", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed cursor or query, or a header token and `?token=` that disagree (`conflicting_tokens`)", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired token", body = ErrorBody),
        (status = 429, description = "Too many connections for this user (`too_many_connections_for_user`), or new connections from this address over --connects-per-sec (`rate_limited`, with `Retry-After`), or this address already holds --max-connections-per-address open streams (`too_many_connections_for_address`, with `Retry-After`)", body = ErrorBody),
        (status = 503, description = "Starting, full, stopping, or the broker is unreachable", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn events() {}

/// CORS preflight for `/events`: granted only to the --cors-origins.
#[utoipa::path(
    options, path = "/events", tag = "subscribe",
    params(
        ("Origin" = String, Header, description = "The page's origin"),
        ("Access-Control-Request-Method" = String, Header, pattern = r"^[A-Za-z]{1,16}$", description = "The method the page will use (`GET`); without a valid one the request is no preflight"),
        ("Access-Control-Request-Headers" = Option<String>, Header, description = "Headers the page will send"),
    ),
    responses(
        (status = 200, description = "Allowed: the `Access-Control-Allow-*` headers say what"),
        (status = 403, description = "Refused: origin, method or header not allowed, or no Origin (`cors_refused`)", body = ErrorBody),
        (status = 405, description = "Not a preflight (no valid `Access-Control-Request-Method`): OPTIONS is not served otherwise (`method_not_allowed`)", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn events_preflight() {}

/// Long-poll: events after the cursor at once, else waits up to `timeout` seconds.
#[utoipa::path(
    get, path = "/poll", tag = "subscribe",
    params(
        ("cursor" = Option<String>, Query, pattern = r"^([0-9]{1,19}-[0-9]{1,19})?$", description = "The cursor of the last answer; absent or empty: answer at once with the current cursor"),
        ("timeout" = Option<u64>, Query, description = "Seconds to wait, capped by --poll-timeout-secs"),
    ),
    security(("subscriber_bearer" = []), ("subscriber_cookie" = []), ("subscriber_query" = [])),
    responses(
        (status = 200, description = "Events, the next cursor, and whether the cursor was reset", body = PollAnswer),
        (status = 400, description = "Malformed cursor or query, or a header token and `?token=` that disagree (`conflicting_tokens`)", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired token", body = ErrorBody),
        (status = 429, description = "Too many connections for this user (`too_many_connections_for_user`), or new connections from this address over --connects-per-sec (`rate_limited`, with `Retry-After`)", body = ErrorBody),
        (status = 503, description = "Starting, full, stopping, or the broker is unreachable", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn poll() {}

/// CORS preflight for `/poll`: granted only to the --cors-origins.
#[utoipa::path(
    options, path = "/poll", tag = "subscribe",
    params(
        ("Origin" = String, Header, description = "The page's origin"),
        ("Access-Control-Request-Method" = String, Header, pattern = r"^[A-Za-z]{1,16}$", description = "The method the page will use (`GET`); without a valid one the request is no preflight"),
        ("Access-Control-Request-Headers" = Option<String>, Header, description = "Headers the page will send"),
    ),
    responses(
        (status = 200, description = "Allowed: the `Access-Control-Allow-*` headers say what"),
        (status = 403, description = "Refused: origin, method or header not allowed, or no Origin (`cors_refused`)", body = ErrorBody),
        (status = 405, description = "Not a preflight (no valid `Access-Control-Request-Method`): OPTIONS is not served otherwise (`method_not_allowed`)", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn poll_preflight() {}

/// Stores an event for its recipients.
#[utoipa::path(
    post, path = "/publish", tag = "publish",
    request_body(content = Publication, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[A-Za-z0-9_.:/+=-]{1,128}$", description = "The publisher's name for this event, like the body's `idempotency_key`: a publish with a key already stored (for --idempotency-ttl-secs) stores nothing and answers the first one's 202 body")),
    security(("publish_key" = [])),
    responses(
        (status = 202, description = "Stored (or stored before under this idempotency key: the first answer again)", body = Accepted),
        (status = 400, description = "Not a JSON object, no recipient, bad user id, topic, event name or idempotency key (`bad_event`, `bad_topic`, `bad_idempotency_key`), a reserved event name (`reserved_event`), or a topic with more than --max-topic-recipients subscribers (`topic_too_large`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 413, description = "Larger than --max-payload-bytes", body = ErrorBody),
        (status = 415, description = "The body is not declared `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "Publishes with this key over --publishes-per-sec, or too many wrong keys from this address, over --auth-failures-per-min (`rate_limited`): not stored, retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "The broker is unreachable: not stored, retry", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn publish() {}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operate",
    responses((status = 200, description = "The process answers", body = Health)))]
#[allow(dead_code)]
fn healthz() {}

/// Readiness: the broker answers and the log tail is positioned.
#[utoipa::path(get, path = "/readyz", tag = "operate",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready", body = Readiness),
    ))]
#[allow(dead_code)]
fn readyz() {}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operate",
    security((), ("metrics_key" = [])),
    responses(
        (status = 200, description = "Metrics", content_type = "text/plain", body = String),
        (status = 401, description = "--metrics-key is set and was not presented", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn metrics() {}

/// This description.
#[utoipa::path(get, path = "/openapi.json", tag = "operate",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)))]
#[allow(dead_code)]
fn openapi() {}
