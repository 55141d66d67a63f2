//! `/openapi.json` describes exactly the routes the relay serves.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{Backend, TestApp};

/// Every route the relay serves outside demo mode, except the demo page and its script. OPTIONS
/// on `/events` and `/poll` is the CORS preflight.
const SERVED: &[(&str, &str)] = &[
    ("get", "/events"),
    ("options", "/events"),
    ("get", "/poll"),
    ("options", "/poll"),
    ("post", "/publish"),
    ("get", "/topics/{topic}/subscribers"),
    ("put", "/topics/{topic}/subscribers"),
    ("put", "/topics/{topic}/subscribers/{user}"),
    ("delete", "/topics/{topic}/subscribers/{user}"),
    ("get", "/presence/{user}"),
    ("put", "/users/{user}/contact"),
    ("get", "/users/{user}/contact"),
    ("delete", "/users/{user}/contact"),
    ("get", "/notifications"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

/// The admin routes, served only with `--admin-key`.
const ADMIN: &[(&str, &str)] = &[
    ("get", "/admin"),
    ("get", "/admin/overview"),
    ("get", "/admin/users/{user}"),
    ("get", "/admin/trace/{user}"),
    ("post", "/admin/trace/{user}"),
    ("delete", "/admin/trace/{user}"),
];

#[tokio::test]
async fn the_openapi_description_names_every_served_route_and_each_one_answers() {
    let app = TestApp::spawn(Backend::Memory).await;
    names_exactly(&app, SERVED).await;
}

#[tokio::test]
async fn with_the_admin_key_the_description_names_the_admin_routes_too() {
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.admin_key = Some("openapi-admin-key".parse().expect("key"));
    })
    .await;
    let served: Vec<_> = SERVED.iter().chain(ADMIN).copied().collect();
    names_exactly(&app, &served).await;
}

/// The description names exactly `served`, and none of them answers 404 or 500.
async fn names_exactly(app: &TestApp, served_routes: &[(&str, &str)]) {
    let doc: Value = app.get("/openapi.json").await.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    let described: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .expect("operations")
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = served_routes
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(described, served);
    for (method, path) in served_routes {
        let path = path.replace("{topic}", "image:1").replace("{user}", "7");
        let url = app.url(&path);
        let req = match *method {
            "post" => app.http.post(url),
            "put" => app.http.put(url),
            "delete" => app.http.delete(url),
            // A preflight: refused (403), since the test relay allows no origin.
            "options" => app
                .http
                .request(reqwest::Method::OPTIONS, url)
                .header("Origin", "https://elsewhere.example")
                .header("Access-Control-Request-Method", "GET"),
            _ => app.http.get(url),
        };
        let res = req.send().await.expect("request");
        assert_ne!(res.status().as_u16(), 404, "{method} {path} is not served");
        // Every extractor runs before the handler, credentials or not: a 500 here is a handler
        // asking for app data that `startup` did not register.
        assert_ne!(res.status().as_u16(), 500, "{method} {path} failed");
    }
    let error = &doc["components"]["schemas"]["ErrorBody"]["required"];
    assert_eq!(error, &serde_json::json!(["error", "message"]));
}

#[tokio::test]
async fn the_browser_client_is_served_at_its_own_path_and_under_static() {
    let app = TestApp::spawn(Backend::Memory).await;
    let expected = include_str!("../../clients/js/notify-client.js");
    for path in ["/notify-client.js", "/static/notify-client.js"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let kind = res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(kind.starts_with("text/javascript"), "{path}: {kind}");
        assert_eq!(res.text().await.expect("body"), expected, "{path}");
    }
}
