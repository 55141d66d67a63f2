//! Several relays on one Redis: any instance resumes any cursor, events reach every instance,
//! and pub/sub is bridged by exactly one of them.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{RedisServer, RelayProcess, eventually};

/// Starts `n` relays on one Redis with a bridge lease of `lease_ms`.
async fn relays(redis: &RedisServer, n: usize, lease_ms: u64) -> Vec<RelayProcess> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(RelayProcess::start(Some(&redis.url()), |s| s.bridge_lease_ms = lease_ms).await);
    }
    out
}

/// Waits until exactly one relay reports holding the bridge lease; returns its index.
pub async fn wait_single_holder(relays: &[RelayProcess]) -> usize {
    eventually("no instance took the bridge lease", || async {
        let mut holders = Vec::new();
        for (i, r) in relays.iter().enumerate() {
            if r.ready_json().await["bridge"] == "holder" {
                holders.push(i);
            }
        }
        assert!(holders.len() < 2, "two bridges at once: {holders:?}");
        holders.first().copied()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_from_one_instance_resumes_on_another_with_no_gap_and_no_duplicate() {
    let redis = RedisServer::start().await;
    let r = relays(&redis, 2, 1_500).await;
    let mut on_a = r[0].sse("42").await;
    let first = r[0].publish_ok(json!({"user_id": 42, "n": 1})).await;
    assert_eq!(on_a.next_event().await.id, first);
    drop(on_a);
    let mut missed = Vec::new();
    for n in 2..=4 {
        missed.push(r[n % 2].publish_ok(json!({"user_id": 42, "n": n})).await);
    }
    let mut on_b = r[1].sse_from("42", Some(&first)).await;
    let got: Vec<_> = on_b.events(3).await.into_iter().map(|e| e.id).collect();
    assert_eq!(got, missed);
    let live = r[0].publish_ok(json!({"user_id": 42, "n": 5})).await;
    assert_eq!(
        on_b.next_event().await.id,
        live,
        "published on A, delivered live on B"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pubsub_message_is_appended_once_however_many_instances_run() {
    let redis = RedisServer::start().await;
    // A long lease: on a loaded machine a short one can lapse between renewals, and for a moment a
    // second relay subscribes (its appends are fenced off, but PUBLISH would count 2 receivers).
    let r = relays(&redis, 3, 10_000).await;
    wait_single_holder(&r).await;
    let mut streams = Vec::new();
    for relay in &r {
        streams.push(relay.sse("7").await);
    }
    assert_eq!(
        redis
            .publish("image_update", r#"{"user_id":7,"img_url":"/once.jpg"}"#)
            .await,
        1,
        "one subscriber: the holder"
    );
    // The bridge appends the PUBLISH asynchronously, so it may land before or after an HTTP
    // publish made just after it: compare the pair, not the order.
    let marker = r[2].publish_ok(json!({"user_id": 7, "marker": true})).await;
    for sse in &mut streams {
        let got = sse.events(2).await;
        let bridged = got
            .iter()
            .filter(|e| e.data["img_url"] == "/once.jpg")
            .count();
        assert_eq!(bridged, 1, "the pub/sub message arrived once: {got:?}");
        assert!(got.iter().any(|e| e.id == marker));
    }
    let last = r[0].publish_ok(json!({"user_id": 7, "last": true})).await;
    for sse in &mut streams {
        assert_eq!(sse.next_event().await.id, last, "no second copy came later");
    }
    let mut c = redis.connection().await;
    let len: i64 = redis::cmd("XLEN")
        .arg("test:{0}:log")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(len, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_bridge_holder_is_killed_another_instance_takes_over() {
    let redis = RedisServer::start().await;
    let mut r = relays(&redis, 2, 1_500).await;
    let holder = wait_single_holder(&r).await;
    let other = 1 - holder;
    let mut sse = r[other].sse("9").await;
    r[holder].kill();
    let killed_at = Instant::now();
    wait_single_holder(&r[other..=other]).await;
    let took = killed_at.elapsed();
    assert!(took < Duration::from_secs(5), "takeover took {took:?}");
    redis
        .publish("image_update", r#"{"user_id":9,"after":"takeover"}"#)
        .await;
    assert_eq!(sse.next_event().await.data["after"], "takeover");
}
