//! Redis Cluster under faults: a partition's slot moving between primaries, or a primary
//! failing over, while publishes go on loses and repeats nothing acknowledged.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use notify_relay::redis_store::Partitions;

use crate::{
    failover_helpers::Publisher,
    helpers::{Relay, TestApp},
    redis_cluster::{PARTITIONS, primary_of, relay_on},
    topology::Cluster,
};

/// Every `n` a resumed poll from `cursor` returns, page after page; fails on a reset.
async fn poll_all(app: &TestApp, user: &str, cursor: &str) -> Vec<u64> {
    let mut cursor = cursor.to_owned();
    let mut all = Vec::new();
    loop {
        let poll = app.poll(user, Some(&cursor), 0).await;
        assert_eq!(poll["reset"], false, "{poll}");
        let events = poll["events"].as_array().expect("events");
        if events.is_empty() {
            return all;
        }
        all.extend(events.iter().filter_map(|e| e["data"]["n"].as_u64()));
        cursor = poll["cursor"].as_str().expect("cursor").to_owned();
    }
}

/// Users of one partition (so its slot carries them all) plus one elsewhere.
fn users_of_one_partition() -> Vec<String> {
    let parts = Partitions::spread(PARTITIONS);
    let first = parts.of_user("m0");
    let mut users: Vec<String> = (0..200)
        .map(|i| format!("m{i}"))
        .filter(|u| parts.of_user(u) == first)
        .take(3)
        .collect();
    users.extend(
        (0..200)
            .map(|i| format!("o{i}"))
            .find(|u| parts.of_user(u) != first),
    );
    users
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_a_partitions_slot_between_primaries_during_publishes_loses_and_repeats_nothing() {
    let cluster = Cluster::start().await;
    // Histories long enough that the resumed poll below reaches back to before the move.
    let app = relay_on(&cluster, |s| s.history_len = 10_000).await;
    let users = users_of_one_partition();
    let parts = Partitions::spread(PARTITIONS);
    let tag = parts.tag(parts.of_user(&users[0]));
    let slot = cluster.slot_of(&format!("test:{{{tag}}}:log")).await;
    let from = cluster.owner_of(slot).await;
    let to = *cluster
        .primaries()
        .await
        .iter()
        .find(|p| **p != from)
        .expect("another primary");
    let before = app.cursor_now(&users[0]).await;
    let mut streams = Vec::new();
    for user in &users {
        streams.push(app.sse(user).await);
    }
    let (first_acked, on_first_ack) = tokio::sync::oneshot::channel();
    let publishes = {
        let (relay, mut publisher) = (Relay::clone(&app), Publisher::new(&users));
        tokio::spawn(async move {
            let mut first_acked = Some(first_acked);
            let started = Instant::now();
            // Long enough to span the whole migration (it runs alongside).
            while started.elapsed() < Duration::from_secs(4) {
                if publisher.send_retried(&relay).await == 202
                    && let Some(tx) = first_acked.take()
                {
                    let _ = tx.send(());
                }
            }
            publisher
        })
    };
    // The slot moves once publishes are being acknowledged.
    on_first_ack.await.expect("a publish was acknowledged");
    cluster
        .migrate_slot(slot, to, Duration::from_millis(30))
        .await;
    let publisher = publishes.await.expect("publisher");
    let acked = &publisher.acked;
    assert!(
        acked[0].len() > 20,
        "publishes went on during the migration: {} of {} acknowledged for {}",
        acked[0].len(),
        publisher.sent(),
        users[0]
    );
    assert_eq!(primary_of(&cluster, &users[0]).await, to);
    publisher
        .assert_streams_exactly_once(&app, &mut streams)
        .await;
    // A cursor from before the migration resumes from the slot's new primary.
    let polled = poll_all(&app, &users[0], &before).await;
    let polled_set: BTreeSet<u64> = polled.iter().copied().collect();
    assert_eq!(polled.len(), polled_set.len(), "no repeats: {polled:?}");
    assert!(acked[0].is_subset(&polled_set), "{polled:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_cluster_primary_is_killed_with_wait_replicas_nothing_acknowledged_is_lost() {
    let mut cluster = Cluster::start().await;
    let app = relay_on(&cluster, |s| {
        s.redis_wait_replicas = 1;
        s.redis_wait_ms = 500;
    })
    .await;
    let users = users_of_one_partition();
    let before = app.cursor_now(&users[0]).await;
    let mut streams = Vec::new();
    for user in &users {
        streams.push(app.sse(user).await);
    }
    let mut publisher = Publisher::new(&users);
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..20 {
        pace.tick().await;
        assert_eq!(publisher.send(&app).await, 202, "before the failover");
    }
    let victim = primary_of(&cluster, &users[0]).await;
    // A second replica, so that the promoted one still has a replica to confirm WAIT 1.
    cluster.add_replica(victim).await;
    cluster.node_mut(victim).kill();
    let refused = publisher
        .through_failover(&app, &mut pace, 20, async || true)
        .await;
    // The cluster client retries a publish through the promotion (each append carries a
    // record that makes a rerun store nothing), so refusals are allowed, not required.
    eprintln!("publishes refused during the failover: {refused}");
    assert_ne!(
        primary_of(&cluster, &users[0]).await,
        victim,
        "a replica took over the partition's slot"
    );
    publisher
        .assert_streams_exactly_once(&app, &mut streams)
        .await;
    let acked = &publisher.acked;
    let polled = poll_all(&app, &users[0], &before).await;
    let polled_set: BTreeSet<u64> = polled.iter().copied().collect();
    assert_eq!(polled.len(), polled_set.len(), "no repeats: {polled:?}");
    assert!(
        acked[0].is_subset(&polled_set),
        "the resumed poll has every acknowledged event: {polled:?}"
    );
}
