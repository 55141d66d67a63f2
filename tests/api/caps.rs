//! Bounded work per request (issue 13, items 9 and 16): a publish cannot fan out to an
//! unbounded topic, and one address cannot hold every socket.

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp, eventually},
    on_both_brokers,
};

on_both_brokers!(a_publish_to_a_topic_over_the_cap_gets_400_and_stores_nothing);

async fn a_publish_to_a_topic_over_the_cap_gets_400_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.max_topic_recipients = 3).await;
    app.replace_subscribers("small", &["a", "b", "c"]).await;
    app.replace_subscribers("big", &["a", "b", "c", "d"]).await;
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
    app.replace_subscribers("big", &["a", "b", "c"]).await;
    let mut sse = app.sse("a").await;
    app.redis()
        .publish("image_update", r#"{"topic":"big","n":1}"#)
        .await;
    app.wait_sample(
        r#"notify_events_rejected_total{reason="topic_too_large",source="pubsub"}"#,
        1.0,
    )
    .await;
    app.redis()
        .publish("image_update", r#"{"user_id":"a","n":2}"#)
        .await;
    assert_eq!(sse.next_event().await.data["n"], 2);
}

/// Opens `/events` for `user` as the client `forwarded` (through a trusted proxy) and returns
/// the response, open or refused.
async fn open_events(app: &TestApp, user: &str, forwarded: &str) -> reqwest::Response {
    app.http
        .get(app.url("/events"))
        .bearer_auth(crate::helpers::token(user))
        .header("X-Forwarded-For", forwarded)
        .send()
        .await
        .expect("events request")
}

on_both_brokers!(open_streams_are_capped_per_client_address_behind_a_trusted_proxy);

async fn open_streams_are_capped_per_client_address_behind_a_trusted_proxy(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.max_connections_per_address = 2;
        s.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let client = "198.51.100.1";
    let first = open_events(&app, "u1", client).await;
    let second = open_events(&app, "u2", client).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let refused = open_events(&app, "u3", client).await;
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("JSON error");
    assert_eq!(body["error"], "too_many_connections_for_address");
    // Other clients behind the same proxy have their own allowance, and polls are not streams.
    assert_eq!(open_events(&app, "u3", "198.51.100.2").await.status(), 200);
    assert_eq!(app.poll("u3", None, 0).await["reset"], false);
    // A stream that ends gives its place back.
    drop(first);
    eventually("the place never came back", || async {
        let res = open_events(&app, "u3", client).await;
        if res.status() == 200 {
            return Some(());
        }
        assert_eq!(res.status().as_u16(), 429);
        None
    })
    .await;
    drop(second);
}
