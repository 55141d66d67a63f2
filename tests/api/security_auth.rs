//! Hardening of who may do what (issue 13): token precedence, JWT issuer, audience and
//! lifetime, publish rate limits per publisher, wrong keys throttled per address, and
//! `/publish` taking JSON only.

use reqwest::{StatusCode, header::CONTENT_TYPE};
use serde_json::{Value, json};

use crate::helpers::{Backend, JWT_SECRET, PUBLISH_KEY, TestApp, now_secs, token, token_with};

async fn expect_error(res: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status);
    let body: Value = res.json().await.expect("json body");
    assert_eq!(body["error"], code, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_token_wins_over_a_stale_cookie_and_two_explicit_ones_that_disagree_get_400() {
    let app = TestApp::spawn(Backend::Memory).await;
    let cursor = app.cursor_now("page-user").await;
    app.publish_ok(json!({"user_id": "page-user", "n": 1}))
        .await;
    let poll = |query: String| {
        app.http
            .get(format!(
                "{}/poll?timeout=0&cursor={cursor}{query}",
                app.base
            ))
            .header("Cookie", format!("notify_token={}", token("cookie-user")))
    };
    // ?token= names the page's user; the cookie of another account must not win.
    let res = poll(format!("&token={}", token("page-user")))
        .send()
        .await
        .expect("poll");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["events"][0]["data"]["n"], 1, "{body}");
    // The header wins over the cookie too.
    let res = poll(String::new())
        .bearer_auth(token("page-user"))
        .send()
        .await
        .expect("poll");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["events"][0]["data"]["n"], 1, "{body}");
    // Header and query naming different tokens: the client is confused; say so.
    let res = poll(format!("&token={}", token("cookie-user")))
        .bearer_auth(token("page-user"))
        .send()
        .await
        .expect("poll");
    expect_error(res, StatusCode::BAD_REQUEST, "conflicting_tokens").await;
    // The same token in both is fine.
    let t = token("page-user");
    let res = poll(format!("&token={t}"))
        .bearer_auth(&t)
        .send()
        .await
        .expect("poll");
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_audience_and_longest_lifetime_are_enforced_when_configured() {
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.jwt_issuer = Some("https://app.example.com".into());
        s.jwt_audience = Some("notify-relay".into());
        s.jwt_max_lifetime_secs = Some(600);
    })
    .await;
    let status = |claims: Value| {
        let t = token_with(claims, JWT_SECRET);
        let req = app.http.get(app.url("/poll")).bearer_auth(t).send();
        async move { req.await.expect("poll").status().as_u16() }
    };
    let good = json!({"sub": "1", "exp": now_secs() + 300,
                      "iss": "https://app.example.com", "aud": "notify-relay"});
    assert_eq!(status(good.clone()).await, 200);
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = good.clone();
        c.as_object_mut().expect("object").remove(k);
        c
    };
    assert_eq!(
        status(with("iss", json!("https://evil.example"))).await,
        401
    );
    assert_eq!(status(without("iss")).await, 401);
    assert_eq!(status(with("aud", json!("another-service"))).await, 401);
    assert_eq!(status(without("aud")).await, 401);
    // A token valid for a day, where ten minutes is the most: refused.
    assert_eq!(status(with("exp", json!(now_secs() + 86_400))).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_whose_exp_is_now_has_expired() {
    let app = TestApp::spawn(Backend::Memory).await;
    let t = token_with(json!({"sub": "1", "exp": now_secs()}), JWT_SECRET);
    let res = app
        .http
        .get(app.url("/poll"))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "token_expired").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publish_rate_limit_counts_the_publisher_however_the_header_is_spelled() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.publishes_per_sec = 2).await;
    let mut statuses = Vec::new();
    for auth in [
        format!("Bearer {PUBLISH_KEY}"),
        format!("bearer {PUBLISH_KEY}"),
        format!("BEARER {PUBLISH_KEY}"),
        format!("Bearer  {PUBLISH_KEY}"),
    ] {
        let res = app
            .http
            .post(app.url("/publish"))
            .header("Authorization", auth)
            .json(&json!({"user_id": 1}))
            .send()
            .await
            .expect("publish");
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses[..2], [202, 202]);
    assert!(statuses[2..].iter().all(|s| *s == 429), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_are_throttled_per_address_and_then_even_the_right_key_waits() {
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.auth_failures_per_min = 3;
        s.metrics_key = Some("test-metrics-key-0123456789abcdef".parse().expect("key"));
    })
    .await;
    let publish = |key: &str| {
        app.http
            .post(app.url("/publish"))
            .bearer_auth(key)
            .json(&json!({"user_id": 1}))
            .send()
    };
    for guess in ["guess-1", "guess-2", "guess-3"] {
        assert_eq!(publish(guess).await.unwrap().status(), 401);
    }
    let res = publish("guess-4").await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // A guess that happens to be right is not told so while the address is blocked.
    let res = publish(PUBLISH_KEY).await.unwrap();
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Other publisher routes and the metrics key share the budget.
    let res = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("guess-5")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_takes_a_json_body_only() {
    let app = TestApp::spawn(Backend::Memory).await;
    let body = r#"{"user_id":1}"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut req = app
            .http
            .post(app.url("/publish"))
            .bearer_auth(PUBLISH_KEY)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        let res = req.send().await.expect("publish");
        expect_error(
            res,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    let res = app
        .http
        .post(app.url("/publish"))
        .bearer_auth(PUBLISH_KEY)
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .expect("publish");
    assert_eq!(res.status(), 202);
}
