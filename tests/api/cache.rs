//! The recent-event cache: resumes and polls inside what this instance has tailed are answered
//! without a Redis read; everything else still asks Redis.

use serde_json::json;

use crate::helpers::{Backend, RedisServer, TestApp};

/// Calls of the commands a history read or a head lookup runs in Redis (inside `read.lua` or
/// on their own), from `INFO commandstats`.
async fn read_commands(redis: &RedisServer) -> u64 {
    let mut c = redis.connection().await;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut c)
        .await
        .expect("info");
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(":calls=")?;
            let read = matches!(name, "cmdstat_xrange" | "cmdstat_xrevrange")
                || name.starts_with("cmdstat_xinfo");
            read.then(|| rest.split(',').next()?.parse::<u64>().ok())?
        })
        .sum()
}

/// Publishes four events for user 7 (and one for user 8 after each) and waits until a live
/// stream (so the tail, so the cache) has them all; returns user 7's ids.
async fn four_events(app: &TestApp) -> Vec<String> {
    let mut live = app.sse("7").await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(app.publish_ok(json!({"user_id": 7, "n": n})).await);
        app.publish_ok(json!({"user_id": 8, "n": n})).await;
    }
    app.publish_ok(json!({"user_id": 7, "n": "last"})).await;
    let got: Vec<String> = live.events(5).await.into_iter().map(|e| e.id).collect();
    assert_eq!(got[..4], ids);
    ids.push(got[4].clone());
    ids
}

/// Resumes a stream after `ids[0]` and polls after `ids[1]`, checking what each returns.
async fn resume_and_poll(app: &TestApp, ids: &[String]) {
    let mut sse = app.sse_from("7", Some(&ids[0])).await;
    let replayed: Vec<String> = sse.events(4).await.into_iter().map(|e| e.id).collect();
    assert_eq!(replayed, ids[1..]);
    let poll = app.poll("7", Some(&ids[1]), 0).await;
    let polled: Vec<&str> = poll["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(polled, [&ids[2], &ids[3], &ids[4]]);
    assert_eq!(poll["cursor"], ids[4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_and_a_poll_inside_the_window_send_no_read_to_redis() {
    let app = TestApp::spawn(Backend::Redis).await;
    let before_any = app.cursor_now("7").await;
    let ids = four_events(&app).await;
    let before = read_commands(app.redis()).await;
    resume_and_poll(&app, &ids).await;
    let empty = app.poll("9", Some(&ids[0]), 0).await;
    assert_eq!(empty["events"], json!([]), "a user with nothing since");
    assert_eq!(app.cursor_now("7").await, ids[4], "the head, from memory");
    assert_eq!(read_commands(app.redis()).await, before, "no Redis read");

    // The zero cursor (an empty store's head, taken before any event) is Redis's to judge.
    let old = app.poll("7", Some(&before_any), 0).await;
    assert_eq!(old["events"].as_array().expect("events").len(), 5);
    assert!(read_commands(app.redis()).await > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_cache_every_resume_and_poll_reads_redis() {
    let app = TestApp::spawn(Backend::RedisUncached).await;
    let ids = four_events(&app).await;
    let before = read_commands(app.redis()).await;
    resume_and_poll(&app, &ids).await;
    assert!(
        read_commands(app.redis()).await >= before + 4,
        "XINFO and XRANGE for each of the two reads"
    );
}
