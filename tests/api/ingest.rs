//! Pub/sub ingest in batches: a burst of PUBLISHes is appended in order, a malformed message in
//! the middle holds nothing back, and a batch retried after a lost answer stores nothing twice.

use std::{sync::Arc, time::Duration};

use notify_relay::{
    broker::{
        Broker, History,
        redis::{ItemOutcome, RedisBroker, RedisSettings},
    },
    event::{EventId, NewEvent, ParseLimits, UserId},
    metrics::Metrics,
    redis_store::{Credentials, RedisStore, StoreSettings, WaitFor},
};

use crate::helpers::{Backend, RedisServer, TestApp, sample};

/// PUBLISHes every payload in one pipeline, so they reach the bridge as one burst.
async fn publish_burst(app: &TestApp, payloads: &[String]) {
    let mut c = app.redis().connection().await;
    let mut pipe = redis::pipe();
    for p in payloads {
        pipe.cmd("PUBLISH").arg("image_update").arg(p).ignore();
    }
    pipe.query_async::<()>(&mut c).await.expect("publish burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_publishes_reaches_the_user_complete_and_in_order() {
    // A queue deep enough for the whole burst: this test is about ingest, not slow readers.
    let app = TestApp::spawn_with(Backend::Redis, |s| s.queue_len = 4_096).await;
    let mut sse = app.sse("42").await;
    let payloads: Vec<String> = (0..2_000)
        .map(|n| format!(r#"{{"user_id":42,"n":{n}}}"#))
        .collect();
    publish_burst(&app, &payloads).await;
    let got = sse.events(2_000).await;
    let ns: Vec<u64> = got.iter().map(|e| e.data["n"].as_u64().unwrap()).collect();
    assert_eq!(
        ns,
        (0..2_000).collect::<Vec<_>>(),
        "every message, in order"
    );
    let text = app
        .wait_sample(r#"notify_events_ingested_total{source="pubsub"}"#, 2_000.0)
        .await;
    assert_eq!(
        sample(&text, r#"notify_events_ingested_total{source="pubsub"}"#),
        2_000.0,
        "each message appended once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_in_a_burst_is_counted_and_holds_back_none_of_the_others() {
    // A queue deep enough for the whole burst: a reader slower than the burst would otherwise
    // be cut as a slow client, which is not what this test is about.
    let app = TestApp::spawn_with(Backend::Redis, |s| s.queue_len = 4_096).await;
    let mut sse = app.sse("7").await;
    let payloads: Vec<String> = (0..300)
        .map(|n| match n % 50 {
            25 => "not json".to_owned(),
            26 => r#"{"img_url":"/no-recipient.jpg"}"#.to_owned(),
            _ => format!(r#"{{"user_id":7,"n":{n}}}"#),
        })
        .collect();
    publish_burst(&app, &payloads).await;
    let want: Vec<u64> = (0..300).filter(|n| !matches!(n % 50, 25 | 26)).collect();
    let got = sse.events(want.len()).await;
    let ns: Vec<u64> = got.iter().map(|e| e.data["n"].as_u64().unwrap()).collect();
    assert_eq!(ns, want);
    let text = app
        .wait_sample(
            r#"notify_events_rejected_total{reason="bad_event",source="pubsub"}"#,
            12.0,
        )
        .await;
    assert_eq!(
        sample(
            &text,
            r#"notify_events_rejected_total{reason="bad_event",source="pubsub"}"#
        ),
        12.0,
        "each malformed message counted once"
    );
}

fn broker_on(redis: &RedisServer) -> Arc<RedisBroker> {
    let store = RedisStore::new(StoreSettings {
        url: redis.url(),
        prefix: "batch".into(),
        credentials: Credentials::default(),
        wait: WaitFor {
            replicas: 0,
            timeout: Duration::from_secs(1),
        },
        sentinels: Vec::new(),
        master_name: "mymaster".into(),
        cluster: Vec::new(),
        partitions: 1,
    })
    .expect("store");
    RedisBroker::new(
        store,
        RedisSettings {
            history_len: 100,
            history_ttl: Duration::from_secs(60),
            log_len: 1000,
            append_batch: 1000,
            email_grace: Duration::from_secs(60),
            idempotency_ttl: Duration::from_secs(60),
            max_topic_recipients: 100_000,
        },
        Metrics::new().broker_reconnects.clone(),
    )
}

fn event(n: u32) -> NewEvent {
    let limits = ParseLimits {
        max_bytes: 1024,
        max_recipients: 10,
    };
    NewEvent::parse(format!(r#"{{"user_id":1,"n":{n}}}"#).as_bytes(), limits).expect("event")
}

async fn history(broker: &RedisBroker) -> Vec<u64> {
    let user = UserId::parse("1").unwrap();
    let History::Events(events) = broker.read_after(&user, EventId::ZERO, 100).await.unwrap()
    else {
        panic!("history was reset");
    };
    events
        .iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(e.data.get()).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_retried_after_a_lost_answer_stores_each_event_once() {
    let redis = RedisServer::start().await;
    let broker = broker_on(&redis);
    assert!(
        broker
            .hold_lease("me", Duration::from_secs(30))
            .await
            .unwrap()
    );
    let events: Vec<NewEvent> = (0..5).map(event).collect();
    let first = broker
        .append_batch_fenced(&events[..3], "me", Some(0))
        .await;
    assert_eq!(first.len(), 3);
    assert!(first.stopped.is_none());
    // The answer to the first attempt was lost: the bridge retries everything, same numbers.
    let retry = broker.append_batch_fenced(&events, "me", Some(0)).await;
    assert_eq!(retry.len(), 5, "the retry reports all five stored");
    assert_eq!(
        history(&broker).await,
        [0, 1, 2, 3, 4],
        "and stored 3 and 4 only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_from_a_bridge_that_lost_its_lease_stores_nothing() {
    let redis = RedisServer::start().await;
    let broker = broker_on(&redis);
    assert!(
        broker
            .hold_lease("old", Duration::from_secs(30))
            .await
            .unwrap()
    );
    let events: Vec<NewEvent> = (0..3).map(event).collect();
    assert_eq!(
        broker
            .append_batch_fenced(&events[..1], "old", Some(0))
            .await
            .len(),
        1
    );
    // The lease expires (as if "old" had stalled past it) and another instance takes it.
    let _: () = redis::cmd("DEL")
        .arg(broker.store().key_of("bridge-lease"))
        .query_async(&mut redis.connection().await)
        .await
        .unwrap();
    assert!(
        broker
            .hold_lease("new", Duration::from_secs(30))
            .await
            .unwrap()
    );
    let late = broker
        .append_batch_fenced(&events[1..], "old", Some(1))
        .await;
    assert!(late.is_empty());
    assert!(matches!(
        late.stopped,
        Some(notify_relay::broker::BrokerError::NotLeaseHolder)
    ));
    assert_eq!(history(&broker).await, [0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pubsub_message_sent_twice_with_one_idempotency_key_is_stored_once() {
    let app = TestApp::spawn(Backend::Redis).await;
    let mut sse = app.sse("4").await;
    let payloads = [
        r#"{"user_id":4,"n":1,"idempotency_key":"img-1"}"#.to_owned(),
        r#"{"user_id":4,"n":1,"idempotency_key":"img-1"}"#.to_owned(),
        r#"{"user_id":4,"n":2}"#.to_owned(),
    ];
    publish_burst(&app, &payloads).await;
    let got = sse.events(2).await;
    assert_eq!(got[0].data, serde_json::json!({"user_id": 4, "n": 1}));
    assert_eq!(got[1].data["n"], 2, "the second copy of n=1 was not stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_redis_refuses_on_its_own_is_reported_and_the_rest_of_the_batch_is_stored() {
    let redis = RedisServer::start().await;
    let broker = broker_on(&redis);
    assert!(
        broker
            .hold_lease("me", Duration::from_secs(30))
            .await
            .unwrap()
    );
    // A topic key of the wrong type makes the append script fail for that event alone.
    let _: () = redis::cmd("SET")
        .arg(broker.store().key_of("t:broken"))
        .arg("not a set")
        .query_async(&mut redis.connection().await)
        .await
        .unwrap();
    let limits = ParseLimits {
        max_bytes: 1024,
        max_recipients: 10,
    };
    let broken = NewEvent::parse(br#"{"topic":"broken","n":99}"#, limits).unwrap();
    let events = vec![event(0), broken, event(2)];
    let progress = broker.append_batch_fenced(&events, "me", Some(0)).await;
    assert!(progress.stopped.is_none(), "{progress:?}");
    assert!(
        matches!(
            progress.done.as_slice(),
            [
                ItemOutcome::Stored(_),
                ItemOutcome::Refused {
                    transient: false,
                    ..
                },
                ItemOutcome::Stored(_)
            ]
        ),
        "{progress:?}"
    );
    assert_eq!(history(&broker).await, [0, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_right_after_redis_lost_its_scripts_is_stored_complete_and_in_order() {
    let app = TestApp::spawn_with(Backend::Redis, |s| s.queue_len = 4_096).await;
    let mut sse = app.sse("6").await;
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut app.redis().connection().await)
        .await
        .unwrap();
    let payloads: Vec<String> = (0..1_000)
        .map(|n| format!(r#"{{"user_id":6,"n":{n}}}"#))
        .collect();
    publish_burst(&app, &payloads).await;
    let ns: Vec<u64> = sse
        .events(1_000)
        .await
        .iter()
        .map(|e| e.data["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, (0..1_000).collect::<Vec<_>>());
}
