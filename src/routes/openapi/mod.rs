//! `GET /openapi.json`: the OpenAPI 3.1 description of the HTTP API, generated with `utoipa`.
//!
//! [`spec`] and [`topics`] describe the operations; this module serves the document, with the
//! parts utoipa's derive cannot say written here as JSON Schema: the message body (one of three
//! recipient fields required) and the limits the relay was started with.
//! `tests/api/openapi.rs` checks that the document names exactly the routes the relay serves,
//! and schemathesis (`tests/schemathesis.sh`) checks the real answers against it.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::AppState;
use crate::config::Settings;

mod spec;
mod topics;

pub use spec::ApiDoc;

/// Serves the description of this relay, with its limits.
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(document(&state.settings))
}

/// The description as served: utoipa's, with the schemas its derive cannot express.
pub fn document(settings: &Settings) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    let max = settings.max_recipients;
    doc["components"]["schemas"]["Publication"] = publication_schema(max);
    doc["components"]["schemas"]["Subscribers"] = json!({
        "type": "object",
        "required": ["subscribers"],
        "properties": {"subscribers": {"type": "array", "items": user_id(), "maxItems": topics::MAX_REPLACE_USERS}},
    });
    not_nullable(&mut doc);
    // u64 parameters: no int64 format, whose maximum would be i64's.
    let any_u64 = json!({"type": "integer", "minimum": 0, "maximum": u64::MAX});
    set_param_schema(&mut doc, "/poll", "timeout", any_u64.clone());
    set_param_schema(&mut doc, "/topics/{topic}/subscribers", "limit", any_u64);
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

/// Text without control characters (Unicode Cc), as user ids and event names must be.
const NO_CONTROLS: &str = r"^[^\u0000-\u001f\u007f-\u009f]+$";

/// A user id: a string of 1 to 128 characters without control characters, or an integer.
fn user_id() -> Value {
    json!({"oneOf": [
        {"type": "string", "minLength": 1, "maxLength": 128, "pattern": NO_CONTROLS},
        {"type": "integer", "minimum": i64::MIN, "maximum": u64::MAX},
    ]})
}

/// A message names its recipients with `user_id`, `user_ids` or `topic` (at least one); other
/// fields are delivered as they are.
fn publication_schema(max_recipients: u64) -> Value {
    let users = |min: u64| json!({"type": "array", "minItems": min, "maxItems": max_recipients, "items": user_id()});
    let nullable = |schema: Value| json!({"anyOf": [schema, {"type": "null"}]});
    let topic = json!({"type": "string", "pattern": topics::TOPIC_PATTERN});
    json!({
        "description": "A message for one user (`user_id`), several (`user_ids`) and/or a topic's subscribers (`topic`), less `exclude`; the whole object is delivered as `data`.",
        "type": "object",
        "properties": {
            "user_id": nullable(user_id()),
            "user_ids": nullable(users(0)),
            "topic": nullable(topic.clone()),
            "exclude": nullable(users(0)),
            "event": nullable(json!({
                "description": "The SSE event name; absent or null: the event fires `onmessage`",
                "type": "string", "minLength": 1, "maxLength": 64, "pattern": NO_CONTROLS,
            })),
        },
        "anyOf": [
            {"required": ["user_id"], "properties": {"user_id": user_id()}},
            {"required": ["user_ids"], "properties": {"user_ids": users(1)}},
            {"required": ["topic"], "properties": {"topic": topic}},
        ],
    })
}
