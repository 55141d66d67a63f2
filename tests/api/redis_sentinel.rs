//! Sentinel: the relay finds the primary through the sentinels and follows a failover; with
//! `NOTIFY_REDIS_WAIT_REPLICAS=1` no acknowledged event is lost or repeated.

use std::time::Duration;

use serde_json::json;

use crate::{
    failover_helpers::Publisher,
    helpers::{TestApp, test_settings},
    mail_helpers::{SmtpServer, email_settings, register},
    topology::{Node, NodeOptions, Sentinel},
};

const USERS: [&str; 3] = ["s1", "s2", "s3"];

/// How the primary is replaced in a scenario.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Switch {
    /// SIGKILL: connections drop, the sentinels notice it down and promote a replica.
    Kill,
    /// `SENTINEL FAILOVER`: the old primary stays up as a replica and answers `-READONLY`.
    Manual,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_primary_is_killed_under_load_every_acknowledged_event_reaches_its_user_exactly_once()
 {
    failover_under_load(Switch::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_manual_sentinel_failover_the_relay_moves_to_the_new_primary_and_loses_nothing_acknowledged()
 {
    failover_under_load(Switch::Manual).await;
}

/// Publishes steadily, replaces the primary, publishes until 30 more are acknowledged, then
/// checks every stream and a resumed poll: each acknowledged event exactly once.
async fn failover_under_load(switch: Switch) {
    let mut primary = Node::start(&NodeOptions::default()).await;
    let replica_opts = NodeOptions {
        replica_of: Some(primary.port),
        ..NodeOptions::default()
    };
    let replicas = [
        Node::start(&replica_opts).await,
        Node::start(&replica_opts).await,
    ];
    primary.wait_replicas_online(2).await;
    let sentinels: Vec<Sentinel> = (0..3).map(|_| Sentinel::start(primary.port)).collect();
    for sentinel in &sentinels {
        sentinel.wait_sees(2, 2).await;
    }
    let smtp = SmtpServer::start().await;
    let mut settings = test_settings(None);
    email_settings(&mut settings, &smtp);
    settings.redis_sentinels = sentinels
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    settings.redis_wait_replicas = 1;
    settings.redis_wait_ms = 500;
    let app = TestApp::start(settings, None).await;
    app.wait_ready().await;
    let before = app.cursor_now(USERS[0]).await;
    let mut streams = Vec::new();
    for user in USERS {
        streams.push(app.sse(user).await);
    }

    let mut publisher = Publisher::new(&USERS);
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..30 {
        pace.tick().await;
        assert_eq!(publisher.send(&app).await, 202, "before the failover");
    }
    let old_port = primary.port;
    match switch {
        Switch::Kill => primary.kill(),
        Switch::Manual => {
            let client = redis::Client::open(format!("redis://127.0.0.1:{}", sentinels[0].port))
                .expect("sentinel url");
            let mut c = client
                .get_multiplexed_async_connection()
                .await
                .expect("sentinel");
            let _: String = redis::cmd("SENTINEL")
                .arg("FAILOVER")
                .arg("mymaster")
                .query_async(&mut c)
                .await
                .expect("sentinel failover");
        }
    }
    // Counted from when the sentinels name the new primary: publishes keep going meanwhile.
    let named_new_primary = async || {
        sentinels[0]
            .primary_port()
            .await
            .is_some_and(|p| p != old_port)
    };
    let refused = publisher
        .through_failover(&app, &mut pace, 30, named_new_primary)
        .await;
    let new_port = sentinels[0].primary_port().await.expect("a primary");
    drop(primary);
    assert_ne!(new_port, old_port, "the sentinels promoted a replica");
    let promoted = replicas
        .iter()
        .find(|r| r.port == new_port)
        .expect("a replica was promoted");
    assert!(
        refused > 0,
        "the switch was noticed: some publishes were refused"
    );

    publisher
        .assert_streams_exactly_once(&app, &mut streams)
        .await;
    if switch == Switch::Kill {
        // The pub/sub bridge took its lease again and subscribed on the new primary.
        promoted.wait_bridge_subscribed().await;
        promoted
            .publish("image_update", r#"{"user_id":"s2","bridged":true}"#)
            .await;
        assert_eq!(streams[1].next_event().await.data["bridged"], true);
        // The email mover and the mail worker carry on against the new primary.
        register(&app, "offline").await;
        app.publish_ok(json!({"user_id": "offline", "fallback": "email", "n": -1}))
            .await;
        // The mover and the mail worker find the new primary through their reconnect backoff
        // (up to 5 s a step after the outage), then the grace period runs: more than the usual
        // wait on a loaded machine (seen once in a clean-clone CI run).
        let mails = smtp.wait_mails_within(1, 3 * crate::helpers::WAIT).await;
        assert_eq!(mails[0].to, ["offline@example.com"]);
    }
    // A cursor from before the failover resumes on the new primary with no gap.
    let poll = app.poll(USERS[0], Some(&before), 0).await;
    let polled: Vec<u64> = poll["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["data"]["n"].as_u64())
        .collect();
    for n in &publisher.acked[0] {
        assert_eq!(
            polled.iter().filter(|p| *p == n).count(),
            1,
            "the resumed poll has acknowledged event {n} once: {polled:?}"
        );
    }
}
