//! The Redis pub/sub bridge: a PHP app's PUBLISH reaches the user's browser.

use serde_json::json;

use crate::helpers::{Backend, TestApp, eventually, subscribed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_php_style_publish_reaches_user_42_and_nobody_else() {
    let app = TestApp::spawn(Backend::Redis).await;
    let mut u42 = app.sse("42").await;
    let mut u43 = app.sse("43").await;
    let receivers = app
        .redis()
        .publish("image_update", r#"{"user_id":42,"img_url":"/x.jpg"}"#)
        .await;
    assert_eq!(receivers, 1, "exactly one bridge is subscribed");
    let got = u42.next_event().await;
    assert_eq!(got.data, json!({"user_id": 42, "img_url": "/x.jpg"}));
    app.redis()
        .publish("image_update", r#"{"user_id":"43","img_url":"/y.jpg"}"#)
        .await;
    assert_eq!(
        u43.next_event().await.data["img_url"],
        "/y.jpg",
        "43 got only its own event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pubsub_event_can_be_polled() {
    let app = TestApp::spawn(Backend::Redis).await;
    let cursor = app.cursor_now("42").await;
    app.redis()
        .publish("image_update", r#"{"user_id":42,"img_url":"/p.jpg"}"#)
        .await;
    let poll = app.poll("42", Some(&cursor), 10).await;
    assert_eq!(poll["events"][0]["data"]["img_url"], "/p.jpg");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_pubsub_messages_are_skipped_and_the_relay_keeps_serving() {
    let app = TestApp::spawn(Backend::Redis).await;
    let mut sse = app.sse("42").await;
    let huge = format!(r#"{{"user_id":42,"x":"{}"}}"#, "a".repeat(70_000));
    let deep = format!(
        r#"{{"user_id":42,"x":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    for junk in [
        "not json",
        "[1,2]",
        r#"{"img_url":"/no-user.jpg"}"#,
        r#"{"user_id":1.5}"#,
        "\u{0}\u{1}binary",
        &huge,
        &deep,
    ] {
        app.redis().publish("image_update", junk).await;
    }
    app.redis()
        .publish(
            "image_update",
            r#"{"user_id":42,"img_url":"/after-junk.jpg"}"#,
        )
        .await;
    assert_eq!(sse.next_event().await.data["img_url"], "/after-junk.jpg");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_channels_can_be_ingested() {
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        s.channels = vec!["image_update".into(), "other".into()]
    })
    .await;
    let mut sse = app.sse("1").await;
    // Both channels are subscribed once the second one counts a subscriber.
    let c = app.redis().connection().await;
    eventually("the second channel was never subscribed", || async {
        subscribed(&c, "other").await.then_some(())
    })
    .await;
    app.redis()
        .publish("other", r#"{"user_id":1,"via":"other"}"#)
        .await;
    assert_eq!(sse.next_event().await.data["via"], "other");
}
