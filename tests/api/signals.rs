//! The real binary on SIGTERM: streams end, polls answer, the process exits promptly.

use std::time::Duration;

use crate::helpers::{Relay, RelayProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_streams_answers_polls_and_exits_promptly() {
    let mut relay = RelayProcess::start(None, |_| {}).await;
    let mut sse = relay.sse("1").await;
    let cursor = relay.cursor_now("2").await;
    let poll = tokio::spawn({
        let (relay, path) = (
            Relay::clone(&relay),
            format!("/poll?cursor={cursor}&timeout=60"),
        );
        async move { relay.get_as("2", &path).await }
    });
    relay.wait_connections(2).await;
    relay.signal("TERM");
    let answered = tokio::time::timeout(Duration::from_secs(3), poll)
        .await
        .expect("poll answered at once")
        .unwrap();
    assert_eq!(answered.status(), 200);
    let body: serde_json::Value = answered.json().await.unwrap();
    assert_eq!(body["cursor"], cursor.as_str());
    while sse.next_frame().await.is_some() {}
    assert!(
        relay.wait_exit(Duration::from_secs(6)).await,
        "the process exited within 6 s"
    );
}
