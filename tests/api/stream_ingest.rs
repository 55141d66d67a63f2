//! Stream ingest: entries the app XADDs to `notify:ingest` reach their users, a poison entry
//! is skipped without blocking the rest, entries written while no relay runs are delivered
//! when one starts, and acknowledged entries are trimmed.

use serde_json::{Value, json};

use crate::helpers::{
    Backend, RedisServer, Relay, RelayProcess, TestApp, eventually_ok, sample, start_failure,
    test_settings,
};

/// `XADD <stream> * <field> <value>`; returns the entry id.
pub async fn xadd(redis: &RedisServer, stream: &str, field: &str, value: &str) -> String {
    redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg(field)
        .arg(value)
        .query_async(&mut redis.connection().await)
        .await
        .expect("xadd")
}

/// Polls from the beginning until `n` events for `user` are stored; returns their data.
async fn stored_events(relay: &Relay, user: &str, n: usize) -> Vec<Value> {
    eventually_ok(format!("fewer than {n} events"), || async {
        let res = relay.poll(user, Some("0-0"), 1).await;
        let events = res["events"].as_array().cloned().unwrap_or_default();
        if events.len() >= n {
            Ok(events.into_iter().map(|e| e["data"].clone()).collect())
        } else {
            Err(format!("only {}", events.len()))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xadded_entry_reaches_its_user_and_is_acknowledged() {
    let app = TestApp::spawn(Backend::Redis).await;
    let mut sse = app.sse("42").await;
    let redis = app.redis();
    xadd(
        redis,
        "notify:ingest",
        "data",
        r#"{"user_id":42,"img_url":"/x.jpg"}"#,
    )
    .await;
    assert_eq!(
        sse.next_event().await.data,
        json!({"user_id": 42, "img_url": "/x.jpg"})
    );
    let text = app
        .wait_sample(r#"notify_events_ingested_total{source="stream"}"#, 1.0)
        .await;
    assert!(text.contains("notify_ingest_stream_lag"));
    let pending: Value = redis::cmd("XPENDING")
        .arg("notify:ingest")
        .arg("notify-relay")
        .query_async::<redis::Value>(&mut redis.connection().await)
        .await
        .map(|v| match v {
            redis::Value::Array(parts) => json!(matches!(parts[0], redis::Value::Int(0))),
            _ => json!(false),
        })
        .expect("xpending");
    assert_eq!(pending, json!(true), "nothing left pending once stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_entry_is_acknowledged_counted_and_blocks_none_behind_it() {
    let app = TestApp::spawn(Backend::Redis).await;
    let mut sse = app.sse("7").await;
    let redis = app.redis();
    xadd(redis, "notify:ingest", "data", "not json").await;
    xadd(redis, "notify:ingest", "other", r#"{"user_id":7}"#).await;
    xadd(redis, "notify:ingest", "data", r#"{"img":"no recipient"}"#).await;
    xadd(redis, "notify:ingest", "data", r#"{"user_id":7,"n":1}"#).await;
    assert_eq!(sse.next_event().await.data, json!({"user_id": 7, "n": 1}));
    let text = app
        .wait_sample(
            r#"notify_events_rejected_total{reason="bad_event",source="stream"}"#,
            3.0,
        )
        .await;
    assert_eq!(
        sample(
            &text,
            r#"notify_events_rejected_total{reason="bad_event",source="stream"}"#
        ),
        3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_xadded_while_no_relay_runs_are_delivered_once_one_starts() {
    let redis = RedisServer::start().await;
    for n in 0..5 {
        let data = format!(r#"{{"user_id":3,"n":{n}}}"#);
        xadd(&redis, "notify:ingest", "data", &data).await;
    }
    let app = TestApp::start(test_settings(Some(redis.url())), Some(redis)).await;
    app.wait_ready().await;
    let got = stored_events(&app, "3", 5).await;
    let ns: Vec<i64> = got.iter().map(|d| d["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, [0, 1, 2, 3, 4], "each once, in stream order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_with_its_own_idempotency_key_is_stored_once_however_often_it_is_added() {
    let app = TestApp::spawn(Backend::Redis).await;
    let mut sse = app.sse("8").await;
    let redis = app.redis();
    let data = r#"{"user_id":8,"n":1,"idempotency_key":"upload-8"}"#;
    xadd(redis, "notify:ingest", "data", data).await;
    xadd(redis, "notify:ingest", "data", data).await;
    xadd(redis, "notify:ingest", "data", r#"{"user_id":8,"n":2}"#).await;
    let got = sse.events(2).await;
    assert_eq!(got[0].data, json!({"user_id": 8, "n": 1}));
    assert_eq!(got[1].data["n"], 2, "the second copy stored nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_entries_are_trimmed_from_the_stream() {
    let app = TestApp::spawn(Backend::Redis).await;
    let mut sse = app.sse("1").await;
    let redis = app.redis();
    for n in 0..3 {
        let data = format!(r#"{{"user_id":1,"n":{n}}}"#);
        xadd(redis, "notify:ingest", "data", &data).await;
    }
    sse.events(3).await;
    // The reader trims on its upkeep round, every few seconds.
    eventually_ok("entries never trimmed", || async {
        let len: u64 = redis::cmd("XLEN")
            .arg("notify:ingest")
            .query_async(&mut redis.connection().await)
            .await
            .expect("xlen");
        if len == 0 {
            Ok(())
        } else {
            Err(format!("{len} left"))
        }
    })
    .await;
    assert!(
        app.scrape()
            .await
            .contains("notify_ingest_stream_pending 0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_stream_ingest_on_the_memory_broker_fails_at_start_up_and_says_why() {
    let (code, stderr) = start_failure(
        None,
        None,
        |_| {},
        &[("NOTIFY_INGEST_STREAM", "notify:ingest")],
    )
    .await;
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("NOTIFY_INGEST_STREAM") && stderr.contains("needs Redis"),
        "{stderr}"
    );
    // Without the setting, the memory broker starts as before (the README's first command).
    let relay = RelayProcess::start(None, |_| {}).await;
    assert_eq!(relay.ready_json().await["bridge"], "off");
}
