//! Topics, the subscriber sets: kept ahead of time with the publish key, added, removed,
//! replaced and listed in pages, addressed percent-encoded, bad input refused. What a topic
//! event does with them: topic_delivery.rs.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp},
    on_both_brokers,
};

on_both_brokers!(
    subscribers_can_be_added_removed_replaced_and_listed_in_pages,
    bad_topic_input_gets_400,
);

async fn subscribers_can_be_added_removed_replaced_and_listed_in_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let put = reqwest::Method::PUT;
    let (_, first) = app
        .keyed(put.clone(), "/topics/image:42/subscribers/7", None)
        .await;
    assert_eq!(first["added"], true);
    let (_, again) = app
        .keyed(put.clone(), "/topics/image:42/subscribers/7", None)
        .await;
    assert_eq!(again["added"], false, "adding twice is idempotent");
    let (_, gone) = app
        .keyed(
            reqwest::Method::DELETE,
            "/topics/image:42/subscribers/7",
            None,
        )
        .await;
    assert_eq!(gone["removed"], true);
    let (_, gone) = app
        .keyed(
            reqwest::Method::DELETE,
            "/topics/image:42/subscribers/7",
            None,
        )
        .await;
    assert_eq!(gone["removed"], false);

    let users: Vec<Value> = (0..25)
        .map(|i| json!(format!("u{i:02}")))
        .chain([json!(5), json!("u00")])
        .collect();
    let (status, set) = app
        .keyed(
            put,
            "/topics/image:42/subscribers",
            Some(json!({"subscribers": users})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(set["count"], 26, "duplicates collapse; 5 is the user \"5\"");
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/topics/image:42/subscribers?limit=10&after={a}"),
            None => "/topics/image:42/subscribers?limit=10".into(),
        };
        let (_, page) = app.keyed(reqwest::Method::GET, &path, None).await;
        listed.extend(
            page["subscribers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..25)
        .map(|i| format!("u{i:02}"))
        .chain(["5".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(
        listed, expected,
        "every subscriber once, in order, across pages"
    );
    let (_, cleared) = app
        .keyed(
            reqwest::Method::PUT,
            "/topics/image:42/subscribers",
            Some(json!({"subscribers": []})),
        )
        .await;
    assert_eq!(cleared["count"], 0);
    let (_, empty) = app
        .keyed(reqwest::Method::GET, "/topics/image:42/subscribers", None)
        .await;
    assert_eq!(empty["subscribers"], json!([]));
}

async fn bad_topic_input_gets_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let long = "t".repeat(129);
    for path in [
        format!("/topics/{long}/subscribers/1"),
        "/topics/bad%20name/subscribers/1".into(),
    ] {
        let (status, body) = app.keyed(reqwest::Method::PUT, &path, None).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["error"], "bad_topic");
    }
    let (status, body) = app
        .keyed(
            reqwest::Method::PUT,
            "/topics/ok/subscribers",
            Some(json!({"subscribers": [1.5]})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_event"))
    );
    let (status, _) = app
        .keyed(
            reqwest::Method::PUT,
            "/topics/ok/subscribers",
            Some(json!(["not", "wrapped"])),
        )
        .await;
    assert_eq!(status, 400);
    let res = app.publish(json!({"topic": "has space"})).await;
    assert_eq!(res.status(), 400);
    let res = app
        .http
        .put(app.url("/topics/ok/subscribers/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "topics need the publish key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_and_users_with_slash_plus_or_percent_are_addressed_percent_encoded() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (status, body) = app
        .keyed(
            reqwest::Method::PUT,
            "/topics/album%2F3/subscribers/x%2By%25",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["topic"].as_str(), body["user"].as_str()),
        (Some("album/3"), Some("x+y%"))
    );
    let (_, page) = app
        .keyed(reqwest::Method::GET, "/topics/album%2f3/subscribers", None)
        .await;
    assert_eq!(page["subscribers"], json!(["x+y%"]));
    let res = app.publish(json!({"topic": "album/3"})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["recipients"], 1);
    let (status, body) = app
        .keyed(reqwest::Method::PUT, "/topics/a%252Fb/subscribers/1", None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_topic")),
        "decoded once: a%2Fb"
    );
}
