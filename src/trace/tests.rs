use std::sync::Arc;

use super::*;
use crate::{
    broker::LogEntry,
    event::{EventId, StoredEvent},
    hub::{Hub, HubLimits},
    metrics::Metrics,
    transport::Transport,
};

fn user(u: &str) -> UserId {
    UserId::parse(u).unwrap()
}

fn entry(seq: u64, users: &[&str]) -> LogEntry {
    LogEntry {
        event: Arc::new(StoredEvent::new(EventId::new(1, seq), None, "{}".into()).unwrap()),
        recipients: users.iter().map(|u| user(u)).collect(),
    }
}

async fn kinds(tracer: &Tracer, u: &str) -> Vec<String> {
    let records = tracer.records(&user(u)).await.unwrap();
    records
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn with_no_trace_on_nothing_is_recorded_and_the_flag_is_off() {
    let tracer = Tracer::default();
    assert!(!tracer.on());
    tracer.tail(&entry(1, &["a"]));
    tracer.delivered(&user("a"), Transport::Sse, 1, EventId::new(1, 1));
    assert!(kinds(&tracer, "a").await.is_empty());
    assert_eq!(
        tracer.last_tail_ms(),
        1,
        "the tail position is kept all the same"
    );
}

#[tokio::test]
async fn a_full_queue_is_recorded_as_skipped_for_the_traced_user_only() {
    let metrics = Metrics::new();
    let hub = Hub::new(
        HubLimits {
            per_user: 4,
            total: 100,
            queue_len: 1,
        },
        metrics.clone(),
    );
    let far = now_ms() + 60_000;
    metrics.trace.start(&user("a"), far).await.unwrap();
    let _slow_a = hub.subscribe(user("a"), Transport::Sse).unwrap();
    let _slow_b = hub.subscribe(user("b"), Transport::Sse).unwrap();
    hub.fan_out(&entry(1, &["a", "b"]));
    hub.fan_out(&entry(2, &["a", "b"]));
    let records = metrics.trace.records(&user("a")).await.unwrap();
    let skipped: Vec<_> = records.iter().filter(|r| r["kind"] == "skipped").collect();
    assert_eq!(skipped.len(), 1, "{records:?}");
    assert_eq!(skipped[0]["id"], "1-2");
    assert_eq!(skipped[0]["reason"], "queue_full");
    assert!(kinds(&metrics.trace, "b").await.is_empty());
}

#[tokio::test]
async fn an_ended_trace_records_nothing_more_and_turns_the_flag_off() {
    let tracer = Tracer::default();
    tracer.start(&user("a"), now_ms() + 60_000).await.unwrap();
    tracer.start(&user("b"), now_ms() - 1).await.unwrap();
    assert!(tracer.on());
    tracer.tail(&entry(1, &["a", "b"]));
    assert_eq!(kinds(&tracer, "a").await, ["fanned_out"]);
    assert!(kinds(&tracer, "b").await.is_empty(), "b's trace had ended");
    tracer.stop(&user("a")).await.unwrap();
    assert!(!tracer.on());
    tracer.tail(&entry(2, &["a"]));
    assert_eq!(
        kinds(&tracer, "a").await.len(),
        1,
        "records stay, none added"
    );
}

#[tokio::test]
async fn a_ring_keeps_the_newest_records_only() {
    let tracer = Tracer::default();
    tracer.start(&user("a"), now_ms() + 60_000).await.unwrap();
    for seq in 0..(MAX_RECORDS as u64 + 10) {
        tracer.tail(&entry(seq, &["a"]));
    }
    let records = tracer.records(&user("a")).await.unwrap();
    assert_eq!(records.len(), MAX_RECORDS);
    let newest = format!("1-{}", MAX_RECORDS + 9);
    assert!(records.iter().any(|r| r["id"] == newest.as_str()));
    assert!(!records.iter().any(|r| r["id"] == "1-0"));
}

#[tokio::test]
async fn the_memory_store_forgets_the_stalest_user_past_its_limit() {
    let tracer = Tracer::default();
    let far = now_ms() + 60_000;
    for i in 0..=store::MAX_USERS {
        let u = user(&format!("u{i}"));
        tracer.start(&u, far).await.unwrap();
        tracer.skipped(&u, EventId::new(1, i as u64), "queue_full");
    }
    assert!(
        kinds(&tracer, "u0").await.is_empty(),
        "the first user was forgotten"
    );
    assert_eq!(kinds(&tracer, "u1").await, ["skipped"]);
    let last = format!("u{}", store::MAX_USERS);
    assert_eq!(kinds(&tracer, &last).await, ["skipped"]);
}

#[tokio::test]
async fn a_stale_read_of_the_shared_hash_does_not_undo_a_trace_started_meanwhile() {
    let tracer = Tracer::default();
    let seen = tracer.local_changes();
    // The read of the shared hash began here, before the start, and found nobody.
    tracer.start(&user("a"), now_ms() + 60_000).await.unwrap();
    tracer.set_active(HashMap::new(), seen);
    assert!(tracer.tracing(&user("a")));
    // A read that began after the start is applied.
    tracer.set_active(HashMap::new(), tracer.local_changes());
    assert!(!tracer.tracing(&user("a")));
    assert!(!tracer.on());
}
