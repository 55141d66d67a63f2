//! Long-poll: immediate answers, held answers, timeouts, and consecutive polls.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp},
    on_every_path,
};

on_every_path!(
    a_poll_without_cursor_answers_at_once_with_the_current_position,
    a_poll_with_waiting_events_answers_at_once,
    a_poll_holds_until_an_event_arrives,
    a_poll_with_nothing_to_say_answers_empty_at_its_timeout,
    consecutive_polls_never_miss_or_repeat_an_event,
    a_long_backlog_comes_in_bounded_batches,
    a_waiting_poll_sends_its_head_at_once_and_its_answer_when_an_event_comes,
    a_waiting_poll_whose_client_goes_away_is_let_go,
);

async fn a_poll_without_cursor_answers_at_once_with_the_current_position(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = app.publish_ok(json!({"user_id": 1})).await;
    let started = std::time::Instant::now();
    let poll = app.poll("1", None, 20).await;
    assert!(started.elapsed().as_secs() < 5, "did not wait");
    assert_eq!(
        poll,
        json!({"events": [], "cursor": before, "reset": false})
    );
    // Nothing after that moment is missed.
    let after = app.publish_ok(json!({"user_id": 1, "n": 2})).await;
    let next = app.poll("1", Some(&before), 5).await;
    assert_eq!(next["events"][0]["id"], after);
}

async fn a_poll_with_waiting_events_answers_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cursor = app.cursor_now("1").await;
    let id = app
        .publish_ok(json!({"user_id": 1, "event": "image", "img_url": "/a.jpg"}))
        .await;
    let res = app
        .http
        .get(app.url(&format!("/poll?cursor={cursor}&timeout=20")))
        .bearer_auth(crate::helpers::token("1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let poll: Value = res.json().await.unwrap();
    assert_eq!(
        poll,
        json!({"events": [{"id": id, "event": "image", "data": {"user_id": 1, "event": "image", "img_url": "/a.jpg"}}],
               "cursor": id, "reset": false})
    );
}

async fn a_poll_holds_until_an_event_arrives(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let cursor = app.cursor_now("1").await;
    let waiting = {
        let app = app.clone();
        tokio::spawn(async move { app.poll("1", Some(&cursor), 20).await })
    };
    // The poll is held: wait until the relay counts it as a live connection, then publish.
    app.wait_connections(1).await;
    let id = app.publish_ok(json!({"user_id": 1, "n": 1})).await;
    let poll = waiting.await.unwrap();
    assert_eq!(poll["events"][0]["id"], id);
    assert_eq!(poll["cursor"], id);
}

async fn a_poll_with_nothing_to_say_answers_empty_at_its_timeout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cursor = app.cursor_now("1").await;
    app.publish_ok(json!({"user_id": 2})).await;
    let started = std::time::Instant::now();
    let poll = app.poll("1", Some(&cursor), 1).await;
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "it held the poll"
    );
    assert_eq!(
        poll,
        json!({"events": [], "cursor": cursor, "reset": false})
    );
}

async fn consecutive_polls_never_miss_or_repeat_an_event(backend: Backend) {
    let app = Arc::new(TestApp::spawn_with(backend, |s| s.poll_batch = 7).await);
    let total = 200;
    let mut cursor = app.cursor_now("p").await;
    let publisher = {
        let app = app.clone();
        tokio::spawn(async move {
            for n in 0..total {
                app.publish_ok(json!({"user_id": "p", "n": n})).await;
            }
        })
    };
    let mut seen = Vec::new();
    while seen.len() < total {
        let poll = app.poll("p", Some(&cursor), 5).await;
        for e in poll["events"].as_array().unwrap() {
            seen.push(e["data"]["n"].as_u64().unwrap());
        }
        cursor = poll["cursor"].as_str().unwrap().to_owned();
    }
    publisher.await.unwrap();
    assert_eq!(seen, (0..total as u64).collect::<Vec<_>>());
}

async fn a_long_backlog_comes_in_bounded_batches(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.poll_batch = 4).await;
    let cursor = app.cursor_now("b").await;
    for n in 0..10 {
        app.publish_ok(json!({"user_id": "b", "n": n})).await;
    }
    let first = app.poll("b", Some(&cursor), 1).await;
    assert_eq!(first["events"].as_array().unwrap().len(), 4);
    let next = app.poll("b", first["cursor"].as_str(), 1).await;
    assert_eq!(next["events"][0]["data"]["n"], 4);
}

async fn a_waiting_poll_sends_its_head_at_once_and_its_answer_when_an_event_comes(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let cursor = app.cursor_now("h").await;
    let res = app
        .http
        .get(app.url(&format!("/poll?cursor={cursor}&timeout=20")))
        .bearer_auth(crate::helpers::token("h"))
        .send()
        .await
        .unwrap();
    // The head is here while the poll still waits: nothing has been published for the user.
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["content-type"], "application/json");
    app.wait_connections(1).await;
    let id = app.publish_ok(json!({"user_id": "h", "n": 1})).await;
    let poll: Value = res.json().await.unwrap();
    assert_eq!(
        poll,
        json!({"events": [{"id": id, "event": null, "data": {"user_id": "h", "n": 1}}],
               "cursor": id, "reset": false})
    );
    app.wait_connections(0).await;
}

async fn a_waiting_poll_whose_client_goes_away_is_let_go(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cursor = app.cursor_now("g").await;
    let res = app
        .http
        .get(app.url(&format!("/poll?cursor={cursor}&timeout=20")))
        .bearer_auth(crate::helpers::token("g"))
        .send()
        .await
        .unwrap();
    app.wait_connections(1).await;
    // Dropping an unread response closes its connection: the relay must drop the waiting poll
    // (its subscription and gauge) without waiting for its timeout.
    drop(res);
    app.wait_connections(0).await;
}
