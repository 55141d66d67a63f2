//! The parts of the description that depend on how the relay was started or on the domain's
//! constants, which utoipa's attributes cannot name: written into the generated document.

use serde_json::{Value, json};

use crate::{
    email::address::MAX_ADDRESS_BYTES,
    event::{
        MAX_EVENT_NAME_CHARS, MAX_KEY_CHARS, MAX_TOPIC_CHARS, MAX_USER_ID_CHARS, ParseLimits,
        RESERVED_EVENT_NAMES,
    },
    routes::topics::MAX_REPLACE_USERS,
};

/// Writes the limits of `parse` and the domain into `doc`.
pub fn write(doc: &mut Value, parse: &ParseLimits) {
    if let Some(minutes) = param(doc, "/admin/trace/{user}", "post", "minutes") {
        minutes["schema"]["maximum"] = json!(crate::trace::MAX_MINUTES);
    }
    let schemas = &mut doc["components"]["schemas"];
    schemas["Publication"] = publication_schema(parse.max_recipients);
    schemas["ReplaceBody"]["properties"]["subscribers"] = json!({
        "description": "The new subscriber set; an empty list clears it",
        "type": "array", "items": user_id(), "maxItems": MAX_REPLACE_USERS,
    });
    schemas["ContactBody"]["properties"]["email"]["maxLength"] = json!(MAX_ADDRESS_BYTES);
    doc["paths"]["/publish"]["post"]["requestBody"]["content"]["application/json"]["schema"] =
        json!({"$ref": "#/components/schemas/Publication"});
    not_nullable(doc);
    bounded_requests(doc);
    retry_after(doc);
    // u64 parameters: no int64 format, whose maximum would be i64's.
    let any_u64 = json!({"type": "integer", "minimum": 0, "maximum": u64::MAX});
    set_param_schema(doc, "/poll", "timeout", any_u64.clone());
    set_param_schema(doc, "/topics/{topic}/subscribers", "limit", any_u64.clone());
    set_param_schema(doc, "/notifications", "limit", any_u64);
}

/// Parameter `name` of `method path`, if described.
fn param<'a>(doc: &'a mut Value, path: &str, method: &str, name: &str) -> Option<&'a mut Value> {
    let pointer = format!("/paths/{}/{method}/parameters", path.replace('/', "~1"));
    doc.pointer_mut(&pointer)?
        .as_array_mut()?
        .iter_mut()
        .find(|p| p["name"] == name)
}

/// Replaces the schema of parameter `name` of `GET path`.
fn set_param_schema(doc: &mut Value, path: &str, name: &str, schema: Value) {
    if let Some(p) = param(doc, path, "get", name) {
        p["schema"] = schema;
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

/// A topic name: 1 to [`MAX_TOPIC_CHARS`] of `A-Z a-z 0-9 : _ . - /` (see `Topic::parse`).
fn topic_pattern() -> String {
    format!(r"^[A-Za-z0-9:_./-]{{1,{MAX_TOPIC_CHARS}}}$")
}

/// A user id: a string of 1 to [`MAX_USER_ID_CHARS`] characters without control characters,
/// or an integer.
fn user_id() -> Value {
    json!({"oneOf": [
        {"type": "string", "minLength": 1, "maxLength": MAX_USER_ID_CHARS, "pattern": NO_CONTROLS},
        {"type": "integer", "minimum": i64::MIN, "maximum": u64::MAX},
    ]})
}

/// A message names its recipients with `user_id`, `user_ids` or `topic` (at least one); other
/// fields are delivered as they are.
fn publication_schema(max_recipients: usize) -> Value {
    let users = |min: u64| json!({"type": "array", "minItems": min, "maxItems": max_recipients, "items": user_id()});
    let nullable = |schema: Value| json!({"anyOf": [schema, {"type": "null"}]});
    let topic = json!({"type": "string", "pattern": topic_pattern()});
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
                "type": "string", "minLength": 1, "maxLength": MAX_EVENT_NAME_CHARS, "pattern": NO_CONTROLS,
                "not": {"enum": RESERVED_EVENT_NAMES},
            })),
            "idempotency_key": nullable(json!({
                "description": "The publisher's name for this event: a second publish with it stores nothing and gets the first one's answer; not delivered in `data`",
                "type": "string", "pattern": format!("^[A-Za-z0-9_.:/+=-]{{1,{MAX_KEY_CHARS}}}$"),
            })),
        },
        "anyOf": [
            {"required": ["user_id"], "properties": {"user_id": user_id()}},
            {"required": ["user_ids"], "properties": {"user_ids": users(1)}},
            {"required": ["topic"], "properties": {"topic": topic}},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Topic;

    #[test]
    fn the_described_topic_pattern_says_what_topic_parse_accepts() {
        let pattern = topic_pattern();
        assert_eq!(pattern, r"^[A-Za-z0-9:_./-]{1,128}$");
        let longest = "a".repeat(MAX_TOPIC_CHARS);
        assert!(Topic::parse(&longest).is_ok());
        assert!(Topic::parse(&format!("{longest}a")).is_err());
        for c in ":_./-".chars() {
            assert!(Topic::parse(&format!("a{c}b")).is_ok(), "{c}");
        }
        assert!(Topic::parse("a b").is_err());
    }
}
