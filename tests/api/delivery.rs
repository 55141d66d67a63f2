//! Live delivery over SSE: the right user, every tab, named and unnamed events, keepalives.

use serde_json::json;

use crate::{
    helpers::{Backend, Frame, TestApp},
    on_both_brokers,
};

on_both_brokers!(
    an_http_publish_reaches_the_users_stream_as_the_published_object,
    events_reach_only_their_user,
    every_tab_of_a_user_gets_every_event,
    named_events_carry_an_event_line_and_unnamed_ones_do_not,
    a_stream_opens_with_retry_and_the_current_position,
    idle_streams_get_keepalive_comments,
    user_ids_reach_every_listed_user_once,
);

async fn an_http_publish_reaches_the_users_stream_as_the_published_object(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut sse = app.sse("42").await;
    let id = app
        .publish_ok(json!({"user_id": 42, "img_url": "/x.jpg"}))
        .await;
    let got = sse.next_event().await;
    assert_eq!(got.id, id);
    assert_eq!(got.event, None);
    assert_eq!(got.data, json!({"user_id": 42, "img_url": "/x.jpg"}));
}

async fn events_reach_only_their_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut u42 = app.sse("42").await;
    let mut u43 = app.sse("43").await;
    app.publish_ok(json!({"user_id": 42, "img_url": "/for-42.jpg"}))
        .await;
    app.publish_ok(json!({"user_id": "43", "img_url": "/for-43.jpg"}))
        .await;
    assert_eq!(u42.next_event().await.data["img_url"], "/for-42.jpg");
    // 43's first event is its own: 42's event never reached it.
    assert_eq!(u43.next_event().await.data["img_url"], "/for-43.jpg");
}

async fn every_tab_of_a_user_gets_every_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut tabs = Vec::new();
    for _ in 0..3 {
        tabs.push(app.sse("7").await);
    }
    let a = app.publish_ok(json!({"user_id": 7, "n": 1})).await;
    let b = app.publish_ok(json!({"user_id": 7, "n": 2})).await;
    for tab in &mut tabs {
        let got = tab.events(2).await;
        assert_eq!(
            [got[0].id.clone(), got[1].id.clone()],
            [a.clone(), b.clone()]
        );
    }
}

async fn named_events_carry_an_event_line_and_unnamed_ones_do_not(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut sse = app.sse("1").await;
    app.publish_ok(json!({"user_id": 1, "event": "image_ready", "img_url": "/a.jpg"}))
        .await;
    app.publish_ok(json!({"user_id": 1, "img_url": "/b.jpg"}))
        .await;
    let named = sse.next_event().await;
    assert_eq!(named.event.as_deref(), Some("image_ready"));
    assert_eq!(
        named.data["event"], "image_ready",
        "data is the whole published object"
    );
    assert_eq!(sse.next_event().await.event, None);
}

async fn a_stream_opens_with_retry_and_the_current_position(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = app.publish_ok(json!({"user_id": 9, "n": 0})).await;
    let res = app
        .http
        .get(app.url("/events"))
        .bearer_auth(crate::helpers::token("5"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    let mut sse = crate::helpers::SseClient::new(res);
    let Some(Frame::Message {
        retry, id, data, ..
    }) = sse.next_frame().await
    else {
        panic!("the stream must open with a message block");
    };
    assert_eq!(retry.as_deref(), Some("3000"));
    assert_eq!(
        id,
        Some(before),
        "the opening id is the newest event, so a reconnect misses nothing"
    );
    assert_eq!(data, None, "the opening block dispatches no event");
}

async fn idle_streams_get_keepalive_comments(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut sse = app.sse("1").await;
    let mut comments = 0;
    while comments < 2 {
        match sse.next_frame().await.expect("stream stays open") {
            Frame::Comment(c) => {
                assert_eq!(c, "keepalive");
                comments += 1;
            }
            Frame::Message { data: None, .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn user_ids_reach_every_listed_user_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut a = app.sse("a").await;
    let mut b = app.sse("b").await;
    let id = app
        .publish_ok(json!({"user_ids": ["a", "b", "a"], "user_id": "b", "x": 1}))
        .await;
    let marker = app
        .publish_ok(json!({"user_ids": ["a", "b"], "x": 2}))
        .await;
    for sse in [&mut a, &mut b] {
        let got = sse.events(2).await;
        assert_eq!(got[0].id, id);
        assert_eq!(got[1].id, marker, "no duplicate of the first event");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalives_can_be_visible_events_for_pages_that_watch_for_stalls() {
    let app = TestApp::spawn(Backend::Memory).await;
    let url = app.url("/events?keepalive=event");
    let res = app
        .http
        .get(url)
        .bearer_auth(crate::helpers::token("1"))
        .send()
        .await
        .unwrap();
    let mut sse = crate::helpers::SseClient::new(res);
    loop {
        match sse.next_frame().await.expect("stream stays open") {
            Frame::Message { data: None, .. } => continue,
            Frame::Message {
                event, data, id, ..
            } => {
                assert_eq!(event.as_deref(), Some("keepalive"));
                assert_eq!(data.as_deref(), Some(""));
                assert_eq!(id, None, "a keepalive never moves the cursor");
                break;
            }
            Frame::Comment(c) => panic!("asked for events, got a comment {c:?}"),
        }
    }
    let res = app
        .http
        .get(app.url("/events?keepalive=loud"))
        .bearer_auth(crate::helpers::token("1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}
