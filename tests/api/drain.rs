//! Paced shutdown: on SIGTERM the real binary stops accepting, answers waiting polls, and ends
//! its streams spread over `--drain-secs`, each with `event: reconnect`.

use std::time::{Duration, Instant};

use crate::helpers::{Frame, RelayProcess, SseClient, eventually};

/// Reads a stream to its end; returns its last frame and when the stream ended.
async fn read_to_end(mut sse: SseClient, since: Instant) -> (Option<Frame>, Duration) {
    let mut last = None;
    while let Some(frame) = sse.next_frame().await {
        last = Some(frame);
    }
    (last, since.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_streams_spread_over_the_drain_each_with_reconnect() {
    let mut relay = RelayProcess::start(None, |s| s.drain_secs = 2).await;
    let streams = 20;
    let mut clients = Vec::new();
    for n in 0..streams {
        clients.push(relay.sse(&format!("d{n}")).await);
    }
    relay.wait_connections(streams).await;
    let signalled = Instant::now();
    relay.signal("TERM");
    let readers: Vec<_> = clients
        .into_iter()
        .map(|sse| tokio::spawn(read_to_end(sse, signalled)))
        .collect();

    // The listener closes soon after the signal, while the streams are still draining.
    let http = reqwest::Client::new();
    eventually("the listener is still open while draining", || async {
        let answer = http
            .get(relay.url("/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        answer.is_err().then_some(())
    })
    .await;
    // Refused while the 2 s drain still runs, not only once the process has exited.
    assert!(
        readers.iter().any(|r| !r.is_finished()),
        "the listener closed only after every stream had ended"
    );

    let mut ends = Vec::new();
    for reader in readers {
        let (last, ended) = reader.await.unwrap();
        match last {
            Some(Frame::Message {
                event: Some(event),
                id: None,
                data: Some(data),
                ..
            }) => {
                assert_eq!(event, "reconnect");
                let why: serde_json::Value = serde_json::from_str(&data).unwrap();
                assert_eq!(why["reason"], "shutdown");
            }
            other => panic!("expected event: reconnect last, got {other:?}"),
        }
        ends.push(ended);
    }
    ends.sort();
    assert!(
        ends[0] < Duration::from_millis(500),
        "the first at once: {ends:?}"
    );
    assert!(
        ends[streams as usize - 1] >= Duration::from_millis(1_500),
        "{ends:?}"
    );
    let first_half = ends.iter().filter(|e| **e < Duration::from_secs(1)).count();
    assert!(
        (6..=14).contains(&first_half),
        "about half in each second, not in one burst: {ends:?}"
    );
    assert!(
        relay.wait_exit(Duration::from_secs(5)).await,
        "the process exited after the drain"
    );
}
