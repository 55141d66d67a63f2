//! `/metrics`: the counters and gauges move when events flow, on both brokers.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, Relay, TestApp, eventually, sample, token},
    on_both_brokers,
};

on_both_brokers!(
    metrics_count_connections_ingest_rejections_and_deliveries,
    metrics_report_the_broker_tail_and_bridge_status,
);

async fn metrics_count_connections_ingest_rejections_and_deliveries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut sse = app.sse("m-sse").await;
    app.wait_sample(r#"notify_connections{transport="sse"}"#, 1.0)
        .await;

    // A poll that waits: counted while it waits, and its event is timed.
    let cursor = app.poll("m-poll", None, 0).await["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let waiting = {
        let relay = Relay::clone(&app);
        tokio::spawn(async move {
            let res = relay
                .http
                .get(relay.url(&format!("/poll?cursor={cursor}&timeout=10")))
                .bearer_auth(token("m-poll"))
                .send()
                .await
                .expect("poll");
            res.json::<Value>().await.expect("json")
        })
    };
    app.wait_sample(r#"notify_connections{transport="poll"}"#, 1.0)
        .await;

    let bad = app.publish(json!({"no_recipient": true})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    app.publish_ok(json!({"user_ids": ["m-sse", "m-poll"], "n": 1}))
        .await;
    if backend == Backend::Redis {
        // Through the bridge too: a malformed message, then a good one, handled in order.
        app.redis().publish("image_update", "not json").await;
        app.redis()
            .publish("image_update", r#"{"user_id":"m-sse","n":2}"#)
            .await;
    }
    let expected_sse = if backend == Backend::Redis { 2 } else { 1 };
    assert_eq!(sse.events(expected_sse).await.len(), expected_sse);
    let answer = waiting.await.expect("poll task");
    assert_eq!(answer["events"][0]["data"]["n"], 1);

    let text = app
        .wait_sample(
            r#"notify_events_delivered_total{transport="sse"}"#,
            expected_sse as f64,
        )
        .await;
    assert_eq!(
        sample(&text, r#"notify_connections{transport="poll"}"#),
        0.0,
        "the poll answered, so it no longer waits"
    );
    let v = |series: &str| sample(&text, series);
    assert_eq!(v(r#"notify_events_ingested_total{source="http"}"#), 1.0);
    assert_eq!(
        v(r#"notify_events_rejected_total{reason="bad_event",source="http"}"#),
        1.0
    );
    assert_eq!(v(r#"notify_events_delivered_total{transport="poll"}"#), 1.0);
    assert_eq!(
        v(r#"notify_delivery_latency_seconds_count{transport="sse"}"#),
        expected_sse as f64
    );
    assert_eq!(
        v(r#"notify_delivery_latency_seconds_count{transport="poll"}"#),
        1.0
    );
    // Delivered within a second of the append: all of it below the 1 s bucket.
    assert_eq!(
        v(r#"notify_delivery_latency_seconds_bucket{transport="sse",le="1"}"#),
        expected_sse as f64
    );
    assert_eq!(v(r#"notify_connections{transport="sse"}"#), 1.0);
    if backend == Backend::Redis {
        assert_eq!(v(r#"notify_events_ingested_total{source="pubsub"}"#), 1.0);
        assert_eq!(
            v(r#"notify_events_rejected_total{reason="bad_event",source="pubsub"}"#),
            1.0
        );
    }
    assert!(v("notify_tail_entries_total") >= 1.0, "{text}");

    drop(sse);
    wait_zero(&app, r#"notify_connections{transport="sse"}"#).await;
}

/// Scrapes until `series` reads 0.
async fn wait_zero(relay: &Relay, series: &str) -> String {
    eventually(format!("{series} stayed up"), || async {
        let text = relay.scrape().await;
        (sample(&text, series) == 0.0).then_some(text)
    })
    .await
}

async fn metrics_report_the_broker_tail_and_bridge_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let text = app.scrape().await;
    let v = |series: &str| sample(&text, series);
    assert_eq!(v("notify_broker_up"), 1.0, "{text}");
    assert_eq!(v("notify_tail_live"), 1.0, "{text}");
    let holder = if backend == Backend::Redis { 1.0 } else { 0.0 };
    assert_eq!(v("notify_bridge_lease_holder"), holder, "{text}");
    assert!(text.contains("# TYPE notify_broker_reconnects_total counter"));
    if backend == Backend::Redis {
        assert_eq!(v("notify_broker_reconnects_total"), 0.0);
    }
}

#[tokio::test]
async fn the_redis_tail_counts_a_reconnect_and_the_broker_is_reported_down_meanwhile() {
    let mut app = TestApp::spawn(Backend::Redis).await;
    app.redis_mut().kill();
    let down = wait_zero(&app, "notify_broker_up").await;
    assert_eq!(sample(&down, "notify_tail_live"), 1.0);
    app.redis_mut().restart().await;
    let text = app.wait_sample("notify_broker_reconnects_total", 1.0).await;
    assert_eq!(sample(&text, "notify_broker_reconnects_total"), 1.0);
}

#[tokio::test]
async fn a_metrics_key_protects_metrics() {
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.metrics_key = Some("scrape-key".parse().expect("key"));
    })
    .await;
    let url = app.url("/metrics");
    let res = app.http.get(&url).send().await.expect("metrics");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "bad_metrics_key");
    let res = app
        .http
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .http
        .get(&url)
        .bearer_auth("scrape-key")
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .expect("text")
            .contains("notify_connections")
    );
}
