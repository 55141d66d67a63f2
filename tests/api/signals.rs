//! The real binary on SIGTERM: streams end, polls answer, the process exits promptly.

use std::time::Duration;

use crate::helpers::{RelayProcess, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_streams_answers_polls_and_exits_promptly() {
    let mut relay = RelayProcess::start(None, |_| {}).await;
    let mut sse = relay.sse("1").await;
    let cursor: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/poll", relay.base))
        .bearer_auth(token("2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = cursor["cursor"].as_str().unwrap().to_owned();
    let poll = tokio::spawn({
        let url = format!("{}/poll?cursor={cursor}&timeout=60", relay.base);
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token("2"))
                .send()
                .await
                .unwrap()
        }
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
