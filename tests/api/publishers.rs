//! What a publisher may not do to subscribers (issue 13, items 1b and 2): pose as the relay's
//! own control frames, or show recipients the routing metadata of a message.

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp, wait_sample},
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
    wait_sample(
        &app.base,
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
