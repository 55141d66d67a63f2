//! Cross-origin pages: an allowed origin gets CORS headers with credentials on /events and
//! /poll (preflight included); any other origin gets none.

use reqwest::{Method, Response};

use crate::helpers::{Backend, TestApp, token};

const APP_ORIGIN: &str = "http://app.example.test";
const OTHER_ORIGIN: &str = "http://evil.example.test";

async fn spawn_with_origin() -> TestApp {
    TestApp::spawn_with(Backend::Memory, |s| {
        s.cors_origins = vec![APP_ORIGIN.into(), "https://second.example.test".into()];
    })
    .await
}

fn header<'a>(res: &'a Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn get_from(app: &TestApp, path: &str, origin: &str) -> Response {
    app.http
        .get(app.url(path))
        .header("Origin", origin)
        .bearer_auth(token("1"))
        .send()
        .await
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_origin_gets_its_origin_back_with_credentials_on_events_and_poll() {
    let app = spawn_with_origin().await;
    for path in ["/events", "/poll"] {
        let res = get_from(&app, path, APP_ORIGIN).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            Some(APP_ORIGIN),
            "{path}"
        );
        assert_eq!(
            header(&res, "access-control-allow-credentials"),
            Some("true")
        );
        let vary = header(&res, "vary")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(vary.contains("origin"), "{path}: vary {vary:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disallowed_origin_gets_no_cors_headers() {
    let app = spawn_with_origin().await;
    for path in ["/events", "/poll"] {
        let res = get_from(&app, path, OTHER_ORIGIN).await;
        assert!(
            header(&res, "access-control-allow-origin").is_none(),
            "{path}"
        );
        assert!(header(&res, "access-control-allow-credentials").is_none());
    }
    // The default: no origins configured, none allowed.
    let plain = TestApp::spawn(Backend::Memory).await;
    let res = get_from(&plain, "/poll", APP_ORIGIN).await;
    assert_eq!(res.status(), 200);
    assert!(header(&res, "access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preflight_for_poll_with_an_authorization_header_is_allowed_for_an_allowed_origin() {
    let app = spawn_with_origin().await;
    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, app.url("/poll"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let res = preflight(APP_ORIGIN).await.expect("preflight");
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(
        header(&res, "access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    assert_eq!(
        header(&res, "access-control-allow-credentials"),
        Some("true")
    );
    let methods = header(&res, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("GET"), "{methods}");
    let allowed = header(&res, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");

    let res = preflight(OTHER_ORIGIN).await.expect("preflight");
    assert_eq!(res.status(), 403);
    assert!(header(&res, "access-control-allow-origin").is_none());
    let body: serde_json::Value = res.json().await.expect("a JSON error");
    assert_eq!(body["error"], "cors_refused", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_gets_no_cors_headers_even_for_an_allowed_origin() {
    let app = spawn_with_origin().await;
    let res = app
        .http
        .post(app.url("/publish"))
        .header("Origin", APP_ORIGIN)
        .bearer_auth(crate::helpers::PUBLISH_KEY)
        .json(&serde_json::json!({"user_id": 1}))
        .send()
        .await
        .expect("publish");
    assert_eq!(res.status(), 202);
    assert!(header(&res, "access-control-allow-origin").is_none());
}
