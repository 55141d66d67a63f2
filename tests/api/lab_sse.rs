//! The `lab-sse` comparison build (docs/BENCHMARKS.md, docs/ARCHITECTURE.md): started with
//! `NOTIFY_LAB_SSE=1`, the real binary writes the live part of `/events` through actix-web-lab's
//! `Sse`, and the stream still opens, delivers, keeps alive and ends as the relay's body does.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Frame, RelayProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_notify_lab_sse_streams_go_through_sse_and_keep_the_relays_protocol() {
    let envs = [("RUST_LOG", "warn"), ("NOTIFY_LAB_SSE", "1")];
    let relay = RelayProcess::start_logged(None, |s| s.max_stream_secs = 2, &envs, None).await;
    let mut sse = relay.sse("lab1").await;

    // The opening position is the relay's own frame (`Sse` cannot write an id without data).
    match sse.next_frame().await {
        Some(Frame::Message {
            retry: Some(retry),
            id: Some(_),
            data: None,
            ..
        }) => assert_eq!(retry, "3000"),
        other => panic!("expected the opening frame, got {other:?}"),
    }
    // `Sse`'s own timer ticks at once with its `keep-alive` comment: the live part is `Sse`'s.
    assert_eq!(
        sse.next_frame().await,
        Some(Frame::Comment("keep-alive".into()))
    );

    let id = relay
        .publish_ok(json!({"user_id": "lab1", "event": "image", "n": 1}))
        .await;
    let got = sse.next_event().await;
    assert_eq!(got.id, id);
    assert_eq!(got.event.as_deref(), Some("image"));
    assert_eq!(got.data["n"], 1);

    // The deadline still ends the stream, with the relay's end frame and no id.
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(10), sse.next_frame())
            .await
            .expect("the stream ended in time")
        {
            Some(Frame::Comment(_)) => continue,
            other => break other,
        }
    };
    match end {
        Some(Frame::Message {
            id: None,
            event: Some(event),
            data: Some(data),
            ..
        }) => {
            assert_eq!(event, "reconnect");
            let why: serde_json::Value = serde_json::from_str(&data).expect("json");
            assert_eq!(why["reason"], "max_stream_lifetime");
        }
        other => panic!("expected event: reconnect, got {other:?}"),
    }
    assert!(sse.next_frame().await.is_none());
}
