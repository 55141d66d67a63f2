//! `NOTIFY_REDIS_WAIT_REPLICAS`: a publish is acknowledged only once Redis `WAIT` confirms the
//! append reached that many replicas.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, sample, test_settings},
    topology::{Node, NodeOptions},
};

async fn relay_waiting_for_one_replica(primary: &Node) -> TestApp {
    let mut settings = test_settings(Some(format!("redis://127.0.0.1:{}", primary.port)));
    settings.redis_wait_replicas = 1;
    settings.redis_wait_ms = 500;
    let app = TestApp::start(settings, None).await;
    app.wait_ready().await;
    primary.wait_bridge_subscribed().await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_replica_required_a_202_means_the_replica_already_has_the_event() {
    let primary = Node::start(&NodeOptions::default()).await;
    let replica = Node::start(&NodeOptions {
        replica_of: Some(primary.port),
        ..NodeOptions::default()
    })
    .await;
    primary.wait_replicas_online(1).await;
    let app = relay_waiting_for_one_replica(&primary).await;
    let mut on_replica = replica.connection().await;
    for n in 0..20 {
        let id = app
            .publish_ok(json!({"user_id": 42, "img_url": format!("/{n}.jpg")}))
            .await;
        // Read right after the 202, with no waiting: the replica must have it already.
        let entries: Vec<redis::Value> = redis::cmd("XRANGE")
            .arg("test:{0}:log")
            .arg(&id)
            .arg(&id)
            .query_async(&mut on_replica)
            .await
            .expect("xrange on the replica");
        assert_eq!(
            entries.len(),
            1,
            "event {id} is on the replica when the 202 comes"
        );
    }
    // A paused replica holds the acknowledgement back until it resumes and has the event.
    replica.signal("STOP");
    let started = Instant::now();
    let (res, ()) = tokio::join!(
        app.publish(json!({"user_id": 42, "img_url": "/late.jpg"})),
        async {
            // How long the replica stays paused: the 202 must take at least about this long.
            tokio::time::sleep(Duration::from_millis(300)).await;
            replica.signal("CONT");
        }
    );
    assert_eq!(res.status().as_u16(), 202);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "the 202 waited for the paused replica"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_required_replica_a_publish_answers_503_and_a_pubsub_message_is_not_counted_as_ingested()
 {
    let primary = Node::start(&NodeOptions::default()).await;
    let app = relay_waiting_for_one_replica(&primary).await;
    let started = Instant::now();
    let res = app
        .publish(json!({"user_id": 42, "img_url": "/x.jpg"}))
        .await;
    assert_eq!(res.status().as_u16(), 503);
    let body: Value = res.json().await.expect("json body");
    assert_eq!(body["error"], "broker_unavailable");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the relay waited --redis-wait-ms for the replica"
    );
    primary
        .publish("image_update", r#"{"user_id":42,"img_url":"/p.jpg"}"#)
        .await;
    let text = app
        .wait_sample(
            r#"notify_events_rejected_total{reason="broker_unavailable",source="pubsub"}"#,
            1.0,
        )
        .await;
    assert_eq!(
        sample(&text, r#"notify_events_ingested_total{source="pubsub"}"#),
        0.0
    );
    assert_eq!(
        sample(&text, r#"notify_events_ingested_total{source="http"}"#),
        0.0
    );
    // One attempt only: an unconfirmed append may exist, so retrying could store it twice.
    let again = app.scrape().await;
    assert_eq!(
        sample(
            &again,
            r#"notify_events_rejected_total{reason="broker_unavailable",source="pubsub"}"#
        ),
        1.0
    );
}
