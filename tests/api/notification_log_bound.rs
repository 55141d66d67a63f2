//! `GET /notifications?status=` on the Redis log looks at a bounded number of records: a status
//! with no match must not walk the whole index (issue 13, item 16).

use notify_relay::email::notification_log::SCAN_MAX;

use crate::{
    helpers::{Backend, PUBLISH_KEY, TestApp},
    mail_helpers::notifications,
};

/// Records in the index: more than one request may look at.
const RECORDS: usize = SCAN_MAX + 1_000;

/// Fills the log with `RECORDS` queued records, the newest one `failed`.
async fn fill(app: &TestApp) {
    let mut c = app.redis().connection().await;
    let mut pipe = redis::pipe();
    for i in 0..RECORDS {
        let id = format!("{}-0", 1_000 + i);
        let status = if i == RECORDS - 1 { "failed" } else { "queued" };
        pipe.cmd("HSET")
            .arg(format!("test:{{0}}:n:{id}"))
            .arg(&[
                ("id", id.as_str()),
                ("user", "u"),
                ("type", "email"),
                ("status", status),
                ("attempts", "1"),
                ("event_ids", "[]"),
                ("created_at_ms", &(1_000 + i).to_string()),
                ("updated_at_ms", &(1_000 + i).to_string()),
            ])
            .ignore();
        pipe.cmd("ZADD")
            .arg("test:{0}:notifications")
            .arg(1_000 + i)
            .arg(&id)
            .ignore();
    }
    pipe.query_async::<()>(&mut c).await.expect("fill");
}

/// `HGETALL` calls Redis has served since the last `CONFIG RESETSTAT`.
async fn hgetall_calls(app: &TestApp) -> u64 {
    let mut c = app.redis().connection().await;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut c)
        .await
        .expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_hgetall:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_with_no_match_looks_at_a_bounded_number_of_records_and_says_so() {
    let app = TestApp::spawn(Backend::Redis).await;
    fill(&app).await;
    let mut c = app.redis().connection().await;
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(&mut c)
        .await
        .expect("resetstat");

    let res = app
        .http
        .get(app.url("/notifications?status=sent&limit=10"))
        .bearer_auth(PUBLISH_KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["notifications"], serde_json::json!([]));
    let looked_at = hgetall_calls(&app).await;
    // The relay's once-a-second read of the traced users (one HGETALL) counts too: allow a few.
    assert!(
        looked_at <= SCAN_MAX as u64 + 5,
        "looked at {looked_at} of {RECORDS} records"
    );
    assert_eq!(body["partial"], true, "{body}");

    // Within the bound, a search still finds what it looks for.
    let failed = notifications(&app, "status=failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["id"], format!("{}-0", 1_000 + RECORDS - 1));
    let res = app
        .http
        .get(app.url("/notifications?limit=5"))
        .bearer_auth(PUBLISH_KEY)
        .send()
        .await
        .expect("request");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["notifications"].as_array().map(Vec::len), Some(5));
    assert_eq!(body["partial"], false, "{body}");
}
