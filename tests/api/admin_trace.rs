//! The delivery trace (`/admin/trace/{user}`): SSE, replay, poll, pub/sub and email each show
//! up for a traced user, records of two instances merge, and the admin routes exist only with
//! `NOTIFY_ADMIN_KEY`, answering 401 without it.

use serde_json::{Value, json};

use crate::{
    admin_helpers::{ADMIN_KEY, admin, admin_app, admin_as, wait_record},
    helpers::{Backend, Relay, TestApp, eventually, logged_run, test_settings},
    on_both_brokers,
};

fn is(kind: &'static str, id: &str) -> impl Fn(&Value) -> bool {
    let id = id.to_owned();
    move |r| r["kind"] == kind && r["id"] == id.as_str()
}

#[tokio::test]
async fn without_the_admin_key_setting_there_are_no_admin_routes() {
    let app = TestApp::spawn(Backend::Memory).await;
    for (method, path) in [
        ("GET", "/admin"),
        ("GET", "/admin/overview"),
        ("GET", "/admin/users/7"),
        ("GET", "/admin/trace/7"),
        ("POST", "/admin/trace/7?minutes=5"),
    ] {
        let (status, body) = admin_as(&app, method, path, Some(ADMIN_KEY)).await;
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(body["error"], "not_found");
    }
}

#[tokio::test]
async fn a_missing_or_wrong_admin_key_gets_a_json_401_and_no_data() {
    let app = admin_app(Backend::Memory).await;
    for key in [None, Some("wrong-key"), Some(crate::helpers::PUBLISH_KEY)] {
        for (method, path) in [
            ("GET", "/admin/overview"),
            ("GET", "/admin/users/7"),
            ("GET", "/admin/trace/7"),
            ("POST", "/admin/trace/7"),
            ("DELETE", "/admin/trace/7"),
        ] {
            let (status, body) = admin_as(&app, method, path, key).await;
            assert_eq!(status, 401, "{method} {path} with {key:?}");
            assert_eq!(body["error"], "bad_admin_key");
            assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
        }
    }
    let (status, _) = admin_as(&app, "GET", "/admin/trace/7", Some(ADMIN_KEY)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_trace_lasts_one_to_sixty_minutes() {
    let app = admin_app(Backend::Memory).await;
    for bad in ["0", "61", "ten", "-1"] {
        let (status, body) = admin_as(
            &app,
            "POST",
            &format!("/admin/trace/7?minutes={bad}"),
            Some(ADMIN_KEY),
        )
        .await;
        assert_eq!(status, 400, "minutes={bad}: {body}");
        assert_eq!(body["error"], "bad_query");
    }
    let before = now_ms();
    let on = admin(&app, "POST", "/admin/trace/7?minutes=2").await;
    assert_eq!(on["tracing"], true);
    let until = on["until_ms"].as_u64().expect("until");
    assert!(
        until >= before + 120_000 && until < before + 130_000,
        "{on}"
    );
    let off = admin(&app, "DELETE", "/admin/trace/7").await;
    assert_eq!(off["tracing"], false);
    assert_eq!(admin(&app, "GET", "/admin/trace/7").await["tracing"], false);
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

on_both_brokers!(
    a_live_sse_delivery_and_a_replay_on_resume_show_up_in_the_trace,
    a_poll_from_history_and_a_waiting_poll_show_up_in_the_trace,
    only_traced_users_are_recorded_and_only_while_the_trace_is_on,
);

async fn a_live_sse_delivery_and_a_replay_on_resume_show_up_in_the_trace(backend: Backend) {
    let app = admin_app(backend).await;
    admin(&app, "POST", "/admin/trace/ann?minutes=5").await;
    let before = app.cursor_now("ann").await;
    let mut sse = app.sse("ann").await;
    let id = app
        .publish_ok(json!({"user_id": "ann", "img_url": "/a.jpg"}))
        .await;
    assert_eq!(sse.next_event().await.id, id);

    let appended = wait_record(&app, "ann", is("appended", &id)).await;
    assert_eq!(appended["source"], "http");
    let delivered = wait_record(&app, "ann", is("delivered", &id)).await;
    assert_eq!(delivered["transport"], "sse");
    assert!(delivered["connection"].as_u64().is_some(), "{delivered}");
    assert!(delivered["at_ms"].as_u64() >= appended["at_ms"].as_u64());
    assert!(
        delivered["instance"]
            .as_str()
            .is_some_and(|i| !i.is_empty())
    );
    wait_record(&app, "ann", is("fanned_out", &id)).await;

    // The browser comes back with the cursor it had before the event: a replay.
    let mut resumed = app.sse_from("ann", Some(&before)).await;
    assert_eq!(resumed.next_event().await.id, id);
    let replayed = wait_record(&app, "ann", is("replayed", &id)).await;
    assert_eq!(replayed["from"], "history");

    // Newest first.
    let trace = admin(&app, "GET", "/admin/trace/ann").await;
    let times: Vec<u64> = trace["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["at_ms"].as_u64().expect("at_ms"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
}

async fn a_poll_from_history_and_a_waiting_poll_show_up_in_the_trace(backend: Backend) {
    let app = admin_app(backend).await;
    admin(&app, "POST", "/admin/trace/bob?minutes=5").await;
    let cursor = app.cursor_now("bob").await;
    let first = app.publish_ok(json!({"user_id": "bob", "n": 1})).await;
    let got = app.poll("bob", Some(&cursor), 0).await;
    assert_eq!(got["events"][0]["id"], first.as_str());
    let from_history = wait_record(&app, "bob", is("polled", &first)).await;
    assert_eq!(from_history["from"], "history");
    assert_eq!(from_history["transport"], "poll");

    // A poll that waits, then gets the next event live.
    let relay = Relay::clone(&app);
    let waiting = tokio::spawn(async move { relay.poll("bob", Some(&first), 10).await });
    wait_until_waiting(&app).await;
    let second = app.publish_ok(json!({"user_id": "bob", "n": 2})).await;
    let answer = waiting.await.expect("poll task");
    assert_eq!(answer["events"][0]["id"], second.as_str());
    let live = wait_record(&app, "bob", is("polled", &second)).await;
    assert!(live["connection"].as_u64().is_some(), "{live}");
    assert!(live["latency_ms"].as_u64().is_some(), "{live}");
}

/// Waits until a poll is waiting at the relay (the connections gauge).
async fn wait_until_waiting(app: &TestApp) {
    eventually("the poll never waited", || async {
        let text = app.get("/metrics").await.text().await.expect("metrics");
        text.contains(r#"notify_connections{transport="poll"} 1"#)
            .then_some(())
    })
    .await;
}

async fn only_traced_users_are_recorded_and_only_while_the_trace_is_on(backend: Backend) {
    let app = admin_app(backend).await;
    admin(&app, "POST", "/admin/trace/cat?minutes=5").await;
    let both = app
        .publish_ok(json!({"user_ids": ["cat", "dan"], "n": 1}))
        .await;
    wait_record(&app, "cat", is("appended", &both)).await;
    admin(&app, "DELETE", "/admin/trace/cat").await;
    let after = app.publish_ok(json!({"user_id": "cat", "n": 2})).await;
    // A marker traced after the stop proves the records of `after` had time to be written.
    admin(&app, "POST", "/admin/trace/eve?minutes=5").await;
    let marker = app.publish_ok(json!({"user_id": "eve", "n": 3})).await;
    wait_record(&app, "eve", is("appended", &marker)).await;
    wait_record(&app, "eve", is("fanned_out", &marker)).await;

    let cat = admin(&app, "GET", "/admin/trace/cat").await;
    assert_eq!(cat["tracing"], false);
    assert!(
        !cat["records"].to_string().contains(&after),
        "recorded after the trace stopped: {cat}"
    );
    let dan = admin(&app, "GET", "/admin/trace/dan").await;
    assert_eq!(dan["records"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pubsub_event_shows_its_source_and_channel() {
    let app = admin_app(Backend::Redis).await;
    admin(&app, "POST", "/admin/trace/fay?minutes=5").await;
    app.redis()
        .publish("image_update", r#"{"user_id":"fay","img_url":"/f.jpg"}"#)
        .await;
    let appended = wait_record(&app, "fay", |r| r["kind"] == "appended").await;
    assert_eq!(appended["source"], "pubsub");
    assert_eq!(appended["channel"], "image_update");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_records_of_two_instances_merge_into_one_timeline() {
    let a = admin_app(Backend::Redis).await;
    let mut settings = test_settings(Some(a.redis().url()));
    settings.admin_key = Some(ADMIN_KEY.parse().expect("key"));
    let b = TestApp::start(settings, None).await;
    b.wait_ready().await;

    // Turned on at A; B hears of it through Redis within about a second.
    admin(&a, "POST", "/admin/trace/gil?minutes=5").await;
    eventually("B never started recording", || async {
        (admin(&b, "GET", "/admin/trace/gil").await["recording_here"] == true).then_some(())
    })
    .await;
    let a_name = admin(&a, "GET", "/admin/trace/gil").await["instance"].clone();
    let b_name = admin(&b, "GET", "/admin/trace/gil").await["instance"].clone();
    assert_ne!(a_name, b_name);

    let mut on_b = b.sse("gil").await;
    let id = a
        .publish_ok(json!({"user_id": "gil", "img_url": "/g.jpg"}))
        .await;
    assert_eq!(on_b.next_event().await.id, id);

    // Read at A: appended by A, delivered by B.
    let appended = wait_record(&a, "gil", is("appended", &id)).await;
    assert_eq!(appended["instance"], a_name);
    let delivered = wait_record(&a, "gil", is("delivered", &id)).await;
    assert_eq!(delivered["instance"], b_name);
    // Both instances' tails handed it to their hubs.
    for name in [&a_name, &b_name] {
        wait_record(&a, "gil", |r| {
            r["kind"] == "fanned_out" && r["id"] == id.as_str() && r["instance"] == *name
        })
        .await;
    }
    // And B reads the same merged timeline.
    let from_b = admin(&b, "GET", "/admin/trace/gil").await;
    assert!(
        from_b["records"]
            .to_string()
            .contains(a_name.as_str().expect("name"))
    );
}

#[tokio::test]
async fn the_admin_key_never_appears_in_the_logs() {
    let wrong = "wrong-admin-key-8086";
    let envs = [("RUST_LOG", "trace"), ("NOTIFY_ADMIN_KEY", ADMIN_KEY)];
    let log = logged_run(
        None,
        |_| {},
        &envs,
        async |relay: &Relay| {
            admin(relay, "POST", "/admin/trace/ivy?minutes=1").await;
            admin(relay, "GET", "/admin/trace/ivy").await;
            admin(relay, "GET", "/admin/overview").await;
            let (status, _) = admin_as(relay, "GET", "/admin/overview", Some(wrong)).await;
            assert_eq!(status, 401);
        },
    )
    .await;
    assert!(log.contains("delivery trace started"), "{log}");
    for secret in [ADMIN_KEY, wrong] {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
}
