//! Abuse limits: connection and publish rates (429 with Retry-After, recovering after the
//! window), client addresses from trusted proxies only, bounded heads, queries and recipients,
//! and demo mode kept to this machine.

use std::time::Duration;

use notify_relay::config::Settings;

use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, free_port, start_failure, token};

async fn expect_json_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: Value = res.json().await.expect("json body");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body
}

fn retry_after(res: &Response) -> u64 {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in whole seconds")
}

/// A poll without a cursor: answered at once, so it costs only the connect.
fn quick_poll(app: &TestApp) -> RequestBuilder {
    app.http.get(app.url("/poll")).bearer_auth(token("1"))
}

async fn status(req: RequestBuilder) -> u16 {
    req.send().await.expect("request").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_connects_from_one_address_get_429_with_retry_after_and_recover_after_it() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.connects_per_sec = 3).await;
    for _ in 0..3 {
        assert_eq!(status(quick_poll(&app)).await, 200);
    }
    let res = app.get_as("1", "/events").await;
    let wait = retry_after(&res);
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    expect_json_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // The window is time itself: after Retry-After the client is welcome again.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(status(quick_poll(&app)).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_publishes_with_one_key_get_429_with_retry_after_and_recover_after_it() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.publishes_per_sec = 2).await;
    for n in 0..2 {
        assert_eq!(
            app.publish(json!({"user_id": 1, "n": n})).await.status(),
            202
        );
    }
    let res = app.publish(json!({"user_id": 1, "n": 2})).await;
    let wait = retry_after(&res);
    expect_json_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Waiting out Retry-After is what is tested: the window is time itself.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(
        app.publish(json!({"user_id": 1, "n": 3})).await.status(),
        202
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.connects_per_sec = 2).await;
    // Each request claims another address; all come from 127.0.0.1 and count as such.
    let spoofed = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];
    let mut got = Vec::new();
    for ip in spoofed {
        got.push(
            status(
                quick_poll(&app)
                    .header("X-Forwarded-For", ip)
                    .header("X-Real-IP", ip),
            )
            .await,
        );
    }
    assert_eq!(got, [200, 200, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_client_and_each_client_is_counted_on_its_own() {
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.connects_per_sec = 2;
        s.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let from = |ip: &str| quick_poll(&app).header("X-Forwarded-For", format!("6.6.6.6, {ip}"));
    assert_eq!(status(from("198.51.100.1")).await, 200);
    assert_eq!(status(from("198.51.100.1")).await, 200);
    assert_eq!(status(from("198.51.100.1")).await, 429);
    // Another client behind the same proxy is not held back by the first.
    assert_eq!(status(from("198.51.100.2")).await, 200);
    assert_eq!(
        status(quick_poll(&app).header("X-Real-IP", "198.51.100.3")).await,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_heads_queries_and_recipient_lists_get_json_errors() {
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.max_header_bytes = 4096;
        s.max_query_bytes = 512;
        s.max_recipients = 3;
    })
    .await;
    let res = quick_poll(&app)
        .header("X-Padding", "x".repeat(5000))
        .send()
        .await
        .expect("request");
    expect_json_error(
        res,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
    )
    .await;
    let res = app
        .http
        .get(format!("{}/poll?pad={}", app.base, "x".repeat(600)))
        .bearer_auth(token("1"))
        .send()
        .await
        .expect("request");
    expect_json_error(res, StatusCode::URI_TOO_LONG, "query_too_long").await;
    let res = app.publish(json!({"user_ids": [1, 2, 3, 4]})).await;
    expect_json_error(res, StatusCode::BAD_REQUEST, "bad_event").await;
    assert_eq!(
        app.publish(json!({"user_ids": [1, 2, 3]})).await.status(),
        202
    );
    // Heads past actix's own 128 KiB buffer are refused by actix before any handler runs.
    let res = quick_poll(&app)
        .header("X-Padding", "x".repeat(140 * 1024))
        .send()
        .await;
    if let Ok(res) = res {
        assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_tokens_are_httponly_lax_cookies_and_refused_to_forwarded_requests() {
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.jwt_secret = None;
        s.publish_key = None;
    })
    .await;
    let res = app.get("/demo/token?user_id=7").await;
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let res = app
        .http
        .get(app.url("/demo/token?user_id=7"))
        .header("X-Forwarded-For", "203.0.113.5")
        .send()
        .await
        .expect("request");
    expect_json_error(res, StatusCode::FORBIDDEN, "demo_local_only").await;
}

#[tokio::test]
async fn demo_mode_refuses_to_listen_on_a_non_loopback_address() {
    // Demo mode is the defaults: no secrets.
    let demo_on_every_address = |s: &mut Settings| {
        *s = Settings {
            listen: format!("0.0.0.0:{}", free_port()).parse().expect("addr"),
            ..Settings::defaults()
        };
    };
    let (code, err) = start_failure(None, None, demo_on_every_address, &[]).await;
    assert_ne!(code, Some(0), "the relay started in demo mode on 0.0.0.0");
    assert!(
        err.contains("NOTIFY_JWT_SECRET") && err.contains("loopback"),
        "{err}"
    );
}
