//! `GET /openapi.json`: the OpenAPI 3.1 description of the HTTP API, generated with `utoipa`.
//!
//! [`spec`], [`topics`] and [`offline`] describe the operations ([`admin`] those of the admin
//! routes, when they are on); this module serves the document,
//! with the parts utoipa's derive cannot say written here as JSON Schema: the message and contact
//! bodies, the limits the relay was started with, the `Retry-After` header, and the 414/431 that
//! `limits::bound_request` may answer on any route.
//! `tests/api/openapi.rs` checks that the document names exactly the routes the relay serves,
//! and schemathesis (`tests/schemathesis.sh`) checks the real answers against it.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::AppState;
use crate::config::Settings;

mod admin;
mod offline;
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
    doc["components"]["schemas"]["ContactBody"] = json!({
        "type": "object",
        "required": ["email"],
        "properties": {
            "email": {"description": "An email address of at most 254 bytes (surrounding spaces are trimmed)", "type": "string", "format": "email", "maxLength": 254},
            "email_fallback": {"description": "Whether events the user missed may be emailed (default true)", "type": "boolean"},
        },
        "additionalProperties": false,
    });
    if settings.admin_key.is_some() {
        admin::describe(&mut doc);
    }
    not_nullable(&mut doc);
    bounded_requests(&mut doc);
    retry_after(&mut doc);
    // u64 parameters: no int64 format, whose maximum would be i64's.
    let any_u64 = json!({"type": "integer", "minimum": 0, "maximum": u64::MAX});
    set_param_schema(&mut doc, "/poll", "timeout", any_u64.clone());
    set_param_schema(
        &mut doc,
        "/topics/{topic}/subscribers",
        "limit",
        any_u64.clone(),
    );
    set_param_schema(&mut doc, "/notifications", "limit", any_u64);
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

/// Every operation, with its path.
fn operations(doc: &mut Value) -> impl Iterator<Item = (&String, &mut Value)> {
    doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.iter_mut())
        .filter_map(|(path, ops)| Some((path, ops.as_object_mut()?)))
        .flat_map(|(path, ops)| ops.values_mut().map(move |op| (path, op)))
}

/// An error answer.
fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    })
}

/// `limits::bound_request` runs before every route: any operation may answer 414 or 431.
fn bounded_requests(doc: &mut Value) {
    for (_, op) in operations(doc) {
        let responses = &mut op["responses"];
        responses["414"] = error_response("Query string over --max-query-bytes (`query_too_long`)");
        responses["431"] =
            error_response("Request headers over --max-header-bytes (`headers_too_large`)");
    }
}

/// Every 429 and 503 error may say when to retry; a `rate_limited` 429 and an error 503 always
/// do (a 429 for too many connections of one user does not; `/readyz`'s 503 is no error).
fn retry_after(doc: &mut Value) {
    for (path, op) in operations(doc) {
        for status in ["429", "503"] {
            let Some(res) = op["responses"].get_mut(status) else {
                continue;
            };
            if path == "/readyz" {
                continue;
            }
            let always = status == "503" || path == "/publish";
            res["headers"]["Retry-After"] = json!({
                "description": "Seconds until a retry can succeed",
                "required": always,
                "schema": {"type": "integer", "minimum": 0},
            });
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
        "description": "A message for one user (`user_id`), several (`user_ids`) and/or a topic's subscribers (`topic`), less `exclude`; the object is delivered as `data` without `user_ids`, `exclude` and `fallback`.",
        "type": "object",
        "properties": {
            "user_id": nullable(user_id()),
            "user_ids": nullable(users(0)),
            "topic": nullable(topic.clone()),
            "exclude": nullable(users(0)),
            "event": nullable(json!({
                "description": "The SSE event name; absent or null: the event fires `onmessage`. The relay's own control names are refused (`reserved_event`).",
                "type": "string", "minLength": 1, "maxLength": 64, "pattern": NO_CONTROLS,
                "not": {"enum": crate::event::RESERVED_EVENT_NAMES},
            })),
            "idempotency_key": nullable(json!({
                "description": "The publisher's name for this event: a second publish with it stores nothing and gets the first one's answer; not delivered in `data`",
                "type": "string", "pattern": "^[A-Za-z0-9_.:/+=-]{1,128}$",
            })),
        },
        "anyOf": [
            {"required": ["user_id"], "properties": {"user_id": user_id()}},
            {"required": ["user_ids"], "properties": {"user_ids": users(1)}},
            {"required": ["topic"], "properties": {"topic": topic}},
        ],
    })
}
