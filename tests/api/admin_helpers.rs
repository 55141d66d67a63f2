//! Shared by the admin tests: a relay with the admin routes on, and requests with the admin key.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{Backend, TestApp, WAIT};

pub const ADMIN_KEY: &str = "test-admin-key-5150";

/// A relay with the admin routes on.
pub async fn admin_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| {
        s.admin_key = Some(ADMIN_KEY.parse().expect("key"))
    })
    .await
}

/// An admin request with `key` (none: no Authorization header); returns status and JSON body.
pub async fn admin_as(base: &str, method: &str, path: &str, key: Option<&str>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{base}{path}");
    let mut req = match method {
        "POST" => client.post(url),
        "DELETE" => client.delete(url),
        _ => client.get(url),
    };
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let res = req.send().await.expect("admin request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// An admin request with the right key; asserts a 200.
pub async fn admin(base: &str, method: &str, path: &str) -> Value {
    let (status, body) = admin_as(base, method, path, Some(ADMIN_KEY)).await;
    assert_eq!(status, 200, "{method} {path}: {body}");
    body
}

/// Waits until `user`'s trace, read at `base`, has a record matching `found`; returns it.
pub async fn wait_record(base: &str, user: &str, found: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let trace = admin(base, "GET", &format!("/admin/trace/{user}")).await;
        let records = trace["records"].as_array().cloned().unwrap_or_default();
        if let Some(r) = records.iter().find(|r| found(r)) {
            return r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no matching trace record for {user}: {trace:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
