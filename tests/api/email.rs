//! Email fallback: events a recipient did not see live within the grace period are emailed,
//! gathered into digests, through a real SMTP server.

use serde_json::json;

use crate::{
    helpers::{Backend, TestApp},
    mail_helpers::{SmtpServer, email_settings, notifications, register, wait_record, zcard},
};

async fn app(smtp: &SmtpServer) -> TestApp {
    TestApp::spawn_with(Backend::Redis, |s| email_settings(s, smtp)).await
}

/// Publishes a fallback event for an offline sentinel user and waits for its email: every
/// fallback event published before it has then been through the mover and the mail worker.
async fn sentinel(app: &TestApp, smtp: &SmtpServer, mails_before: usize) {
    register(app, "sentinel").await;
    app.publish_ok(json!({"user_id": "sentinel", "fallback": "email", "img_url": "/s.jpg"}))
        .await;
    let mails = smtp.wait_mails(mails_before + 1).await;
    assert_eq!(mails[mails_before].to, ["sentinel@example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_for_an_offline_user_becomes_exactly_one_email_with_the_image_link() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp).await;
    register(&app, "ann").await;
    let id = app
        .publish_ok(json!({"user_id": "ann", "fallback": "email", "img_url": "/uploads/abc.jpg"}))
        .await;
    let mails = smtp.wait_mails(1).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.to, ["ann@example.com"]);
    assert_eq!(mail.subject, "Your new image is ready");
    assert!(
        mail.text
            .contains("https://app.example.com/uploads/abc.jpg"),
        "{}",
        mail.text
    );
    // The HTML part escapes attribute values (`/` as `&#x2f;`), as mail clients expect.
    let html = mail.html.replace("&#x2f;", "/");
    assert!(
        html.contains(r#"<a href="https://app.example.com/uploads/abc.jpg">"#),
        "{html}"
    );
    let record = wait_record(&app, "ann", |r| r["status"] == "sent").await;
    assert_eq!(record["type"], "email");
    assert_eq!(record["attempts"], 1);
    assert_eq!(record["event_ids"], json!([id]));
    assert_eq!(record["id"], mail.notification_id.as_str());
    assert!(record["smtp_response"].as_str().unwrap().starts_with("250"));
    // Nothing is left that could become a second email.
    let redis = app.redis();
    assert_eq!(zcard(redis, "due").await, 0);
    assert_eq!(zcard(redis, "digests").await, 0);
    assert_eq!(notifications(&app, "user=ann").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_delivered_live_produces_no_email() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp).await;
    register(&app, "bob").await;
    let mut sse = app.sse("bob").await;
    let id = app
        .publish_ok(json!({"user_id": "bob", "fallback": "email", "img_url": "/b.jpg"}))
        .await;
    assert_eq!(sse.next_event().await.id, id);
    sentinel(&app, &smtp, 0).await;
    assert_eq!(smtp.mails().len(), 1, "only the sentinel was emailed");
    assert!(notifications(&app, "user=bob").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_returned_by_a_poll_produces_no_email() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp).await;
    register(&app, "pat").await;
    let head = app.cursor_now("pat").await;
    app.publish_ok(json!({"user_id": "pat", "fallback": "email", "img_url": "/p.jpg"}))
        .await;
    let got = app.poll("pat", Some(&head), 5).await;
    assert_eq!(got["events"].as_array().unwrap().len(), 1);
    sentinel(&app, &smtp, 0).await;
    assert!(notifications(&app, "user=pat").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_comes_online_within_the_grace_period_gets_the_event_by_replay_and_no_email() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        email_settings(s, &smtp);
        s.email_grace_secs = 2;
    })
    .await;
    register(&app, "dan").await;
    let head = app.cursor_now("dan").await;
    let id = app
        .publish_ok(json!({"user_id": "dan", "fallback": "email", "img_url": "/d.jpg"}))
        .await;
    // Dan was offline when it was published, and reconnects with his last cursor.
    let mut sse = app.sse_from("dan", Some(&head)).await;
    assert_eq!(sse.next_event().await.id, id, "replayed from history");
    sentinel(&app, &smtp, 0).await;
    assert!(notifications(&app, "user=dan").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_offline_events_within_the_digest_window_become_one_email() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        email_settings(s, &smtp);
        s.email_digest_secs = 2;
    })
    .await;
    register(&app, "eve").await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        let img = format!("/uploads/{n}.jpg");
        ids.push(
            app.publish_ok(json!({"user_id": "eve", "fallback": "email", "img_url": img}))
                .await,
        );
    }
    let record = wait_record(&app, "eve", |r| r["status"] == "sent").await;
    assert_eq!(record["event_ids"], json!(ids));
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "You have 3 new notifications");
    for n in 1..=3 {
        let link = format!("https://app.example.com/uploads/{n}.jpg");
        assert!(mails[0].text.contains(&link), "{}", mails[0].text);
    }
    assert_eq!(zcard(app.redis(), "digests").await, 0);
    assert_eq!(notifications(&app, "user=eve").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_without_fallback_or_users_without_a_contact_get_no_email() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp).await;
    register(&app, "fay").await;
    let res = app
        .publish(json!({"user_id": "fay", "fallback": "sms"}))
        .await;
    assert_eq!(res.status().as_u16(), 400);
    app.publish_ok(json!({"user_id": "fay", "img_url": "/no-fallback.jpg"}))
        .await;
    app.publish_ok(json!({"user_id": "nocontact", "fallback": "email"}))
        .await;
    let res = crate::mail_helpers::put_contact(
        &app,
        "optout",
        json!({"email": "optout@example.com", "email_fallback": false}),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    app.publish_ok(json!({"user_id": "optout", "fallback": "email"}))
        .await;
    sentinel(&app, &smtp, 0).await;
    assert_eq!(smtp.mails().len(), 1, "only the sentinel was emailed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pubsub_channel_configured_for_fallback_emails_its_events() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        email_settings(s, &smtp);
        s.email_fallback_channels = vec!["image_update".into()];
    })
    .await;
    register(&app, "42").await;
    app.redis()
        .publish(
            "image_update",
            r#"{"user_id":42,"img_url":"/uploads/php.jpg"}"#,
        )
        .await;
    let mails = smtp.wait_mails(1).await;
    assert_eq!(mails[0].to, ["42@example.com"]);
    assert!(
        mails[0]
            .text
            .contains("https://app.example.com/uploads/php.jpg")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emails_template_sees_the_data_without_the_routing_fields() {
    let smtp = SmtpServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("subject.txt"), "routing test").expect("template");
    std::fs::write(
        dir.path().join("body.txt"),
        "{% for e in events %}{{ e.data | tojson }}{% endfor %}",
    )
    .expect("template");
    std::fs::write(dir.path().join("body.html"), "<p>html</p>").expect("template");
    let templates = dir.path().to_owned();
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        email_settings(s, &smtp);
        s.email_templates = Some(templates);
    })
    .await;
    register(&app, "ann").await;
    app.publish_ok(json!({"user_ids": ["ann", "bob"], "exclude": ["eve"], "fallback": "email", "img_url": "/r.jpg"}))
        .await;
    let mails = smtp.wait_mails(1).await;
    let data: serde_json::Value = serde_json::from_str(mails[0].text.trim()).expect("JSON body");
    assert_eq!(data, json!({"img_url": "/r.jpg"}));
}
