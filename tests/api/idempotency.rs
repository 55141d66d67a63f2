//! Idempotency keys: the same event sent twice (a retry after a lost answer, two racing
//! connections) is stored once, and both answers carry the first one's id.

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, PUBLISH_KEY, TestApp},
    on_both_brokers,
};

on_both_brokers!(
    the_same_key_twice_stores_one_event_and_answers_the_same_id,
    the_same_key_from_two_connections_at_once_stores_one_event,
    a_key_in_the_body_works_like_the_header_and_is_not_delivered,
    a_malformed_or_contradicting_key_is_refused_with_400,
    a_key_on_a_publish_to_an_empty_topic_answers_the_same_empty_result,
);

/// `POST /publish` with an `Idempotency-Key` header on a client of its own (its own connection).
async fn publish_keyed(app: &TestApp, key: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url("/publish"))
        .bearer_auth(PUBLISH_KEY)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("publish");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json body"))
}

async fn the_same_key_twice_stores_one_event_and_answers_the_same_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut sse = app.sse("5").await;
    let body = json!({"user_id": 5, "n": 1});
    let (s1, first) = publish_keyed(&app, "order-77", body.clone()).await;
    let (s2, second) = publish_keyed(&app, "order-77", body).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first, second, "the retry gets the first answer");
    app.publish_ok(json!({"user_id": 5, "n": 2})).await;
    let got = sse.events(2).await;
    assert_eq!(got[0].id, first["id"].as_str().unwrap());
    assert_eq!(got[1].data["n"], 2, "no second copy of n=1 came in between");
    let poll = app.poll("5", Some("0-0"), 1).await;
    assert_eq!(
        poll["events"].as_array().unwrap().len(),
        2,
        "history holds two"
    );
}

async fn the_same_key_from_two_connections_at_once_stores_one_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for round in 0..20 {
        let key = format!("race-{round}");
        let body = json!({"user_id": 9, "round": round});
        let (a, b) = tokio::join!(
            publish_keyed(&app, &key, body.clone()),
            publish_keyed(&app, &key, body.clone())
        );
        assert_eq!((a.0, b.0), (202, 202));
        assert_eq!(
            a.1["id"], b.1["id"],
            "round {round}: both answers name one event"
        );
    }
    let poll = app.poll("9", Some("0-0"), 1).await;
    let rounds: Vec<i64> = poll["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["round"].as_i64().unwrap())
        .collect();
    assert_eq!(rounds, (0..20).collect::<Vec<_>>(), "one event per round");
}

async fn a_key_in_the_body_works_like_the_header_and_is_not_delivered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut sse = app.sse("3").await;
    let body = json!({"user_id": 3, "img": "/a.jpg", "idempotency_key": "upload-1"});
    let first = app.publish(body.clone()).await;
    assert_eq!(first.status().as_u16(), 202);
    let first: Value = first.json().await.unwrap();
    let (status, by_header) = publish_keyed(&app, "upload-1", json!({"user_id": 3})).await;
    assert_eq!(status, 202);
    assert_eq!(
        by_header, first,
        "the header names the same event as the body did"
    );
    let got = sse.next_event().await;
    assert_eq!(got.data, json!({"user_id": 3, "img": "/a.jpg"}));
}

async fn a_malformed_or_contradicting_key_is_refused_with_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for key in ["has space", &"k".repeat(129)] {
        let (status, body) = publish_keyed(&app, key, json!({"user_id": 1})).await;
        assert_eq!(status, 400, "{key}");
        assert_eq!(body["error"], "bad_idempotency_key");
    }
    let res = app
        .publish(json!({"user_id": 1, "idempotency_key": 42}))
        .await;
    assert_eq!(res.status().as_u16(), 400);
    let (status, body) =
        publish_keyed(&app, "a", json!({"user_id": 1, "idempotency_key": "b"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "bad_idempotency_key");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key")
    );
}

async fn a_key_on_a_publish_to_an_empty_topic_answers_the_same_empty_result(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"topic": "image:1", "like": true});
    let (_, first) = publish_keyed(&app, "like-1", body.clone()).await;
    assert_eq!(first, json!({"id": null, "recipients": 0}));
    let res = app
        .http
        .put(app.url("/topics/image:1/subscribers/8"))
        .bearer_auth(PUBLISH_KEY)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let (_, again) = publish_keyed(&app, "like-1", body).await;
    assert_eq!(
        again, first,
        "the key still names the first, empty, outcome"
    );
}
