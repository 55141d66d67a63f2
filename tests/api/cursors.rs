//! Hardening of cursors (issue 13, items 1 and 4): any cursor a client sends is judged before it
//! reaches the store, and one outside retained history is a reset whatever its value.

use serde_json::json;

use crate::{
    helpers::{Backend, Frame, SseClient, TestApp},
    on_both_brokers,
};

/// Reads frames until the first one with an `event:` line and returns its name, id and data.
async fn first_named_frame(sse: &mut SseClient) -> (String, Option<String>, serde_json::Value) {
    loop {
        match sse.next_frame().await.expect("stream open") {
            Frame::Message {
                event: Some(event),
                id,
                data,
                ..
            } => {
                let data = serde_json::from_str(&data.unwrap_or_default()).expect("JSON data");
                return (event, id, data);
            }
            Frame::Message { event: None, .. } | Frame::Comment(_) => continue,
        }
    }
}

on_both_brokers!(
    a_cursor_at_the_top_of_the_id_space_is_a_reset_on_poll_and_on_last_event_id,
    a_zero_cursor_before_retained_history_is_a_reset,
);

async fn a_cursor_at_the_top_of_the_id_space_is_a_reset_on_poll_and_on_last_event_id(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let head = app.publish_ok(json!({"user_id": 1, "n": 1})).await;
    let max = u64::MAX;
    let (head_ms, _) = head.split_once('-').expect("id");
    // Redis cannot take the first one as an exclusive range start at all; the others lie
    // ahead of the head too. None may reach the store unjudged.
    for ahead in [
        format!("{max}-{max}"),
        format!("{head_ms}-{max}"),
        format!("{max}-0"),
    ] {
        let poll = app.poll("1", Some(&ahead), 0).await;
        assert_eq!(poll["reset"], true, "poll from {ahead}");
        assert_eq!(poll["cursor"], head.as_str(), "poll from {ahead}");
        let mut sse = app.sse_from("1", Some(&ahead)).await;
        let (event, id, data) = first_named_frame(&mut sse).await;
        assert_eq!(event, "reset", "Last-Event-ID {ahead}");
        assert_eq!(id.as_deref(), Some(head.as_str()));
        assert_eq!(data["cursor"], head.as_str());
    }
    // The relay keeps serving: the next event arrives from the position the reset gave.
    let next = app.publish_ok(json!({"user_id": 1, "n": 2})).await;
    let poll = app.poll("1", Some(&head), 0).await;
    assert_eq!(poll["events"][0]["id"], next.as_str());
}

async fn a_zero_cursor_before_retained_history_is_a_reset(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.history_len = 3).await;
    let mut ids = Vec::new();
    for n in 0..2 {
        ids.push(app.publish_ok(json!({"user_id": 1, "n": n})).await);
    }
    // Nothing trimmed yet: `0-0` (an empty store's head) means "from the beginning".
    let poll = app.poll("1", Some("0-0"), 0).await;
    assert_eq!(poll["reset"], false);
    assert_eq!(poll["events"].as_array().map(Vec::len), Some(2));
    for n in 2..6 {
        ids.push(app.publish_ok(json!({"user_id": 1, "n": n})).await);
    }
    let newest = ids.last().expect("ids").clone();
    // The first events are trimmed away: `0-0` would hide a gap, so it is a reset.
    let poll = app.poll("1", Some("0-0"), 0).await;
    assert_eq!(poll["reset"], true);
    assert_eq!(poll["cursor"], newest.as_str());
    assert_eq!(poll["events"], json!([]));
    let mut sse = app.sse_from("1", Some("0-0")).await;
    let (event, id, _) = first_named_frame(&mut sse).await;
    assert_eq!(event, "reset");
    assert_eq!(id.as_deref(), Some(newest.as_str()));
}
