//! Topics bigger than one append script's batch (`--append-batch`, issue 13 item 9): the first
//! script snapshots the topic and writes one batch, the rest follows batch by batch, and every
//! guarantee of a small topic still holds. A big append while members change or after its relay
//! died: topic_batches_midway.rs.

use std::{collections::HashSet, sync::Arc};

use serde_json::{Value, json};

use crate::helpers::{Backend, SseClient, TestApp, eventually};

/// The topic's members: `m0000`, `m0001`, ... (byte order is number order).
pub fn members(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("m{i:04}")).collect()
}

fn parse_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').expect("an id");
    (ms.parse().expect("ms"), seq.parse().expect("seq"))
}

/// Every entry of the shared log: its id and fields.
async fn log_entries(app: &TestApp) -> Vec<(String, Vec<(String, String)>)> {
    let mut conn = app.redis().connection().await;
    redis::cmd("XRANGE")
        .arg("test:{0}:log")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("xrange")
}

/// The ids of a user's history after `cursor`, oldest first, with their data.
pub async fn history(app: &TestApp, user: &str, cursor: &str) -> Vec<(String, Value)> {
    let poll = app.poll(user, Some(cursor), 0).await;
    poll["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (e["id"].as_str().expect("id").to_owned(), e["data"].clone()))
        .collect()
}

fn assert_increasing(ids: &[String], what: &str) {
    let parsed: Vec<(u64, u64)> = ids.iter().map(|i| parse_id(i)).collect();
    assert!(
        parsed.windows(2).all(|w| w[0] < w[1]),
        "{what}: ids in order, none twice: {ids:?}"
    );
}

/// Reads events from `sse` until the marker `marker` arrives; returns the ids before it.
async fn until_marker(sse: &mut SseClient, marker: &str) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let event = sse.next_event().await;
        if event.id == marker {
            return ids;
        }
        ids.push(event.id);
    }
}

/// A topic of 3,000 with batches of 40: topic events (over HTTP and pub/sub) interleave with
/// events named to some of its members. Every connected member gets each event once, in id
/// order; histories hold the same; the excluded get none; and no log entry lists more than a
/// batch plus the named users (the whole topic was listed before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_bigger_than_the_batch_reaches_every_member_once_in_order_from_a_small_log_entry() {
    const BATCH: usize = 40;
    let app =
        Arc::new(TestApp::spawn_with(Backend::Redis, |s| s.append_batch = BATCH as u64).await);
    let everyone = members(3_000);
    app.replace_subscribers("crowd", &everyone).await;
    let excluded = ["m0007", "m0100"];
    let named = ["m0000", "m0100", "m1500", "m2999", "outsider"];
    let start = app.cursor_now("m0000").await;
    // Every 100th member (m0100 is excluded from the topic events but named in others),
    // the named ones and one excluded member that is named nowhere.
    let mut watched: Vec<String> = everyone.iter().step_by(100).cloned().collect();
    watched.extend(["m1500", "m2999", "m0007", "outsider"].map(String::from));
    let mut streams = Vec::new();
    for user in &watched {
        streams.push((user.clone(), app.sse(user).await));
    }

    let (topic_events, pubsub_events, named_events) = (8, 4, 20);
    let http_topic = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..topic_events {
                let res = app
                    .publish(json!({"topic": "crowd", "exclude": excluded, "n": n}))
                    .await;
                assert_eq!(res.status(), 202);
                let body: Value = res.json().await.expect("json");
                assert_eq!(body["recipients"], 3_000 - excluded.len());
                ids.push(body["id"].as_str().expect("id").to_owned());
            }
            ids
        })
    };
    let pubsub_topic = {
        let app = app.clone();
        tokio::spawn(async move {
            for n in 0..pubsub_events {
                let msg = json!({"topic": "crowd", "exclude": excluded, "p": n});
                assert_eq!(
                    app.redis().publish("image_update", &msg.to_string()).await,
                    1,
                    "the bridge is subscribed"
                );
            }
        })
    };
    let direct = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..named_events {
                ids.push(app.publish_ok(json!({"user_ids": named, "d": n})).await);
            }
            ids
        })
    };
    let http_ids = http_topic.await.expect("topic publisher");
    pubsub_topic.await.expect("pub/sub publisher");
    let direct_ids = direct.await.expect("direct publisher");

    // Pub/sub appends are not acknowledged: wait until the log holds all of them.
    let pubsub_ids: Vec<String> =
        eventually("the pub/sub events were never all stored", || async {
            let ids: Vec<String> = log_entries(&app)
                .await
                .into_iter()
                .filter(|(_, fields)| fields.iter().any(|(k, v)| k == "d" && v.contains("\"p\"")))
                .map(|(id, _)| id)
                .collect();
            (ids.len() == pubsub_events).then_some(ids)
        })
        .await;
    let topic_ids: HashSet<&String> = http_ids.iter().chain(&pubsub_ids).collect();
    let direct_set: HashSet<&String> = direct_ids.iter().collect();

    let marker = app
        .publish_ok(json!({"user_ids": watched, "marker": true}))
        .await;
    for (user, sse) in &mut streams {
        let got = until_marker(sse, &marker).await;
        assert_increasing(&got, user);
        let mut want: Vec<&String> = Vec::new();
        if everyone.contains(user) && !excluded.contains(&user.as_str()) {
            want.extend(topic_ids.iter().copied());
        }
        if named.contains(&user.as_str()) {
            want.extend(direct_set.iter().copied());
        }
        want.sort_by_key(|id| parse_id(id));
        let got_refs: Vec<&String> = got.iter().collect();
        assert_eq!(got_refs, want, "{user}'s live events");
    }

    // Histories: every 7th member, the named and the excluded.
    let mut sampled: Vec<String> = everyone.iter().step_by(7).cloned().collect();
    sampled.extend(named.map(String::from));
    sampled.extend(excluded.map(String::from));
    for user in &sampled {
        let held: Vec<String> = history(&app, user, &start)
            .await
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| *id != marker)
            .collect();
        assert_increasing(&held, user);
        let topic_held = held.iter().filter(|id| topic_ids.contains(id)).count();
        if excluded.contains(&user.as_str()) || !everyone.contains(user) {
            assert_eq!(topic_held, 0, "{user} is excluded or not subscribed");
        } else {
            assert_eq!(
                topic_held,
                topic_ids.len(),
                "{user}'s history has every topic event"
            );
        }
        let direct_held = held.iter().filter(|id| direct_set.contains(id)).count();
        let want = if named.contains(&user.as_str()) {
            direct_ids.len()
        } else {
            0
        };
        assert_eq!(direct_held, want, "{user}'s direct events");
    }

    // The log entries name at most a batch plus the named users; a topic entry's other
    // recipients are in its snapshot, counted in `r`.
    let mut big_entries = 0;
    for (id, fields) in log_entries(&app).await {
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let users: Vec<String> =
            serde_json::from_str(&field("u").expect("u")).expect("u is a JSON array");
        assert!(
            users.len() <= BATCH + named.len(),
            "entry {id} lists {} users",
            users.len()
        );
        if topic_ids.contains(&id) {
            big_entries += 1;
            assert_eq!(
                users,
                Vec::<String>::new(),
                "no user is named in a topic event"
            );
            assert_eq!(field("r").as_deref(), Some("2998"), "entry {id}");
        }
    }
    assert_eq!(big_entries, topic_ids.len());
}

/// A big fallback topic event: after the batches, every recipient has its email due entry,
/// except the excluded and a member who saw it live (their delivery removed it, even when the
/// report came before their batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_fallback_topic_event_leaves_a_due_entry_for_every_recipient_not_seen_live() {
    // The default grace period (60 s) keeps the due entries where the test can see them.
    let app = TestApp::spawn_with(Backend::Redis, |s| s.append_batch = 25).await;
    let everyone = members(1_000);
    app.replace_subscribers("crowd", &everyone).await;
    // Batches take members in byte order: the last member is written in the last batch.
    let mut live = app.sse("m0999").await;
    let res = app
        .publish(json!({"topic": "crowd", "exclude": ["m0003"], "fallback": "email"}))
        .await;
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(live.next_event().await.id, id);
    let want: HashSet<String> = everyone
        .iter()
        .filter(|u| !["m0003", "m0999"].contains(&u.as_str()))
        .map(|u| format!("{id}|{u}"))
        .collect();
    let conn = app.redis().connection().await;
    // The delivery report is written within about 100 ms.
    let what = format!("the due entries never were the {} wanted", want.len());
    eventually(what, || {
        let (mut conn, want) = (conn.clone(), &want);
        async move {
            let due: HashSet<String> = redis::cmd("ZRANGE")
                .arg("test:{0}:due")
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .expect("zrange");
            (due == *want).then_some(())
        }
    })
    .await;
}
