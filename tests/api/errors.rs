//! Every error path answers the right status with a JSON body saying what was wrong.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, JWT_SECRET, PUBLISH_KEY, TestApp, now_secs, token, token_with},
    on_both_brokers,
};

on_both_brokers!(
    subscribers_without_a_valid_token_get_401,
    malformed_cursors_get_400,
    publishing_without_the_right_key_gets_401,
    bad_messages_get_400_and_oversize_ones_413,
    unknown_routes_get_a_json_404,
    too_many_connections_for_one_user_get_429,
);

async fn expect_error(res: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body
}

async fn subscribers_without_a_valid_token_get_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/events", "/poll"] {
        let url = app.url(path);
        expect_error(
            app.http.get(&url).send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        let expired = token_with(json!({"sub": "1", "exp": now_secs() - 10}), JWT_SECRET);
        expect_error(
            app.http
                .get(&url)
                .bearer_auth(expired)
                .send()
                .await
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "token_expired",
        )
        .await;
        let wrong = token_with(json!({"sub": "1", "exp": now_secs() + 60}), "other-secret");
        expect_error(
            app.http
                .get(format!("{url}?token={wrong}"))
                .send()
                .await
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        expect_error(
            app.http
                .get(&url)
                .header("Cookie", "notify_token=garbage")
                .send()
                .await
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    // The cookie works when valid.
    let res = app
        .http
        .get(app.url("/poll"))
        .header("Cookie", format!("notify_token={}", token("1")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn malformed_cursors_get_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for bad in ["abc", "-1-0", "1-2-3", "99999999999999999999999-0", "1.5-0"] {
        let res = app
            .http
            .get(app.url("/events"))
            .bearer_auth(token("1"))
            .header("Last-Event-ID", bad)
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::BAD_REQUEST, "bad_cursor").await;
        let res = app.get_as("1", &format!("/poll?cursor={bad}")).await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_cursor").await;
    }
    let res = app.get_as("1", "/poll?timeout=soon").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_query").await;
}

async fn publishing_without_the_right_key_gets_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = app.url("/publish");
    let body = json!({"user_id": 1});
    expect_error(
        app.http.post(&url).json(&body).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "bad_publish_key",
    )
    .await;
    let res = app
        .http
        .post(&url)
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "bad_publish_key").await;
    // A subscriber token is not a publish key.
    let res = app
        .http
        .post(&url)
        .bearer_auth(token("1"))
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "bad_publish_key").await;
}

async fn bad_messages_get_400_and_oversize_ones_413(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.max_payload_bytes = 1024).await;
    let url = app.url("/publish");
    let send = |body: String| {
        app.http
            .post(&url)
            .bearer_auth(PUBLISH_KEY)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    expect_error(
        send("{not json".into()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_event",
    )
    .await;
    let b = expect_error(
        send(r#"{"img_url":"/x.jpg"}"#.into()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_event",
    )
    .await;
    assert!(
        b["message"].as_str().unwrap().contains("user_id"),
        "says what is missing"
    );
    expect_error(
        send(r#"{"user_id":""}"#.into()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_event",
    )
    .await;
    expect_error(
        send(r#"{"user_id":1,"event":"a\nb"}"#.into())
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_event",
    )
    .await;
    let big = format!(r#"{{"user_id":1,"x":"{}"}}"#, "a".repeat(2000));
    expect_error(
        send(big).await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    // Nothing was stored by any of these: a fresh poll from the start sees no event.
    let poll = app.poll("1", Some("0-0"), 0).await;
    assert_eq!(poll["events"], json!([]));
}

async fn unknown_routes_get_a_json_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    expect_error(app.get("/nope").await, StatusCode::NOT_FOUND, "not_found").await;
}

async fn too_many_connections_for_one_user_get_429(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.max_connections_per_user = 2).await;
    let _a = app.sse("1").await;
    let _b = app.sse("1").await;
    let res = app.get_as("1", "/events").await;
    expect_error(
        res,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_connections_for_user",
    )
    .await;
    // Another user is not affected.
    let _c = app.sse("2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_while_redis_is_down_gets_503_never_202() {
    let mut app = TestApp::spawn(Backend::Redis).await;
    app.redis_mut().kill();
    let res = app.publish(json!({"user_id": 1})).await;
    let body = expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "broker_unavailable").await;
    assert!(
        !body.to_string().contains("redis://"),
        "no internals leak to the client"
    );
    assert_eq!(app.get("/readyz").await.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_at_its_connection_limit_answers_503() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.max_connections = 2).await;
    let _a = app.sse("1").await;
    let _b = app.sse("2").await;
    let res = app.get_as("3", "/poll?cursor=0-0").await;
    let body = expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "relay_full").await;
    assert!(body["message"].as_str().unwrap().contains("limit"));
}
