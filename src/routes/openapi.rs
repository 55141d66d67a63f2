//! `GET /openapi.json`: the OpenAPI 3.1 description of the HTTP API, generated with `utoipa`.
//!
//! The operations are described on stubs here rather than on the handlers, so the description
//! lives in one file; `tests/api/openapi.rs` checks that it names exactly the routes the relay
//! serves, and schemathesis (`tests/schemathesis.sh`) checks the real answers against it.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use serde_json::{Value, json};
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

/// Serves the description (rendered once).
pub async fn openapi_json() -> HttpResponse {
    static DOC: LazyLock<String> = LazyLock::new(|| document().to_string());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOC.as_str())
}

/// The description as served: utoipa's, with the schemas its derive cannot express.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    doc["components"]["schemas"]["Publication"] = publication_schema();
    // `timeout` is a u64: no int64 format, whose maximum would be i64's.
    not_nullable(&mut doc);
    set_param_schema(
        &mut doc,
        "/poll",
        "timeout",
        json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
    );
    doc
}

/// Replaces the schema of parameter `name` of `GET path`.
fn set_param_schema(doc: &mut Value, path: &str, name: &str, schema: Value) {
    let pointer = format!("/paths/{}/get/parameters", path.replace('/', "~1"));
    if let Some(params) = doc.pointer_mut(&pointer).and_then(Value::as_array_mut) {
        for p in params.iter_mut().filter(|p| p["name"] == name) {
            p["schema"] = schema.clone();
        }
    }
}

/// Every parameter of every operation.
fn params(doc: &mut Value) -> impl Iterator<Item = &mut Value> {
    doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|ops| ops.values_mut())
        .filter_map(|op| op.get_mut("parameters")?.as_array_mut())
        .flatten()
}

/// utoipa marks optional parameters nullable, but a header or query value is text, never JSON
/// `null`: an optional parameter is one that may be left out.
fn not_nullable(doc: &mut Value) {
    for p in params(doc) {
        let Some(ty) = p.pointer_mut("/schema/type") else {
            continue;
        };
        if let Some(types) = ty.as_array() {
            let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
            *ty = match kept.as_slice() {
                [one] => one.clone(),
                _ => Value::Array(kept),
            };
        }
    }
}

/// A message names its recipients with `user_id` or `user_ids` (either is required); a user id
/// is a string of 1 to 128 characters without control characters, or an integer. Other fields
/// are delivered as they are.
fn publication_schema() -> Value {
    let no_controls = r"^[^\u0000-\u001f\u007f-\u009f]+$";
    let user_id = json!({"oneOf": [
        {"type": "string", "minLength": 1, "maxLength": 128, "pattern": no_controls},
        {"type": "integer", "minimum": i64::MIN, "maximum": u64::MAX},
    ]});
    let event = json!({
        "description": "The SSE event name; absent or null: the event fires `onmessage`",
        "type": ["string", "null"], "minLength": 1, "maxLength": 64, "pattern": no_controls,
    });
    let variant = |field: &str, schema: Value| json!({"type": "object", "required": [field], "properties": {field: schema, "event": event}});
    json!({
        "description": "A message for one user (`user_id`) or several (`user_ids`); the whole object is delivered as `data`.",
        "anyOf": [
            variant("user_id", user_id.clone()),
            variant("user_ids", json!({"type": "array", "minItems": 1, "maxItems": 1000, "items": user_id})),
        ],
    })
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "notify-relay",
        description = "Pushes per-user notifications to browsers over Server-Sent Events and long-poll."
    ),
    paths(events, poll, publish, healthz, readyz, metrics, openapi),
    components(schemas(ErrorBody, PollAnswer, PolledEvent, Publication, Accepted, Health, Readiness)),
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

/// Placeholder for the message schema; [`document`] replaces it with the real one.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Publication {}

/// A stored event.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Accepted {
    /// The assigned id.
    #[schema(pattern = r"^[0-9]+-[0-9]+$")]
    id: String,
    /// How many users it is for.
    #[schema(minimum = 1)]
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
        ("last_event_id" = Option<String>, Query, pattern = r"^([0-9]{1,19}-[0-9]{1,19})?$", description = "Resume after this id (EventSource cannot set headers on first connect)"),
        ("Last-Event-ID" = Option<String>, Header, pattern = r"^([0-9]{1,19}-[0-9]{1,19})?$", description = "Resume after this id; wins over the query parameter"),
    ),
    security(("subscriber_bearer" = []), ("subscriber_cookie" = []), ("subscriber_query" = [])),
    responses(
        (status = 200, description = "The event stream: `retry:`, then `id:`/`event:`/`data:` blocks and `: keepalive` comments", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed cursor or query", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired token", body = ErrorBody),
        (status = 429, description = "Too many connections for this user", body = ErrorBody),
        (status = 503, description = "Starting, full, stopping, or the broker is unreachable", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn events() {}

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
        (status = 400, description = "Malformed cursor or query", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired token", body = ErrorBody),
        (status = 429, description = "Too many connections for this user", body = ErrorBody),
        (status = 503, description = "Starting, full, stopping, or the broker is unreachable", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn poll() {}

/// Stores an event for its recipients.
#[utoipa::path(
    post, path = "/publish", tag = "publish",
    request_body(content = Publication, content_type = "application/json"),
    security(("publish_key" = [])),
    responses(
        (status = 202, description = "Stored", body = Accepted),
        (status = 400, description = "Not a JSON object, no recipient, bad user id or event name", body = ErrorBody),
        (status = 401, description = "Missing or wrong publish key", body = ErrorBody),
        (status = 403, description = "HTTP publishing is off", body = ErrorBody),
        (status = 413, description = "Larger than --max-payload-bytes", body = ErrorBody),
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
