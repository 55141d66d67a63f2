//! What a publisher may not do to subscribers (issue 13, items 1b and 2): pose as the relay's
//! own control frames, or show recipients the routing metadata of a message.

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp},
    on_both_brokers,
};

const FORGED: &str = "18446744073709551615-18446744073709551615";
const RESERVED: [&str; 6] = [
    "reset",
    "token-expired",
    "reconnect",
    "keepalive",
    "open",
    "error",
];

on_both_brokers!(publishing_a_control_event_name_gets_400_and_reaches_nobody);

async fn publishing_a_control_event_name_gets_400_and_reaches_nobody(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut sse = app.sse("7").await;
    for name in RESERVED {
        let res = app
            .publish(json!({"user_id": 7, "event": name, "cursor": FORGED}))
            .await;
        assert_eq!(res.status().as_u16(), 400, "event {name}");
        let body: Value = res.json().await.expect("JSON error");
        assert_eq!(body["error"], "reserved_event");
        assert!(body["message"].as_str().unwrap_or("").contains(name));
    }
    // The first thing the stream gets is the next ordinary event.
    let ok = app
        .publish_ok(json!({"user_id": 7, "event": "image_ready"}))
        .await;
    let got = sse.next_event().await;
    assert_eq!((got.id, got.event.as_deref()), (ok, Some("image_ready")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_event_name_on_pubsub_is_skipped_with_a_reason() {
    let app = TestApp::spawn(Backend::Redis).await;
    let mut sse = app.sse("7").await;
    for name in RESERVED {
        let msg = json!({"user_id": 7, "event": name, "cursor": FORGED}).to_string();
        app.redis().publish("image_update", &msg).await;
    }
    app.wait_sample(
        r#"notify_events_rejected_total{reason="reserved_event",source="pubsub"}"#,
        RESERVED.len() as f64,
    )
    .await;
    app.redis()
        .publish("image_update", r#"{"user_id":7,"img_url":"/after.jpg"}"#)
        .await;
    let got = sse.next_event().await;
    assert_eq!(got.event, None);
    assert_eq!(got.data, json!({"user_id": 7, "img_url": "/after.jpg"}));
}

on_both_brokers!(recipients_get_the_data_without_the_routing_fields);

async fn recipients_get_the_data_without_the_routing_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.http
        .put(app.url("/topics/image:9/subscribers/3"))
        .bearer_auth(crate::helpers::PUBLISH_KEY)
        .send()
        .await
        .expect("subscribe");
    let (mut one, mut three) = (app.sse("1").await, app.sse("3").await);
    let cursor = app.cursor_now("2").await;
    // Seen byte for byte: the seed message is delivered exactly as published.
    app.publish_ok(json!({"user_id": 1, "img_url": "/x.jpg"}))
        .await;
    assert_eq!(
        raw_data(&mut one).await,
        r#"{"user_id":1,"img_url":"/x.jpg"}"#
    );
    app.publish_ok(json!({
        "user_id": 1, "user_ids": [2, 5], "topic": "image:9", "exclude": [5],
        "event": "image_ready", "img_url": "/a.jpg", "n": 7,
    }))
    .await;
    let kept = r#"{"user_id":1,"topic":"image:9","event":"image_ready","img_url":"/a.jpg","n":7}"#;
    assert_eq!(raw_data(&mut one).await, kept);
    assert_eq!(raw_data(&mut three).await, kept);
    let poll = app.poll("2", Some(&cursor), 0).await;
    assert_eq!(poll["events"][0]["data"].to_string(), kept);
}

/// The `data:` text of the next event on a stream, exactly as sent.
async fn raw_data(sse: &mut crate::helpers::SseClient) -> String {
    loop {
        if let Some(crate::helpers::Frame::Message {
            data: Some(data), ..
        }) = sse.next_frame().await
        {
            return data;
        }
    }
}
