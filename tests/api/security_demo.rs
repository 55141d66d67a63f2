//! Hardening of the defaults (issue 13): demo mode answers this machine only, on every route;
//! the default settings never throttle a client that drains its backlog.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

async fn demo_app() -> TestApp {
    TestApp::spawn_with(Backend::Memory, |s| {
        s.jwt_secret = None;
        s.publish_key = None;
    })
    .await
}

async fn expect_demo_refusal(res: reqwest::Response, what: &str) {
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "{what}");
    let body: Value = res.json().await.expect("json body");
    assert_eq!(body["error"], "demo_local_only", "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_refuses_forwarded_requests_on_every_route() {
    let app = demo_app().await;
    let headers = [
        ("Forwarded", "for=203.0.113.5"),
        ("X-Forwarded-For", "203.0.113.5"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
        ("X-Real-IP", "203.0.113.5"),
        ("Via", "1.1 proxy"),
        ("CF-Connecting-IP", "203.0.113.5"),
        ("True-Client-IP", "203.0.113.5"),
    ];
    for (name, value) in headers {
        let token = app
            .http
            .get(app.url("/demo/token?user_id=7"))
            .header(name, value);
        let publish = app
            .http
            .post(app.url("/publish"))
            .header(name, value)
            .json(&json!({"user_id": 7}));
        let topics = app
            .http
            .put(app.url("/topics/t/subscribers/7"))
            .header(name, value);
        let presence = app.http.get(app.url("/presence/7")).header(name, value);
        for (route, req) in [
            ("/demo/token", token),
            ("/publish", publish),
            ("/topics", topics),
            ("/presence", presence),
        ] {
            let res = req.send().await.expect("request");
            expect_demo_refusal(res, &format!("{route} with {name}")).await;
        }
    }
    // Without them, the same requests work.
    assert_eq!(app.get("/demo/token?user_id=7").await.status(), 200);
    assert_eq!(app.publish(json!({"user_id": 7})).await.status(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_answers_loopback_host_names_only_so_a_rebinding_page_cannot_mint_tokens() {
    let app = demo_app().await;
    let port = app.base.rsplit(':').next().expect("port").to_owned();
    let with_host = |host: String| {
        app.http
            .get(app.url("/demo/token?user_id=7"))
            .header("Host", host)
            .send()
    };
    for host in ["evil.example", "rebind.evil.example", "127.0.0.1.nip.io"] {
        let res = with_host(format!("{host}:{port}")).await.expect("request");
        expect_demo_refusal(res, host).await;
    }
    for host in ["localhost", "127.0.0.1", "[::1]"] {
        let res = with_host(format!("{host}:{port}")).await.expect("request");
        assert_eq!(res.status(), 200, "{host}");
    }
    // A cross-site form can POST text/plain without a preflight; it must not publish.
    let res = app
        .http
        .post(app.url("/publish"))
        .header("Content-Type", "text/plain")
        .body(r#"{"user_id":7}"#)
        .send()
        .await
        .expect("publish");
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_default_limits_a_poll_chain_draining_a_backlog_never_gets_429() {
    let defaults = notify_relay::config::Settings::defaults();
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.connects_per_sec = defaults.connects_per_sec;
        s.publishes_per_sec = defaults.publishes_per_sec;
        s.poll_batch = 1;
        s.history_len = 1_000;
    })
    .await;
    let mut cursor = app.cursor_now("drain").await;
    let backlog = 150;
    for n in 0..backlog {
        app.publish_ok(json!({"user_id": "drain", "n": n})).await;
    }
    // One poll per event, back to back, as the browser client drains after a reconnect.
    for n in 0..backlog {
        let body = app.poll("drain", Some(&cursor), 0).await;
        assert_eq!(body["events"][0]["data"]["n"], n, "{body}");
        cursor = body["cursor"].as_str().expect("cursor").to_owned();
    }
}
