//! `GET /presence/{user}`: live connections on any instance, healing when an instance dies.

use serde_json::Value;

use crate::helpers::{
    Backend, PUBLISH_KEY, RedisServer, Relay, RelayProcess, TestApp, eventually_ok,
};

async fn presence(relay: &Relay, user: &str) -> Value {
    let res = relay
        .http
        .get(relay.url(&format!("/presence/{user}")))
        .bearer_auth(PUBLISH_KEY)
        .send()
        .await
        .expect("presence");
    assert_eq!(res.status().as_u16(), 200);
    res.json().await.expect("json")
}

/// Waits until the presence of `user` seen from `relay` has `connections` connections.
async fn wait_connections(relay: &Relay, user: &str, connections: u64) {
    let what = format!("{user} never had {connections} connections");
    let p = eventually_ok(what, || async {
        let p = presence(relay, user).await;
        if p["connections"] == connections {
            Ok(p)
        } else {
            Err(p)
        }
    })
    .await;
    assert_eq!(p["online"], connections > 0, "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_counts_connections_on_every_instance_and_heals_when_one_is_killed() {
    let redis = RedisServer::start().await;
    let a = RelayProcess::start(Some(&redis.url()), |_| {}).await;
    let mut b = RelayProcess::start(Some(&redis.url()), |_| {}).await;
    wait_connections(&a, "pia", 0).await;
    let on_a = a.sse("pia").await;
    let _on_b = b.sse("pia").await;
    let _other = b.sse("someone-else").await;
    wait_connections(&a, "pia", 2).await;
    wait_connections(&b, "pia", 2).await;
    b.kill();
    wait_connections(&a, "pia", 1).await;
    wait_connections(&a, "someone-else", 0).await;
    drop(on_a);
    wait_connections(&a, "pia", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_polled_stays_online_between_polls_on_the_memory_broker_too() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.poll_timeout_secs = 2).await;
    assert_eq!(presence(&app, "quinn").await["online"], false);
    app.poll("quinn", None, 0).await;
    let p = presence(&app, "quinn").await;
    assert_eq!(p["online"], true, "{p}");
    assert_eq!(p["connections"], 1);
    // After the poll timeout without a new poll, the user is offline again.
    wait_connections(&app, "quinn", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_needs_the_publish_key_and_a_valid_user_id() {
    let app = TestApp::spawn(Backend::Memory).await;
    let res = app.get("/presence/42").await;
    assert_eq!(res.status().as_u16(), 401);
    let long = "x".repeat(200);
    let res = reqwest::Client::new()
        .get(app.url(&format!("/presence/{long}")))
        .bearer_auth(PUBLISH_KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 400);
}
