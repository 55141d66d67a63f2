//! Bounded work per request (issue 13, items 9 and 16): a publish cannot fan out to an
//! unbounded topic, and one address cannot hold every socket.

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, PUBLISH_KEY, TestApp, wait_sample},
    on_both_brokers,
};

async fn replace_subscribers(app: &TestApp, topic: &str, users: &[&str]) {
    let res = app
        .http
        .put(format!("{}/topics/{topic}/subscribers", app.base))
        .bearer_auth(PUBLISH_KEY)
        .json(&json!({ "subscribers": users }))
        .send()
        .await
        .expect("replace subscribers");
    assert_eq!(res.status().as_u16(), 200);
}

on_both_brokers!(a_publish_to_a_topic_over_the_cap_gets_400_and_stores_nothing);

async fn a_publish_to_a_topic_over_the_cap_gets_400_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.max_topic_recipients = 3).await;
    replace_subscribers(&app, "small", &["a", "b", "c"]).await;
    replace_subscribers(&app, "big", &["a", "b", "c", "d"]).await;
    let start = app.cursor_now("a").await;
    let res = app
        .publish(json!({"topic": "big", "user_id": "z", "n": 1}))
        .await;
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = res.json().await.expect("JSON error");
    assert_eq!(body["error"], "topic_too_large");
    assert!(body["message"].as_str().unwrap_or("").contains('3'));
    // Nothing was stored: not for the subscribers, not for the named user, not in the log.
    assert_eq!(app.cursor_now("a").await, start);
    for user in ["a", "d", "z"] {
        let poll = app.poll(user, Some(&start), 0).await;
        assert_eq!(poll["events"], json!([]), "{user}");
    }
    // The cap is on the topic's size: exactly the cap is fine.
    let res = app.publish(json!({"topic": "small", "n": 2})).await;
    assert_eq!(res.status().as_u16(), 202);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["recipients"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pubsub_message_to_a_topic_over_the_cap_is_skipped_with_a_reason() {
    let app = TestApp::spawn_with(Backend::Redis, |s| s.max_topic_recipients = 2).await;
    replace_subscribers(&app, "big", &["a", "b", "c"]).await;
    let mut sse = app.sse("a").await;
    app.redis()
        .publish("image_update", r#"{"topic":"big","n":1}"#)
        .await;
    wait_sample(
        &app.base,
        r#"notify_events_rejected_total{reason="topic_too_large",source="pubsub"}"#,
        1.0,
    )
    .await;
    app.redis()
        .publish("image_update", r#"{"user_id":"a","n":2}"#)
        .await;
    assert_eq!(sse.next_event().await.data["n"], 2);
}
