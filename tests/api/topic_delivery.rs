//! Topic events: expanded at append time to the topic's subscribers then, each of them getting
//! the event once on every connection, the excluded left out; from pub/sub too; in batches.

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp},
    on_both_brokers,
};

on_both_brokers!(
    a_topic_event_reaches_exactly_its_subscribers_on_every_connection_once,
    exclude_leaves_out_the_named_users,
    a_subscriber_added_after_an_event_does_not_get_it,
    a_topic_without_subscribers_is_accepted_and_delivers_nothing,
);

async fn a_topic_event_reaches_exactly_its_subscribers_on_every_connection_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for user in ["uploader", "reviewer"] {
        app.set_subscriber("image:42", user, true).await;
    }
    let mut tabs = vec![
        app.sse("uploader").await,
        app.sse("uploader").await,
        app.sse("reviewer").await,
    ];
    let mut outsider = app.sse("outsider").await;
    let res = app
        .publish(json!({"topic": "image:42", "user_id": "reviewer", "img_url": "/new.jpg"}))
        .await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["recipients"], 2,
        "reviewer is named and subscribed: counted once"
    );
    let marker = app
        .publish_ok(json!({"user_ids": ["uploader", "reviewer", "outsider"], "marker": true}))
        .await;
    for tab in &mut tabs {
        let got = tab.events(2).await;
        assert_eq!(got[0].data["img_url"], "/new.jpg");
        assert_eq!(got[1].id, marker, "once, not twice");
    }
    assert_eq!(
        outsider.next_event().await.id,
        marker,
        "the outsider got only the marker"
    );
    // And it is in each subscriber's history, for resume and poll.
    let poll = app.poll("reviewer", Some("0-0"), 0).await;
    assert_eq!(poll["events"][0]["data"]["img_url"], "/new.jpg");
}

async fn exclude_leaves_out_the_named_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for user in ["a", "b"] {
        app.set_subscriber("image:1", user, true).await;
    }
    let mut a = app.sse("a").await;
    let mut b = app.sse("b").await;
    let body: Value = app
        .publish(json!({"topic": "image:1", "exclude": ["a"], "n": 1}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["recipients"], 1);
    let marker = app
        .publish_ok(json!({"user_ids": ["a", "b"], "marker": true}))
        .await;
    assert_eq!(b.next_event().await.data["n"], 1);
    assert_eq!(
        a.next_event().await.id,
        marker,
        "the excluded user got nothing before the marker"
    );
}

async fn a_subscriber_added_after_an_event_does_not_get_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.set_subscriber("image:2", "early", true).await;
    let start = app.cursor_now("late").await;
    app.publish_ok(json!({"topic": "image:2", "n": 1})).await;
    app.set_subscriber("image:2", "late", true).await;
    let second = app.publish_ok(json!({"topic": "image:2", "n": 2})).await;
    let poll = app.poll("late", Some(&start), 0).await;
    let ids: Vec<&str> = poll["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str()]);
}

async fn a_topic_without_subscribers_is_accepted_and_delivers_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut sse = app.sse("someone").await;
    let res = app.publish(json!({"topic": "image:nobody", "n": 1})).await;
    assert_eq!(res.status(), 202);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"id": null, "recipients": 0})
    );
    let marker = app.publish_ok(json!({"user_id": "someone"})).await;
    assert_eq!(sse.next_event().await.id, marker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_php_publish_to_a_topic_reaches_its_followers() {
    let app = TestApp::spawn(Backend::Redis).await;
    app.set_subscriber("image:42", "9", true).await;
    let mut sse = app.sse("9").await;
    app.redis()
        .publish("image_update", r#"{"topic":"image:42","img_url":"/t.jpg"}"#)
        .await;
    assert_eq!(sse.next_event().await.data["img_url"], "/t.jpg");
}

/// Batches of one history per script, while direct events to the same users interleave: each
/// user's history must still hold every event once, in id order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_topic_appends_in_batches_keep_every_history_complete_and_ordered() {
    let app =
        std::sync::Arc::new(TestApp::spawn_with(Backend::Redis, |s| s.append_batch = 1).await);
    let users: Vec<String> = (0..6).map(|i| format!("f{i}")).collect();
    let (status, _) = app
        .keyed(
            reqwest::Method::PUT,
            "/topics/big/subscribers",
            Some(json!({"subscribers": users})),
        )
        .await;
    assert_eq!(status, 200);
    let start = app.cursor_now("f0").await;
    let mut tasks = Vec::new();
    for k in 0..3 {
        let app = app.clone();
        let users = users.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..20 {
                // Topic events are big appends (one history per script); direct events to one
                // user take the ordinary path and must first write any pending entry for them.
                let bodies = if k == 0 {
                    vec![json!({"topic": "big", "n": n, "k": k})]
                } else {
                    users
                        .iter()
                        .map(|u| json!({"user_id": u, "n": n, "k": k}))
                        .collect()
                };
                for body in bodies {
                    let res = app.publish(body).await;
                    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for user in &users {
        let poll = app.poll(user, Some(&start), 0).await;
        let events = poll["events"].as_array().unwrap();
        assert_eq!(events.len(), 60, "{user} has every event");
        let ids: Vec<(u64, u64)> = events
            .iter()
            .map(|e| {
                let (a, b) = e["id"].as_str().unwrap().split_once('-').unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{user}'s history is in id order"
        );
    }
}
