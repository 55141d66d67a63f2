//! `/users/{user}/contact`: registered ahead of time, validated, and refused clearly on the
//! memory broker (email needs Redis).

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, PUBLISH_KEY, TestApp},
    mail_helpers::put_contact,
};

async fn get_contact(app: &TestApp, user: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url(&format!("/users/{user}/contact")))
        .bearer_auth(PUBLISH_KEY)
        .send()
        .await
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_can_be_set_read_and_removed() {
    let app = TestApp::spawn(Backend::Redis).await;
    let body = json!({"email": "ann@example.com", "email_fallback": true});
    assert_eq!(put_contact(&app, "ann", body).await.status(), 200);
    let res = get_contact(&app, "ann").await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v["contact"],
        json!({"email": "ann@example.com", "email_fallback": true})
    );
    let res = reqwest::Client::new()
        .delete(app.url("/users/ann/contact"))
        .bearer_auth(PUBLISH_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["removed"], true);
    assert_eq!(get_contact(&app, "ann").await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_contact_input_gets_a_clear_400() {
    let app = TestApp::spawn(Backend::Redis).await;
    let cases = [
        (
            "ann",
            json!({"email": "not an address"}),
            "bad_contact",
            "not a valid email address",
        ),
        (
            "ann",
            json!({"email_fallback": true}),
            "bad_contact",
            "email",
        ),
        (
            "ann",
            json!({"email": "a@b.c", "typo": 1}),
            "bad_contact",
            "typo",
        ),
        (
            &"x".repeat(200),
            json!({"email": "a@b.c"}),
            "bad_event",
            "user id",
        ),
    ];
    for (user, body, code, says) in cases {
        let res = put_contact(&app, user, body.clone()).await;
        assert_eq!(res.status(), 400, "{body}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"], code, "{v}");
        assert!(v["message"].as_str().unwrap().contains(says), "{v}");
    }
    let res = put_contact(&app, "ann", json!({"email": "a@b.c"})).await;
    assert_eq!(res.status(), 200, "the valid form is accepted");
    let res = reqwest::Client::new()
        .put(app.url("/users/ann/contact"))
        .json(&json!({"email": "a@b.c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the publish key is required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_memory_broker_contacts_and_the_log_say_email_needs_redis() {
    let app = TestApp::spawn(Backend::Memory).await;
    let res = put_contact(&app, "ann", json!({"email": "a@b.c"})).await;
    assert_eq!(res.status(), 501);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "email_needs_redis");
    assert!(
        v["message"].as_str().unwrap().contains("--redis-url"),
        "{v}"
    );
    let res = reqwest::Client::new()
        .get(app.url("/notifications"))
        .bearer_auth(PUBLISH_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 501);
}
