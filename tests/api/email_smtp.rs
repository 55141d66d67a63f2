//! The mail worker against an SMTP server that is down, answers 4xx, or answers 5xx: transient
//! failures are retried until the server recovers, permanent ones are logged with the reason.

use serde_json::json;

use crate::{
    helpers::{Backend, TestApp},
    mail_helpers::{SmtpServer, email_settings, register, wait_record},
};

/// The value of one counter in `/metrics`.
async fn counter(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} is not in /metrics"))
}

async fn app(smtp: &SmtpServer) -> TestApp {
    TestApp::spawn_with(Backend::Redis, |s| {
        email_settings(s, smtp);
        s.email_max_attempts = 50;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_smtp_server_is_down_mail_is_retried_and_sent_when_it_returns() {
    let mut smtp = SmtpServer::start().await;
    let app = app(&smtp).await;
    smtp.kill();
    register(&app, "gus").await;
    app.publish_ok(json!({"user_id": "gus", "fallback": "email", "img_url": "/g.jpg"}))
        .await;
    let retrying = wait_record(&app, "gus", |r| r["attempts"].as_u64() >= Some(2)).await;
    assert_eq!(retrying["status"], "queued");
    assert!(retrying["error_message"].as_str().is_some(), "{retrying}");
    smtp.restart().await;
    let mails = smtp.wait_mails(1).await;
    assert_eq!(mails[0].to, ["gus@example.com"]);
    let sent = wait_record(&app, "gus", |r| r["status"] == "sent").await;
    assert!(sent["attempts"].as_u64() > Some(1), "{sent}");
    assert_eq!(smtp.mails().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_answer_is_retried_and_the_mail_is_sent_once_the_server_accepts() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp).await;
    smtp.set_mode("tempfail");
    register(&app, "hal").await;
    app.publish_ok(json!({"user_id": "hal", "fallback": "email", "img_url": "/h.jpg"}))
        .await;
    let retrying = wait_record(&app, "hal", |r| r["attempts"].as_u64() >= Some(2)).await;
    assert_eq!(retrying["status"], "queued");
    let reason = retrying["error_message"].as_str().unwrap_or_default();
    assert!(reason.contains("451"), "{retrying}");
    smtp.set_mode("accept");
    smtp.wait_mails(1).await;
    let sent = wait_record(&app, "hal", |r| r["status"] == "sent").await;
    assert!(sent["attempts"].as_u64() > Some(1), "{sent}");
    assert_eq!(counter(&app, "notify_emails_sent_total").await, 1.0);
    assert_eq!(counter(&app, "notify_emails_queued_total").await, 1.0);
    assert!(counter(&app, "notify_emails_retried_total").await >= 1.0);
    assert_eq!(counter(&app, "notify_emails_failed_total").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_answer_is_logged_as_failed_with_the_servers_message_and_not_retried() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp).await;
    smtp.set_mode("permfail");
    register(&app, "ivy").await;
    app.publish_ok(json!({"user_id": "ivy", "fallback": "email", "img_url": "/i.jpg"}))
        .await;
    let failed = wait_record(&app, "ivy", |r| r["status"] == "failed").await;
    assert_eq!(failed["attempts"], 1);
    let reason = failed["error_message"].as_str().unwrap_or_default();
    assert!(reason.contains("550"), "{failed}");
    assert!(reason.contains("Mailbox unavailable"), "{failed}");
    assert!(smtp.mails().is_empty());
    assert_eq!(counter(&app, "notify_emails_failed_total").await, 1.0);
    assert_eq!(counter(&app, "notify_emails_sent_total").await, 0.0);
    let listed = crate::mail_helpers::notifications(&app, "status=failed").await;
    assert_eq!(listed.len(), 1);
    assert!(
        crate::mail_helpers::notifications(&app, "status=sent")
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_keeps_failing_is_given_up_on_after_the_most_attempts_and_logged() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        email_settings(s, &smtp);
        s.email_max_attempts = 3;
    })
    .await;
    smtp.set_mode("tempfail");
    register(&app, "jon").await;
    app.publish_ok(json!({"user_id": "jon", "fallback": "email"}))
        .await;
    let failed = wait_record(&app, "jon", |r| r["status"] == "failed").await;
    assert_eq!(failed["attempts"], 3);
    let reason = failed["error_message"].as_str().unwrap_or_default();
    assert!(reason.contains("gave up after 3 attempts"), "{failed}");
}
