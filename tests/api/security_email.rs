//! Hardening of email (issue 13): contacts are checked the way mail is sent, an address that
//! can never be sent to fails once with the reason, and links point under the link base only.

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp},
    mail_helpers::{SmtpServer, email_settings, put_contact, register, wait_record},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_that_could_never_be_mailed_are_refused_with_the_reason() {
    let app = TestApp::spawn(Backend::Redis).await;
    for (email, says) in [
        (
            r#""<victim@evil.com>"@example.com"#,
            "not a valid email address",
        ),
        ("ann@[127.0.0.1]", "not a valid"),
        ("ann@exämple.com", "xn--"),
        ("Ann <ann@example.com>", "bare address"),
    ] {
        let res = put_contact(&app, "ann", json!({ "email": email })).await;
        assert_eq!(res.status(), 400, "{email}");
        let v: Value = res.json().await.expect("json");
        assert_eq!(v["error"], "bad_contact", "{v}");
        assert!(
            v["message"].as_str().expect("message").contains(says),
            "{v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_idn_address_fails_once_with_the_reason_instead_of_being_retried() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(Backend::Redis, |s| email_settings(s, &smtp)).await;
    // As stored by a relay that accepted it before the check existed.
    let mut c = app.redis().connection().await;
    redis::cmd("HSET")
        .arg("test:{0}:contact:idn")
        .arg("email")
        .arg("ann@exämple.com")
        .arg("email_fallback")
        .arg("1")
        .query_async::<()>(&mut c)
        .await
        .expect("hset");
    app.publish_ok(json!({"user_id": "idn", "fallback": "email", "img_url": "/i.jpg"}))
        .await;
    let record = wait_record(&app, "idn", |r| r["status"] == "failed").await;
    assert_eq!(record["attempts"], 1, "{record}");
    let reason = record["error_message"].as_str().expect("reason");
    assert!(reason.contains("xn--"), "{reason}");
    assert!(smtp.mails().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_img_url_on_another_host_gets_no_link_in_the_email() {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(Backend::Redis, |s| email_settings(s, &smtp)).await;
    register(&app, "phished").await;
    app.publish_ok(json!({"user_id": "phished", "fallback": "email",
                          "img_url": "https://evil.example/login"}))
        .await;
    let mails = smtp.wait_mails(1).await;
    assert!(!mails[0].text.contains("evil.example"), "{}", mails[0].text);
    assert!(!mails[0].html.contains("evil.example"), "{}", mails[0].html);
    // The same under the link base is linked.
    register(&app, "linked").await;
    app.publish_ok(json!({"user_id": "linked", "fallback": "email",
                          "img_url": "https://app.example.com/uploads/ok.jpg"}))
        .await;
    let mails = smtp.wait_mails(2).await;
    let mail = mails
        .iter()
        .find(|m| m.to == ["linked@example.com"])
        .expect("mail");
    assert!(
        mail.text.contains("https://app.example.com/uploads/ok.jpg"),
        "{}",
        mail.text
    );
}
