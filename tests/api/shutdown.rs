//! Graceful shutdown: streams end and polls answer at once, so clients move on without waiting.

use std::{sync::Arc, time::Instant};

use serde_json::json;

use crate::{
    helpers::{Backend, TestApp},
    on_both_brokers,
};

on_both_brokers!(stopping_ends_streams_and_answers_waiting_polls_at_once);

async fn stopping_ends_streams_and_answers_waiting_polls_at_once(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let mut sse = app.sse("1").await;
    let id = app.publish_ok(json!({"user_id": 1})).await;
    assert_eq!(sse.next_event().await.id, id);
    let waiting = {
        let app = app.clone();
        let id = id.clone();
        tokio::spawn(async move { app.poll("2", Some(&id), 60).await })
    };
    app.wait_connections(2).await;
    let started = Instant::now();
    app.stopper.stop().await;
    let poll = waiting.await.unwrap();
    assert_eq!(poll["events"], json!([]));
    assert_eq!(poll["cursor"], id, "the poll answers with its cursor");
    while sse.next_frame().await.is_some() {}
    assert!(
        started.elapsed().as_secs() < 5,
        "stopped promptly, not at the shutdown timeout"
    );
}
