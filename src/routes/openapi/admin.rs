//! The admin routes' description, added to the document only when the relay serves them
//! (`--admin-key` set), so the document always names exactly the routes this relay answers.

use serde_json::{Value, json};

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": {"application/json": {"schema": schema}} })
}

/// The `{user}` path segment, described as the other routes describe it.
fn user_param() -> Value {
    json!({ "name": "user", "in": "path", "required": true, "description": "The user id",
            "schema": {"type": "string", "pattern": r"^[^\u0000-\u001f\u007f-\u009f/%?#]{1,128}$"} })
}

/// One operation behind the admin key; `extra` adds responses.
fn op(summary: &str, params: Value, success: Value, extra: &[(&str, Value)]) -> Value {
    let mut responses = json!({
        "200": success,
        "401": error("Missing or wrong admin key (`bad_admin_key`)"),
    });
    for (status, res) in extra {
        responses[*status] = res.clone();
    }
    json!({
        "tags": ["admin"],
        "summary": summary,
        "security": [{"admin_key": []}],
        "parameters": params,
        "responses": responses,
    })
}

/// The trace state and its records, newest first.
fn trace_schema() -> Value {
    json!({
        "type": "object",
        "required": ["user", "tracing", "until_ms"],
        "properties": {
            "user": {"type": "string"},
            "tracing": {"type": "boolean", "description": "A trace is on (on every instance)"},
            "until_ms": {"type": ["integer", "null"], "minimum": 0, "description": "When it ends, ms since the epoch"},
            "recording_here": {"type": "boolean", "description": "This instance has heard of the trace and records"},
            "instance": {"type": "string", "description": "This instance's name"},
            "records": {"type": "array", "description": "Newest first: appended, fanned_out, delivered, replayed, polled, skipped, reset, emailed, email_retry, email_failed", "items": {
                "type": "object",
                "required": ["kind", "at_ms", "instance"],
                "properties": {
                    "kind": {"type": "string"},
                    "at_ms": {"type": "integer", "minimum": 0},
                    "instance": {"type": "string"},
                    "id": {"type": "string", "description": "The event id"},
                },
            }},
        },
    })
}

/// Adds the admin paths and the `admin_key` scheme.
pub fn describe(doc: &mut Value) {
    let bad_user = error("Malformed user id (`bad_event`)");
    let broker = error("The broker is unreachable (`broker_unavailable`)");
    let minutes = json!({
        "name": "minutes", "in": "query", "required": false,
        "description": "How long the trace lasts (default 10)",
        "schema": {"type": "integer", "minimum": 1, "maximum": crate::trace::MAX_MINUTES},
    });
    let object = json!({"type": "object"});
    let paths = &mut doc["paths"];
    paths["/admin"] = json!({ "get": {
        "tags": ["admin"],
        "summary": "The admin page: a static shell that asks for the admin key; all data comes from the JSON routes",
        "responses": {"200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}}},
    }});
    paths["/admin/overview"] = json!({ "get": op(
        "Live figures of this instance and the cluster, failed emails, recent errors",
        json!([]),
        ok("The figures", json!({"type": "object", "required": ["instance", "cluster", "instances", "failed_emails", "recent_errors"]})),
        &[("503", broker.clone())],
    )});
    paths["/admin/users/{user}"] = json!({ "get": op(
        "A user: presence per instance, history head, contact, notification log, trace state",
        json!([user_param()]),
        ok("The user", object),
        &[("400", bad_user.clone()), ("503", broker.clone())],
    )});
    let trace_ok = ok("The trace", trace_schema());
    paths["/admin/trace/{user}"] = json!({
        "get": op("The user's delivery trace, merged across instances, newest first",
            json!([user_param()]), trace_ok.clone(),
            &[("400", bad_user.clone()), ("503", broker.clone())]),
        "post": op("Turns the user's delivery trace on, on every instance, for `minutes`",
            json!([user_param(), minutes]), trace_ok.clone(),
            &[("400", error("Malformed user id or minutes out of range (`bad_event`, `bad_query`)")), ("503", broker.clone())]),
        "delete": op("Turns the user's delivery trace off; its records stay until they expire",
            json!([user_param()]), trace_ok,
            &[("400", bad_user), ("503", broker)]),
    });
    doc["components"]["securitySchemes"]["admin_key"] = json!({
        "type": "http", "scheme": "bearer", "description": "the --admin-key (NOTIFY_ADMIN_KEY)",
    });
}
