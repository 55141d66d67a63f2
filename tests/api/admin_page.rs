//! The admin page's JSON: live figures of this instance and the cluster, and the user lookup.

use serde_json::{Value, json};

use crate::{
    admin_helpers::{ADMIN_KEY, admin, admin_app},
    helpers::{Backend, Relay, TestApp, eventually_ok, test_settings},
    mail_helpers::register,
};

/// Reads the overview until `ready` holds; returns it.
async fn overview_when(relay: &Relay, ready: impl Fn(&Value) -> bool) -> Value {
    eventually_ok("overview never matched", || async {
        let o = admin(relay, "GET", "/admin/overview").await;
        if ready(&o) { Ok(o) } else { Err(o) }
    })
    .await
}

#[tokio::test]
async fn the_page_is_a_shell_without_data_or_external_assets() {
    let app = admin_app(Backend::Memory).await;
    let res = app.get("/admin").await;
    assert_eq!(res.status().as_u16(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = res.text().await.expect("html");
    assert!(html.contains("Admin key"));
    for external in ["http://", "https://", "src=\"//", "href=\"//"] {
        assert!(!html.contains(external), "external asset: {external}");
    }
    assert!(!html.contains(ADMIN_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_connections_lease_holder_tail_and_outbox() {
    let app = admin_app(Backend::Redis).await;
    let _stream = app.sse("ann").await;
    let id = app.publish_ok(json!({"user_id": "ann"})).await;
    let o = overview_when(&app, |o| o["instance"]["connections"]["sse"] == 1).await;
    let here = &o["instance"];
    assert_eq!(here["users_online"], 1);
    assert_eq!(here["lease_holder"], true);
    assert_eq!(here["tail_live"], true);
    assert_eq!(here["tail_lag_ms"], 0, "the tail has the newest id {id}");
    assert_eq!(o["cluster"]["lease_holder"], here["instance"]);
    assert_eq!(o["cluster"]["email_outbox_depth"], 0);
    assert_eq!(o["failed_emails"], json!([]));
    assert!(o["recent_errors"].is_array());
    // Events in: the rate covers the last samples, one a second.
    overview_when(&app, |o| {
        o["instance"]["events_in_per_sec"].as_f64() > Some(0.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_figures_add_up_every_instance() {
    let a = admin_app(Backend::Redis).await;
    let mut settings = test_settings(Some(a.redis().url()));
    settings.admin_key = Some(ADMIN_KEY.parse().expect("key"));
    let b = TestApp::start(settings, None).await;
    b.wait_ready().await;
    let _on_a = a.sse("bea").await;
    let _on_b1 = b.sse("bea").await;
    let _on_b2 = b.sse("cy").await;
    let o = overview_when(&a, |o| {
        o["cluster"]["instances"] == 2 && o["cluster"]["connections"]["sse"] == 3
    })
    .await;
    assert_eq!(o["instance"]["connections"]["sse"], 1);
    assert_eq!(o["instances"].as_array().map(Vec::len), Some(2));
    let holders = o["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .filter(|i| i["lease_holder"] == true)
        .count();
    assert_eq!(holders, 1, "{o:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_lookup_shows_presence_per_instance_history_contact_and_log() {
    let app = admin_app(Backend::Redis).await;
    register(&app, "dee").await;
    let id = app
        .publish_ok(json!({"user_id": "dee", "img_url": "/d.jpg"}))
        .await;
    let _stream = app.sse("dee").await;
    let u = eventually_ok("never online", || async {
        let u = admin(&app, "GET", "/admin/users/dee").await;
        if u["presence"]["online"] == true {
            Ok(u)
        } else {
            Err(u)
        }
    })
    .await;
    let instances = u["presence"]["instances"].as_object().expect("instances");
    assert_eq!(instances.values().filter(|n| **n == 1).count(), 1, "{u:#}");
    assert_eq!(u["history"]["head"], id.as_str());
    assert_eq!(u["history"]["count"], 1);
    assert_eq!(u["history"]["newest"][0]["data"]["img_url"], "/d.jpg");
    assert_eq!(u["contact"]["email"], "dee@example.com");
    assert_eq!(u["notifications"], json!([]));
    assert_eq!(u["trace"]["tracing"], false);

    let unknown = admin(&app, "GET", "/admin/users/nobody").await;
    assert_eq!(unknown["presence"]["online"], false);
    assert_eq!(unknown["history"]["count"], 0);
    assert_eq!(unknown["contact"], Value::Null);
}
