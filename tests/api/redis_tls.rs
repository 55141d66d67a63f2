//! Managed-Redis connections: TLS with a private CA, mutual TLS, ACL users; and the start-up
//! errors for a certificate that does not verify or credentials Redis refuses.

use serde_json::json;

use crate::{
    helpers::{PUBLISH_KEY, TestApp, start_failure, test_settings},
    mail_helpers::{SmtpServer, email_settings, register},
    topology::{Certs, Node, NodeOptions},
};

/// Starts the relay in-process against `node` with `tweak`, and waits until it bridges.
async fn relay_on(
    node: &Node,
    url: String,
    tweak: impl FnOnce(&mut notify_relay::config::Settings),
) -> TestApp {
    let mut settings = test_settings(Some(url));
    tweak(&mut settings);
    let app = TestApp::start(settings, None).await;
    app.wait_ready().await;
    node.wait_bridge_subscribed().await;
    app
}

/// SSE, poll and both publish paths (HTTP and pub/sub) work through `app` on `node`.
async fn publish_sse_and_poll_work(app: &TestApp, node: &Node) {
    let cursor = app.cursor_now("42").await;
    let mut sse = app.sse("42").await;
    let id = app
        .publish_ok(json!({"user_id": 42, "img_url": "/http.jpg"}))
        .await;
    let got = sse.next_event().await;
    assert_eq!(
        (got.id.as_str(), &got.data["img_url"]),
        (id.as_str(), &json!("/http.jpg"))
    );
    let receivers = node
        .publish("image_update", r#"{"user_id":42,"img_url":"/pubsub.jpg"}"#)
        .await;
    assert_eq!(
        receivers, 1,
        "the bridge is subscribed over this connection"
    );
    assert_eq!(sse.next_event().await.data["img_url"], "/pubsub.jpg");
    let poll = app.poll("42", Some(&cursor), 5).await;
    let urls: Vec<_> = poll["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["data"]["img_url"].clone())
        .collect();
    assert_eq!(urls, [json!("/http.jpg"), json!("/pubsub.jpg")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_poll_and_publish_work_against_a_tls_only_redis_with_a_private_ca() {
    let certs = Certs::generate();
    let node = Node::start(&NodeOptions {
        tls: Some(&certs),
        ..NodeOptions::default()
    })
    .await;
    let url = format!("rediss://127.0.0.1:{}", node.port);
    let app = relay_on(&node, url, |s| s.redis_ca_file = Some(certs.path("ca.crt"))).await;
    publish_sse_and_poll_work(&app, &node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_poll_and_publish_work_with_mutual_tls_and_an_acl_user() {
    let certs = Certs::generate();
    let node = Node::start(&NodeOptions {
        tls: Some(&certs),
        mutual: true,
        user: Some(("relay", "s3cret-pw")),
        ..NodeOptions::default()
    })
    .await;
    let url = format!("rediss://127.0.0.1:{}", node.port);
    let app = relay_on(&node, url, |s| {
        s.redis_ca_file = Some(certs.path("ca.crt"));
        s.redis_client_cert = Some(certs.path("client.crt"));
        s.redis_client_key = Some(certs.path("client.key"));
        s.redis_username = Some("relay".into());
        s.redis_password = Some("s3cret-pw".parse().expect("secret"));
    })
    .await;
    publish_sse_and_poll_work(&app, &node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_given_in_the_url_works_without_tls() {
    let node = Node::start(&NodeOptions {
        user: Some(("relay", "url-pw")),
        ..NodeOptions::default()
    })
    .await;
    let url = format!("redis://relay:url-pw@127.0.0.1:{}/0", node.port);
    let app = relay_on(&node, url, |_| {}).await;
    publish_sse_and_poll_work(&app, &node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_certificate_from_another_ca_stops_start_up_naming_the_ca_setting() {
    let certs = Certs::generate();
    let node = Node::start(&NodeOptions {
        tls: Some(&certs),
        ..NodeOptions::default()
    })
    .await;
    let url = format!("rediss://127.0.0.1:{}", node.port);
    let other_ca = certs.path("other-ca.crt");
    let (code, out) = start_failure(
        None,
        Some(&url),
        |_| {},
        &[("NOTIFY_REDIS_CA_FILE", other_ca.to_str().expect("path"))],
    )
    .await;
    assert_eq!(code, Some(2), "start-up refused: {out}");
    assert!(
        out.contains("NOTIFY_REDIS_CA_FILE"),
        "names the setting: {out}"
    );
    assert!(out.contains("certificate"), "says what failed: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_redis_that_wants_a_client_certificate_stops_start_up_without_one() {
    let certs = Certs::generate();
    let node = Node::start(&NodeOptions {
        tls: Some(&certs),
        mutual: true,
        ..NodeOptions::default()
    })
    .await;
    let url = format!("rediss://127.0.0.1:{}", node.port);
    let ca = certs.path("ca.crt");
    let (code, out) = start_failure(
        None,
        Some(&url),
        |_| {},
        &[("NOTIFY_REDIS_CA_FILE", ca.to_str().expect("path"))],
    )
    .await;
    assert_eq!(code, Some(2), "start-up refused: {out}");
    assert!(
        out.contains("NOTIFY_REDIS_CLIENT_CERT"),
        "names the setting: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_redis_password_stops_start_up_naming_the_setting_and_never_printing_it() {
    let node = Node::start(&NodeOptions {
        user: Some(("relay", "right-pw")),
        ..NodeOptions::default()
    })
    .await;
    let url = format!("redis://127.0.0.1:{}", node.port);
    let (code, out) = start_failure(
        None,
        Some(&url),
        |_| {},
        &[
            ("NOTIFY_REDIS_USERNAME", "relay"),
            ("NOTIFY_REDIS_PASSWORD", "wrong-pw-1234"),
        ],
    )
    .await;
    assert_eq!(code, Some(2), "start-up refused: {out}");
    assert!(
        out.contains("NOTIFY_REDIS_PASSWORD"),
        "names the setting: {out}"
    );
    assert!(
        !out.contains("wrong-pw-1234"),
        "the password is never printed: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_never_shows_the_redis_password_or_a_url_with_userinfo() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_notify-relay"))
        .arg("--help")
        .env("NOTIFY_REDIS_PASSWORD", "help-pw-5678")
        .env("NOTIFY_REDIS_URL", "redis://u:url-pw-5678@127.0.0.1:1")
        .output()
        .await
        .expect("help");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NOTIFY_REDIS_PASSWORD"),
        "the setting is documented"
    );
    assert!(
        !text.contains("help-pw-5678") && !text.contains("url-pw-5678"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_resume_and_email_work_over_mutual_tls_with_an_acl_user() {
    let certs = Certs::generate();
    let node = Node::start(&NodeOptions {
        tls: Some(&certs),
        mutual: true,
        user: Some(("relay", "s3cret-pw")),
        ..NodeOptions::default()
    })
    .await;
    let smtp = SmtpServer::start().await;
    let url = format!("rediss://relay:s3cret-pw@127.0.0.1:{}", node.port);
    let app = relay_on(&node, url, |s| {
        s.redis_ca_file = Some(certs.path("ca.crt"));
        s.redis_client_cert = Some(certs.path("client.crt"));
        s.redis_client_key = Some(certs.path("client.key"));
        email_settings(s, &smtp);
    })
    .await;
    // Topics: one publish reaches the subscriber.
    let res = app
        .http
        .put(app.url("/topics/image:7/subscribers/fan"))
        .bearer_auth(PUBLISH_KEY)
        .send()
        .await
        .expect("subscribe");
    assert_eq!(res.status().as_u16(), 200);
    let mut fan = app.sse("fan").await;
    let first = app.publish_ok(json!({"topic": "image:7", "n": 1})).await;
    assert_eq!(fan.next_event().await.id, first);
    // Resume: a stream from the first id gets exactly what came after it.
    let second = app.publish_ok(json!({"topic": "image:7", "n": 2})).await;
    let mut resumed = app.sse_from("fan", Some(&first)).await;
    assert_eq!(resumed.next_event().await.id, second);
    // Email: an offline user's fallback event is mailed (mover and mail worker over TLS).
    register(&app, "ann").await;
    app.publish_ok(json!({"user_id": "ann", "fallback": "email", "img_url": "/tls.jpg"}))
        .await;
    let mails = smtp.wait_mails(1).await;
    assert_eq!(mails[0].to, ["ann@example.com"]);
}
