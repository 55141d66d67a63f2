//! Streams end on time: when the token that opened them expires (`event: token-expired`) and at
//! the maximum stream lifetime (`event: reconnect`); resuming from the last id loses nothing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Backend, Frame, JWT_SECRET, SseClient, TestApp, now_secs, token, token_with};

/// Reads until a named data-carrying frame without an id; returns its data. Panics if an event
/// with data arrives first or the stream ends first.
async fn until_end_frame(sse: &mut SseClient, name: &str) -> Value {
    loop {
        match sse
            .next_frame()
            .await
            .expect("stream ended without a last frame")
        {
            Frame::Message {
                event: Some(e),
                data: Some(data),
                id: None,
                ..
            } if e == name => return serde_json::from_str(&data).expect("json"),
            Frame::Message {
                data: Some(data), ..
            } => panic!("unexpected event before {name}: {data}"),
            _ => continue,
        }
    }
}

async fn open(app: &TestApp, bearer: &str, last_event_id: Option<&str>) -> SseClient {
    let mut req = app.http.get(app.url("/events")).bearer_auth(bearer);
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    let res = req.send().await.expect("events");
    assert_eq!(res.status(), 200);
    SseClient::new(res)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_with_token_expired_when_its_token_expires_and_resuming_loses_nothing() {
    let app = TestApp::spawn(Backend::Memory).await;
    let exp = now_secs() + 3;
    let short = token_with(json!({"sub": "u1", "exp": exp}), JWT_SECRET);
    let mut sse = open(&app, &short, None).await;
    let first = app.publish_ok(json!({"user_id": "u1", "n": 1})).await;
    assert_eq!(sse.next_event().await.id, first);

    let data = until_end_frame(&mut sse, "token-expired").await;
    assert_eq!(data["reason"], "token_expired");
    assert!(sse.next_frame().await.is_none(), "the stream ends after it");
    // It ended within the token's lifetime (exp is whole seconds; allow the tick's delay).
    assert!(
        now_secs() <= exp + 1,
        "ended late: now {} exp {exp}",
        now_secs()
    );

    // Published while the client has no stream: the resume with a fresh token brings it.
    let missed = app.publish_ok(json!({"user_id": "u1", "n": 2})).await;
    let mut again = open(&app, &token("u1"), Some(&first)).await;
    let got = again.next_event().await;
    assert_eq!((got.id, got.data["n"].clone()), (missed, json!(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_with_reconnect_at_the_maximum_lifetime() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.max_stream_secs = 2).await;
    let opened = Instant::now();
    let mut sse = open(&app, &token("u2"), None).await;
    let first = app.publish_ok(json!({"user_id": "u2", "n": 1})).await;
    assert_eq!(sse.next_event().await.id, first);
    let data = until_end_frame(&mut sse, "reconnect").await;
    assert_eq!(data["reason"], "max_stream_lifetime");
    assert!(sse.next_frame().await.is_none());
    let lived = opened.elapsed();
    assert!(lived < Duration::from_millis(3500), "lived {lived:?}");

    let missed = app.publish_ok(json!({"user_id": "u2", "n": 2})).await;
    let mut again = open(&app, &token("u2"), Some(&first)).await;
    assert_eq!(again.next_event().await.id, missed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_is_not_held_past_its_tokens_expiry() {
    let app = TestApp::spawn(Backend::Memory).await;
    let head = app.poll("u3", None, 0).await["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let short = token_with(json!({"sub": "u3", "exp": now_secs() + 2}), JWT_SECRET);
    let started = Instant::now();
    let res = app
        .http
        .get(app.url(&format!("/poll?cursor={head}&timeout=20")))
        .bearer_auth(short)
        .send()
        .await
        .expect("poll");
    assert_eq!(res.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
