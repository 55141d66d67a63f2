//! A big topic append caught part way: members who join or leave while it runs are in or out
//! of each event, never half; one its relay left unfinished is finished by another relay.

use std::{collections::HashSet, sync::Arc, time::Duration};

use serde_json::json;

use crate::{
    helpers::{Backend, TestApp, eventually, eventually_within},
    topic_batches::{history, members},
};

/// While big topic events are published one after another, one user joins the topic and one
/// leaves: each gets a run of them with no hole (the snapshot is taken in one step), and what a
/// connected joiner got live is exactly what their history holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_joins_or_leaves_during_big_topic_events_is_in_or_out_of_each_never_half() {
    let app = Arc::new(TestApp::spawn_with(Backend::Redis, |s| s.append_batch = 10).await);
    let mut everyone = members(500);
    everyone.push("leaver".into());
    app.replace_subscribers("crowd", &everyone).await;
    let start = app.cursor_now("joiner").await;
    let mut joiner_live = app.sse("joiner").await;
    let publisher = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..30 {
                ids.push(app.publish_ok(json!({"topic": "crowd", "n": n})).await);
            }
            ids
        })
    };
    // Let a few events go out first, then change the membership while the rest go out.
    eventually("the first events never went out", || async {
        (history(&app, "leaver", &start).await.len() >= 5).then_some(())
    })
    .await;
    app.set_subscriber("crowd", "joiner", true).await;
    app.set_subscriber("crowd", "leaver", false).await;
    let ids = publisher.await.expect("publisher");

    let joined: Vec<String> = history(&app, "joiner", &start)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let left: Vec<String> = history(&app, "leaver", &start)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(
        !joined.is_empty() && joined.len() < ids.len(),
        "joined in the middle"
    );
    assert!(
        left.len() >= 5 && left.len() < ids.len(),
        "left in the middle"
    );
    assert_eq!(
        joined.as_slice(),
        &ids[ids.len() - joined.len()..],
        "the joiner has a suffix"
    );
    assert_eq!(
        left.as_slice(),
        &ids[..left.len()],
        "the leaver has a prefix"
    );
    let live: Vec<String> = joiner_live
        .events(joined.len())
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(live, joined, "live and history agree");
    let marker = app.publish_ok(json!({"user_id": "joiner"})).await;
    assert_eq!(
        joiner_live.next_event().await.id,
        marker,
        "nothing more live"
    );
}

/// A relay that dies right after the first script of a big fallback topic event (here the script
/// is run by hand, as that relay would have) leaves the rest to any relay: the running one
/// delivers the event live from the snapshot, writes a pending member's history when they read
/// it, and finishes every other history and due entry once the append is stale (10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_append_left_unfinished_by_a_dead_relay_is_finished_by_another_with_its_due_entries()
{
    let app = TestApp::spawn(Backend::Redis).await;
    let everyone = members(300);
    app.replace_subscribers("crowd", &everyone).await;
    let mut live = app.sse("m0299").await;
    let script = redis::Script::new(&format!(
        "{}\nlocal function append_event()\n{}\nend\n{}",
        include_str!("../../src/broker/redis/pending.lua"),
        include_str!("../../src/broker/redis/append.lua"),
        include_str!("../../src/broker/redis/once.lua"),
    ));
    let key = |k: &str| format!("test:{{0}}:{k}");
    let mut conn = app.redis().connection().await;
    let (id, recipients, pending, _): (String, usize, usize, u8) = script
        .key(key("log"))
        .key(key("epoch"))
        .key(key("bridge-lease"))
        .key(key("t:crowd"))
        .key(key("bridge-seq"))
        .key(key("log"))
        .arg(r#"{"n":1}"#)
        .arg("")
        .arg("[]")
        .arg(100)
        .arg(86_400)
        .arg(100_000)
        .arg("")
        .arg(key(""))
        .arg("1")
        .arg(r#"["m0001"]"#)
        .arg(10)
        .arg("1")
        .arg(60_000)
        .arg(100_000)
        .arg("")
        .arg("")
        .arg(60)
        .invoke_async(&mut conn)
        .await
        .expect("the first script");
    assert_eq!(
        (recipients, pending),
        (299, 289),
        "one batch written, the rest pending"
    );
    assert_eq!(
        live.next_event().await.id,
        id,
        "delivered live from the snapshot"
    );
    let read = history(&app, "m0150", "0-0").await;
    assert_eq!(
        read.len(),
        1,
        "a read writes a pending member's entry first"
    );
    assert_eq!(read[0].0, id);

    // Due for email: everyone but the excluded m0001 and the two who saw the event (live, and
    // in a poll answer: both report a delivery).
    let want: HashSet<String> = everyone
        .iter()
        .filter(|u| !["m0001", "m0150", "m0299"].contains(&u.as_str()))
        .map(|u| format!("{id}|{u}"))
        .collect();
    // The append counts as stale after 10 s; finishing it then takes a few batches more.
    let what = format!(
        "the append was never finished with the {} due entries",
        want.len()
    );
    eventually_within(Duration::from_secs(40), what, || {
        let (mut conn, want, key) = (conn.clone(), &want, &key);
        async move {
            let left: usize = redis::cmd("ZCARD")
                .arg(key("pending"))
                .query_async(&mut conn)
                .await
                .expect("zcard");
            let due: HashSet<String> = redis::cmd("ZRANGE")
                .arg(key("due"))
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .expect("zrange");
            (left == 0 && due == *want).then_some(())
        }
    })
    .await;
    for user in &everyone {
        let held = history(&app, user, "0-0").await;
        let ids: Vec<&str> = held.iter().map(|(id, _)| id.as_str()).collect();
        let want: &[&str] = if user == "m0001" { &[] } else { &[&id] };
        assert_eq!(ids, want, "{user}'s history");
    }
}
