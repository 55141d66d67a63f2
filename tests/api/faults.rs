//! Redis faults: starting without Redis, Redis dying mid-stream, and what clients see meanwhile.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{RedisServer, TestApp, test_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_starts_while_redis_is_down_and_serves_once_it_is_up() {
    let redis = RedisServer::unstarted();
    let mut app = TestApp::start(test_settings(Some(redis.url())), Some(redis)).await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["broker"], "unavailable");
    // Subscribing now would risk a gap, so it is refused with a clear status.
    let res = app.get_as("1", "/events").await;
    assert_eq!(res.status(), 503);
    app.redis_mut().restart().await;
    app.wait_ready().await;
    app.wait_bridge_subscribed().await;
    let mut sse = app.sse("42").await;
    app.redis()
        .publish("image_update", r#"{"user_id":42,"img_url":"/x.jpg"}"#)
        .await;
    assert_eq!(sse.next_event().await.data["img_url"], "/x.jpg");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_dying_mid_stream_keeps_streams_open_and_delivers_everything_after_it_returns() {
    let mut app = TestApp::spawn(crate::helpers::Backend::Redis).await;
    let mut sse = app.sse("42").await;
    let before = app.publish_ok(json!({"user_id": 42, "n": 1})).await;
    assert_eq!(sse.next_event().await.id, before);

    app.redis_mut().kill();
    let res = app.publish(json!({"user_id": 42, "n": "lost"})).await;
    assert_eq!(
        res.status(),
        503,
        "never a 202 for an event that was not stored"
    );
    let res = app.get_as("42", &format!("/poll?cursor={before}")).await;
    assert_eq!(
        res.status(),
        503,
        "a new poll fails clearly instead of hanging"
    );

    app.redis_mut().restart().await;
    app.wait_ready().await;
    app.wait_bridge_subscribed().await;
    let over_http = app.publish_ok(json!({"user_id": 42, "n": 2})).await;
    app.redis()
        .publish("image_update", r#"{"user_id":42,"n":3}"#)
        .await;
    let got = sse.events(2).await;
    assert_eq!(
        got[0].id, over_http,
        "the open stream survived and the tail resumed"
    );
    assert_eq!(got[1].data["n"], 3, "pub/sub was subscribed again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_waiting_when_redis_dies_answers_at_its_timeout() {
    let app = std::sync::Arc::new(TestApp::spawn(crate::helpers::Backend::Redis).await);
    let cursor = app.cursor_now("1").await;
    let waiting = {
        let app = app.clone();
        tokio::spawn(async move { app.poll("1", Some(&cursor), 2).await })
    };
    // Waiting, not still reading history: the poll gauge counts a poll once its read is done
    // (`wait_connections` counts it from its subscription, before the read, which would answer
    // 503 if Redis died in between).
    app.wait_sample(r#"notify_connections{transport="poll"}"#, 1.0)
        .await;
    let started = Instant::now();
    // The app is shared with the waiting poll, so stop Redis through its own shutdown command.
    let port = app.redis().port;
    std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "shutdown", "nosave"])
        .status()
        .ok();
    let poll = waiting.await.unwrap();
    assert_eq!(poll["events"], json!([]));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at its timeout, not later"
    );
}
