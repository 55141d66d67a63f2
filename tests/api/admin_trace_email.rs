//! The delivery trace of the mail path: sent and failed emails with the SMTP server's answer,
//! recorded by the relay's own mail worker or by a `notify-relay mailer` process.

use serde_json::json;

use crate::{
    admin_helpers::{ADMIN_KEY, admin, wait_record},
    helpers::{Backend, MailerProcess, TestApp},
    mail_helpers::{SmtpServer, email_settings, register},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_and_a_failed_email_show_up_with_the_smtp_answer() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        email_settings(s, &smtp);
        s.admin_key = Some(ADMIN_KEY.parse().expect("key"));
    })
    .await;
    register(&app, "hue").await;
    admin(&app, "POST", "/admin/trace/hue?minutes=5").await;
    app.publish_ok(json!({"user_id": "hue", "fallback": "email", "img_url": "/1.jpg"}))
        .await;
    let sent = wait_record(&app, "hue", |r| r["kind"] == "emailed").await;
    assert!(
        sent["smtp"].as_str().is_some_and(|s| s.starts_with("250")),
        "{sent}"
    );
    assert!(sent["notification"].as_str().is_some(), "{sent}");
    smtp.wait_mails(1).await;

    smtp.set_mode("permfail");
    app.publish_ok(json!({"user_id": "hue", "fallback": "email", "img_url": "/2.jpg"}))
        .await;
    let failed = wait_record(&app, "hue", |r| r["kind"] == "email_failed").await;
    let answer = failed["smtp"].as_str().unwrap_or_default();
    assert!(answer.contains("550"), "{failed}");
    assert_ne!(failed["notification"], sent["notification"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_worker_of_its_own_records_the_emails_of_traced_users() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        email_settings(s, &smtp);
        s.mailer = false;
        s.admin_key = Some(ADMIN_KEY.parse().expect("key"));
    })
    .await;
    register(&app, "jo").await;
    admin(&app, "POST", "/admin/trace/jo?minutes=5").await;
    // `notify-relay mailer` reads the traced users from Redis when it starts, then every second.
    let _worker = MailerProcess::start(&app.redis().url(), |s| {
        crate::mail_helpers::email_process_settings(s, &smtp);
    });
    app.publish_ok(json!({"user_id": "jo", "fallback": "email", "img_url": "/j.jpg"}))
        .await;
    let sent = wait_record(&app, "jo", |r| r["kind"] == "emailed").await;
    let relay = admin(&app, "GET", "/admin/trace/jo").await["instance"].clone();
    assert_ne!(sent["instance"], relay, "recorded by the worker: {sent}");
    assert!(
        sent["smtp"].as_str().is_some_and(|s| s.starts_with("250")),
        "{sent}"
    );
}
