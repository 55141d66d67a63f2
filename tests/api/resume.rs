//! Resume by cursor: nothing lost, nothing twice, and a reset when history no longer covers it.

use std::sync::Arc;

use serde_json::json;

use crate::{
    helpers::{Backend, Frame, TestApp},
    on_every_path,
};

on_every_path!(the_oldest_cursor_history_still_covers_is_not_reset);

async fn the_oldest_cursor_history_still_covers_is_not_reset(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.history_len = 3).await;
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(app.publish_ok(json!({"user_id": 1, "n": n})).await);
    }
    // History holds the last 3 events (ids[3..]); a client that saw ids[2] missed nothing.
    let poll = app.poll("1", Some(&ids[2]), 0).await;
    assert_eq!(poll["reset"], false);
    let got: Vec<&str> = poll["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids[3..].iter().map(String::as_str).collect::<Vec<_>>());
    // One further back, an event the client never saw is gone: reset.
    assert_eq!(app.poll("1", Some(&ids[1]), 0).await["reset"], true);
}

on_every_path!(
    a_stream_resumed_with_last_event_id_replays_what_was_missed_then_goes_live,
    resuming_while_events_pour_in_loses_and_repeats_nothing,
    a_cursor_older_than_history_gets_a_reset_to_the_current_position,
    a_cursor_from_the_future_gets_a_reset,
    the_query_parameter_works_like_the_header,
);

async fn a_stream_resumed_with_last_event_id_replays_what_was_missed_then_goes_live(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let mut sse = app.sse("42").await;
    let first = app.publish_ok(json!({"user_id": 42, "n": 1})).await;
    assert_eq!(sse.next_event().await.id, first);
    drop(sse);
    let mut missed = Vec::new();
    for n in 2..=4 {
        missed.push(app.publish_ok(json!({"user_id": 42, "n": n})).await);
        app.publish_ok(json!({"user_id": 43, "n": n})).await;
    }
    let mut sse = app.sse_from("42", Some(&first)).await;
    let replayed: Vec<_> = sse.events(3).await.into_iter().map(|e| e.id).collect();
    assert_eq!(replayed, missed);
    let live = app.publish_ok(json!({"user_id": 42, "n": 5})).await;
    assert_eq!(sse.next_event().await.id, live);
}

async fn resuming_while_events_pour_in_loses_and_repeats_nothing(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let total = 300;
    let mut sse = app.sse("fast").await;
    let publisher = {
        let app = app.clone();
        tokio::spawn(async move {
            for n in 0..total {
                app.publish_ok(json!({"user_id": "fast", "n": n})).await;
            }
        })
    };
    let mut seen: Vec<u64> = Vec::new();
    let mut last_id = String::new();
    let mut reconnects = 0;
    while seen.len() < total {
        let e = sse.next_event().await;
        if !last_id.is_empty() {
            assert!(
                cursor(&e.id) > cursor(&last_id),
                "ids strictly increase: {} after {}",
                e.id,
                last_id
            );
        }
        last_id = e.id.clone();
        seen.push(e.data["n"].as_u64().unwrap());
        // Drop the connection every 40 events and resume while the publisher keeps going.
        if seen.len().is_multiple_of(40) {
            sse = app.sse_from("fast", Some(&last_id)).await;
            reconnects += 1;
        }
    }
    publisher.await.unwrap();
    assert_eq!(
        seen,
        (0..total as u64).collect::<Vec<_>>(),
        "every event once, in order"
    );
    assert!(reconnects >= 7);
}

fn cursor(id: &str) -> (u64, u64) {
    let (a, b) = id.split_once('-').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

async fn a_cursor_older_than_history_gets_a_reset_to_the_current_position(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.history_len = 3).await;
    let old = app.publish_ok(json!({"user_id": 1, "n": 0})).await;
    let mut newest = String::new();
    for n in 1..=5 {
        newest = app.publish_ok(json!({"user_id": 1, "n": n})).await;
    }
    let mut sse = app.sse_from("1", Some(&old)).await;
    let reset = loop {
        match sse.next_frame().await.unwrap() {
            Frame::Message {
                event: Some(e),
                id,
                data,
                ..
            } => break (e, id, data),
            Frame::Message { data: None, .. } => continue,
            other => panic!("expected a reset first, got {other:?}"),
        }
    };
    assert_eq!(reset.0, "reset");
    assert_eq!(
        reset.1.as_deref(),
        Some(newest.as_str()),
        "the reset moves the cursor to now"
    );
    let why: serde_json::Value = serde_json::from_str(&reset.2.unwrap()).unwrap();
    assert_eq!(why["reason"], "cursor_too_old");
    let live = app.publish_ok(json!({"user_id": 1, "n": 6})).await;
    assert_eq!(
        sse.next_event().await.id,
        live,
        "after the reset, live events follow"
    );

    let poll = app.poll("1", Some(&old), 1).await;
    assert_eq!(poll["reset"], true);
    assert_eq!(poll["cursor"], live);
    assert_eq!(poll["events"], json!([]));
    // A cursor still inside history is not reset.
    let inside = app.poll("1", Some(&newest), 1).await;
    assert_eq!(inside["reset"], false);
    assert_eq!(inside["events"][0]["id"], live);
}

async fn a_cursor_from_the_future_gets_a_reset(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = app.publish_ok(json!({"user_id": 1})).await;
    let poll = app.poll("1", Some("99999999999999-0"), 1).await;
    assert_eq!(poll["reset"], true);
    assert_eq!(poll["cursor"], now);
}

async fn the_query_parameter_works_like_the_header(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.publish_ok(json!({"user_id": 3, "n": 1})).await;
    let second = app.publish_ok(json!({"user_id": 3, "n": 2})).await;
    let url = format!(
        "{}/events?last_event_id={first}&token={}",
        app.base,
        crate::helpers::token("3")
    );
    let res = app.http.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut sse = crate::helpers::SseClient::new(res);
    assert_eq!(sse.next_event().await.id, second);
}
