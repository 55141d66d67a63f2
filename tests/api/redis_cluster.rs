//! Redis Cluster, its layout: the log is partitioned over the shards of a real 3-primary,
//! 3-replica cluster. Users spread over every primary, a topic publish reaches subscribers on
//! all of them, email and the pub/sub bridge work, and a relay with another partition count
//! refuses to start. Slots moving and primaries failing: redis_cluster_faults.rs.

use std::{collections::HashMap, time::Duration};

use notify_relay::{config::Settings, redis_store::Partitions};
use serde_json::{Value, json};

use crate::{
    helpers::{PUBLISH_KEY, SseClient, TestApp, eventually_within, start_failure, test_settings},
    mail_helpers::{SmtpServer, email_settings, notifications, register, wait_record},
    topology::Cluster,
};

/// The relay's partition count in these tests (its default).
pub const PARTITIONS: u16 = 16;

/// Starts the relay on `cluster`, adjusted by `tweak`, and waits until it is ready.
pub async fn relay_on(cluster: &Cluster, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings(None);
    settings.redis_cluster = cluster.seeds();
    tweak(&mut settings);
    let app = TestApp::start(settings, None).await;
    app.wait_ready().await;
    app
}

/// The primary holding `user`'s partition now.
pub async fn primary_of(cluster: &Cluster, user: &str) -> u16 {
    let parts = Partitions::spread(PARTITIONS);
    let tag = parts.tag(parts.of_user(user));
    let slot = cluster.slot_of(&format!("test:{{{tag}}}:log")).await;
    cluster.owner_of(slot).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_sse_poll_resume_and_topics_work_with_users_on_every_primary() {
    let cluster = Cluster::start().await;
    let app = relay_on(&cluster, |_| {}).await;
    // The relay's slots are Redis's own, evenly spaced.
    let parts = Partitions::spread(PARTITIONS);
    for p in 0..parts.len() {
        let slot = cluster
            .slot_of(&format!("test:{{{}}}:log", parts.tag(p)))
            .await;
        assert_eq!(slot, parts.slot(p));
        assert_eq!(
            usize::from(slot) / 1024,
            p,
            "partition {p} in its sixteenth"
        );
    }
    let users: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
    let mut by_primary: HashMap<u16, Vec<&str>> = HashMap::new();
    for user in &users {
        by_primary
            .entry(primary_of(&cluster, user).await)
            .or_default()
            .push(user);
    }
    assert_eq!(
        by_primary.len(),
        3,
        "these users' partitions lie on all three primaries: {by_primary:?}"
    );
    for user in &users {
        let path = format!("/topics/room/subscribers/{user}");
        let (status, _) = app.keyed(reqwest::Method::PUT, &path, None).await;
        assert_eq!(status, 200);
    }
    let mut streams: Vec<SseClient> = Vec::new();
    for user in &users {
        streams.push(app.sse(user).await);
    }

    // One topic publish reaches the subscribers on every shard.
    let answer = app.publish(json!({"topic": "room", "n": 1})).await;
    assert_eq!(answer.status(), 202);
    let answer: Value = answer.json().await.expect("json");
    assert_eq!(answer["recipients"], 12, "{answer}");
    let mut first_ids = HashMap::new();
    for (user, stream) in users.iter().zip(&mut streams) {
        let event = stream.next_event().await;
        assert_eq!(event.data["n"], 1, "{user} got the topic event");
        first_ids.insert(user.clone(), event.id);
    }
    // Their histories live on the primary of their partition, and so on all three.
    for (port, on_it) in &by_primary {
        let keys = cluster.keys_on(*port, "test:{*}:u:*").await;
        for user in on_it {
            assert!(
                keys.iter().any(|k| k.ends_with(&format!(":u:{user}"))),
                "{user}'s history is on primary {port}: {keys:?}"
            );
        }
    }
    for port in cluster.primaries().await {
        assert!(
            !cluster.keys_on(port, "test:{*}:log").await.is_empty(),
            "primary {port} holds partition logs"
        );
    }

    // A direct publish, then each user's ids keep increasing.
    app.publish_ok(json!({"user_id": "c0", "n": 2})).await;
    let event = streams[0].next_event().await;
    assert_eq!(event.data["n"], 2);
    let parse = |id: &str| -> (u64, u64) {
        let (ms, seq) = id.split_once('-').expect("id");
        (ms.parse().expect("ms"), seq.parse().expect("seq"))
    };
    assert!(parse(&event.id) > parse(&first_ids["c0"]));

    // A publish to users of several partitions, repeated with its idempotency key, stores
    // nothing the second time: every partition kept its own record of the key.
    let c0_primary = primary_of(&cluster, "c0").await;
    let (a, b) = (
        *by_primary
            .iter()
            .find(|(port, _)| **port != c0_primary)
            .expect("another primary")
            .1
            .iter()
            .find(|u| **u != "c2")
            .expect("a user there"),
        "c0",
    );
    let body = json!({"user_ids": [a, b], "n": 7, "idempotency_key": "twice"});
    let first: Value = app.publish(body.clone()).await.json().await.expect("json");
    let again: Value = app.publish(body).await.json().await.expect("json");
    assert_eq!(first["id"], again["id"], "{first} {again}");
    assert_eq!(again["recipients"], 2);
    assert_eq!(streams[0].next_event().await.data["n"], 7);
    let ai = users.iter().position(|u| u == a).expect("user");
    assert_eq!(streams[ai].next_event().await.data["n"], 7);

    // Poll: a cursor from now, then the event published after it.
    let cursor = app.cursor_now("c1").await;
    app.publish_ok(json!({"user_id": "c1", "n": 3})).await;
    let poll = app.poll("c1", Some(&cursor), 5).await;
    let got: Vec<&Value> = poll["events"].as_array().expect("events").iter().collect();
    assert_eq!(got.len(), 1, "{poll}");
    assert_eq!(got[0]["data"]["n"], 3);

    // Resume: c2 disconnects, misses an event, reconnects with its last id.
    drop(streams.remove(2));
    app.publish_ok(json!({"user_id": "c2", "n": 4})).await;
    let mut resumed = app.sse_from("c2", Some(&first_ids["c2"])).await;
    assert_eq!(resumed.next_event().await.data["n"], 4);
    app.publish_ok(json!({"user_id": "c2", "n": 5})).await;
    assert_eq!(resumed.next_event().await.data["n"], 5, "nothing repeated");

    // The members listing merges the partitions, in byte order, page by page.
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/topics/room/subscribers?limit=5&after={a}"),
            None => "/topics/room/subscribers?limit=5".into(),
        };
        let (_, page) = app.keyed(reqwest::Method::GET, &path, None).await;
        let page: Vec<String> = page["subscribers"]
            .as_array()
            .expect("subscribers")
            .iter()
            .map(|u| u.as_str().expect("user").to_owned())
            .collect();
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        listed.extend(page);
    }
    let mut sorted = users.clone();
    sorted.sort();
    assert_eq!(listed, sorted);

    // Replacing the topic's members replaces every partition's share.
    let res = app
        .http
        .put(app.url("/topics/room/subscribers"))
        .bearer_auth(PUBLISH_KEY)
        .json(&json!({"subscribers": ["c3", "c7"]}))
        .send()
        .await
        .expect("replace");
    assert_eq!(res.status(), 200);
    let answer: Value = app
        .publish(json!({"topic": "room", "n": 6}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(answer["recipients"], 2, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_fallback_the_notification_log_and_the_pubsub_bridge_work_on_a_cluster() {
    let cluster = Cluster::start().await;
    let smtp = SmtpServer::start().await;
    let app = relay_on(&cluster, |s| email_settings(s, &smtp)).await;
    // Two offline users whose partitions are on different primaries.
    let ann = "ann";
    let mut other = None;
    for i in 0..100 {
        let user = format!("e{i}");
        if primary_of(&cluster, &user).await != primary_of(&cluster, ann).await {
            other = Some(user);
            break;
        }
    }
    let bob = other.expect("a user on another primary");
    register(&app, ann).await;
    register(&app, &bob).await;
    let answer = app
        .publish(json!({"user_ids": [ann, bob], "fallback": "email", "n": 1}))
        .await;
    assert_eq!(answer.status(), 202);
    let mails = smtp.wait_mails(2).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    let mut want = vec![format!("{ann}@example.com"), format!("{bob}@example.com")];
    want.sort();
    assert_eq!(to, want, "one email each, from both partitions' outboxes");
    for user in [ann, bob.as_str()] {
        let record = wait_record(&app, user, |r| r["status"] == "sent").await;
        assert_eq!(record["attempts"], 1);
    }
    // The whole log merges every partition's records.
    let all = notifications(&app, "limit=10").await;
    assert_eq!(all.len(), 2, "{all:?}");
    // A user seen live gets no email: the delivery report removes the due entry in the
    // user's partition.
    let mut live = app.sse(ann).await;
    app.publish_ok(json!({"user_id": ann, "fallback": "email", "n": 2}))
        .await;
    assert_eq!(live.next_event().await.data["n"], 2);
    // The pub/sub bridge subscribes on the first seed node (PUBLISH counts that node's own
    // subscribers) and, holding the lease in every partition, appends a message published on
    // any other node.
    let seed = &cluster.nodes[0];
    eventually_within(
        Duration::from_secs(20),
        "the bridge never subscribed",
        || async { seed.bridge_subscribed().await.then_some(()) },
    )
    .await;
    let elsewhere = cluster
        .nodes
        .iter()
        .find(|n| n.port != seed.port)
        .expect("another node");
    elsewhere
        .publish(
            "image_update",
            &json!({"user_id": ann, "bridged": 1}).to_string(),
        )
        .await;
    assert_eq!(live.next_event().await.data["bridged"], 1);
    // Past the grace period and a digest window, still only the two first emails.
    app.publish_ok(json!({"user_id": bob, "fallback": "email", "n": 3}))
        .await;
    smtp.wait_mails(3).await;
    assert_eq!(
        smtp.mails()
            .iter()
            .filter(|m| m.to == [format!("{ann}@example.com")])
            .count(),
        1,
        "ann saw event 2 live: no email for it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_with_another_partition_count_refuses_to_start_and_a_new_layout_resets_old_cursors()
{
    let cluster = Cluster::start().await;
    let app = relay_on(&cluster, |_| {}).await;
    app.publish_ok(json!({"user_id": "p1", "n": 1})).await;
    let old_cursor = app.cursor_now("p1").await;
    let eight_partitions = |s: &mut Settings| {
        s.redis_cluster = cluster.seeds();
        s.redis_partitions = 8;
    };
    let (code, output) = start_failure(None, None, eight_partitions, &[]).await;
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("NOTIFY_REDIS_PARTITIONS"), "{output}");
    assert!(output.contains("16"), "names the count in use: {output}");
    // The documented change of count: the relays stopped, started with the new count under a
    // new prefix. A cursor from the old layout gets a reset, never a silent gap, before and
    // after the new layout's first event.
    app.stopper.stop().await;
    let app = relay_on(&cluster, |s| {
        s.redis_partitions = 8;
        s.redis_prefix = "test2".into();
    })
    .await;
    let poll = app.poll("p1", Some(&old_cursor), 0).await;
    assert_eq!(poll["reset"], true, "{poll}");
    app.publish_ok(json!({"user_id": "p1", "n": 2})).await;
    let poll = app.poll("p1", Some(&old_cursor), 0).await;
    assert_eq!(poll["reset"], true, "{poll}");
    let poll = app
        .poll("p1", Some(poll["cursor"].as_str().expect("cursor")), 0)
        .await;
    assert_eq!(poll["reset"], false, "{poll}");
}
