//! Shared by the admin tests: a relay with the admin routes on, and requests with the admin key.

use serde_json::Value;

use crate::helpers::{Backend, Relay, TestApp, eventually_ok};

pub const ADMIN_KEY: &str = "test-admin-key-5150";

/// A relay with the admin routes on.
pub async fn admin_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| {
        s.admin_key = Some(ADMIN_KEY.parse().expect("key"))
    })
    .await
}

/// An admin request with `key` (none: no Authorization header); returns status and JSON body.
pub async fn admin_as(relay: &Relay, method: &str, path: &str, key: Option<&str>) -> (u16, Value) {
    let url = relay.url(path);
    let mut req = match method {
        "POST" => relay.http.post(url),
        "DELETE" => relay.http.delete(url),
        _ => relay.http.get(url),
    };
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let res = req.send().await.expect("admin request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// An admin request with the right key; asserts a 200.
pub async fn admin(relay: &Relay, method: &str, path: &str) -> Value {
    let (status, body) = admin_as(relay, method, path, Some(ADMIN_KEY)).await;
    assert_eq!(status, 200, "{method} {path}: {body}");
    body
}

/// Waits until `user`'s trace has a record matching `found`; returns it.
pub async fn wait_record(relay: &Relay, user: &str, found: impl Fn(&Value) -> bool) -> Value {
    eventually_ok(format!("no matching trace record for {user}"), || async {
        let trace = admin(relay, "GET", &format!("/admin/trace/{user}")).await;
        let records = trace["records"].as_array().cloned().unwrap_or_default();
        records.into_iter().find(|r| found(r)).ok_or(trace)
    })
    .await
}
