//! The notification log in a real PostgreSQL and a real MariaDB (`--notifications-db`), with
//! mail flowing through a real SMTP server: rows for sent, failed and retried mail, a database
//! outage that loses and repeats nothing, a record the database refuses, and `GET
//! /notifications` read from the table.

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, PUBLISH_KEY, TestApp, eventually},
    mail_helpers::{SmtpServer, email_settings, register},
    on_both_databases,
    sql_helpers::{Database, Kind, schema_file},
};

async fn app(db: &Database, smtp: &SmtpServer, table: &str) -> TestApp {
    TestApp::spawn_with(Backend::Redis, |s| {
        email_settings(s, smtp);
        s.email_max_attempts = 50;
        s.notifications_db = Some(db.url().parse().expect("url"));
        s.notifications_table = table.into();
    })
    .await
}

/// `id, user_id, type, status, attempts, error_message, smtp_response, email, event_ids` of
/// the rows of `user`.
fn rows_sql(table: &str, user: &str) -> String {
    format!(
        "SELECT id, user_id, type, status, attempts, COALESCE(error_message, ''), \
         COALESCE(smtp_response, ''), email, event_ids FROM {table} WHERE user_id = '{user}'"
    )
}

/// `GET /notifications` with a query string; returns the whole answer.
async fn log(app: &TestApp, query: &str) -> (u16, Value) {
    let res = app
        .http
        .get(app.url(&format!("/notifications?{query}")))
        .bearer_auth(PUBLISH_KEY)
        .send()
        .await
        .expect("notifications");
    (res.status().as_u16(), res.json().await.expect("json"))
}

/// The value of one metric in `/metrics`.
async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} is not in /metrics"))
}

async fn an_offline_users_email_becomes_a_sent_row_with_the_smtp_answer(kind: Kind) {
    let db = Database::start(kind).await;
    let smtp = SmtpServer::start().await;
    let app = app(&db, &smtp, "relay_log").await;
    register(&app, "ann").await;
    let event = app
        .publish_ok(json!({"user_id": "ann", "fallback": "email", "img_url": "/a.jpg"}))
        .await;
    let rows = db
        .wait_rows(&rows_sql("relay_log", "ann"), |r| {
            r.len() == 1 && r[0][3] == "sent"
        })
        .await;
    let row = &rows[0];
    let mails = smtp.wait_mails(1).await;
    assert_eq!(row[0], mails[0].notification_id, "{row:?}");
    assert_eq!(&row[1..5], ["ann", "email", "sent", "1"], "{row:?}");
    assert!(row[6].starts_with("250"), "the SMTP answer: {row:?}");
    assert_eq!(row[7], "ann@example.com");
    let ids: Vec<String> = serde_json::from_str(&row[8]).expect("event_ids is JSON");
    assert_eq!(ids, [event]);

    // The API answers from the table: the same record, and a row only the table has.
    let (status, body) = log(&app, "user=ann").await;
    assert_eq!(status, 200, "{body}");
    let listed = &body["notifications"][0];
    assert_eq!(listed["id"], row[0].as_str());
    assert_eq!(listed["status"], "sent");
    assert_eq!(listed["smtp_response"], row[6].as_str());
    assert_eq!(listed["event_ids"], json!(ids));
    assert_eq!(body["partial"], false);
    let now = match kind {
        Kind::Postgres => "CURRENT_TIMESTAMP",
        Kind::MariaDb => "UTC_TIMESTAMP(3)",
    };
    db.query(&format!(
        "INSERT INTO relay_log VALUES ('9-0', 'zed', 'email', 'failed', 'bounced', 3, \
         'zed@example.com', '[\"9-0\"]', NULL, {now}, {now})"
    ));
    let (_, body) = log(&app, "status=failed").await;
    let failed = body["notifications"].as_array().expect("array");
    assert_eq!(failed.len(), 1, "{body}");
    assert_eq!(failed[0]["user"], "zed");
    assert_eq!(failed[0]["attempts"], 3);
    assert_eq!(failed[0]["error_message"], "bounced");
    // A user id with a quote and a 4-byte character is a bound value like any other.
    let (status, body) = log(&app, "user=O%27Brien%20%F0%9F%98%80").await;
    assert_eq!(
        (status, &body["notifications"]),
        (200, &json!([])),
        "{body}"
    );
    let (_, body) = log(&app, "limit=1").await;
    assert_eq!(
        body["notifications"][0]["id"], "9-0",
        "newest first: {body}"
    );
    assert_eq!(body["notifications"].as_array().map(Vec::len), Some(1));
}

async fn a_5xx_answer_becomes_a_failed_row_with_the_error_message(kind: Kind) {
    let db = Database::start(kind).await;
    // The table made by the app's own tool: the relay writes into it as it is.
    db.apply_file(&schema_file(kind)).expect("schema applies");
    let smtp = SmtpServer::start().await;
    let app = app(&db, &smtp, "notifications").await;
    smtp.set_mode("permfail");
    register(&app, "bob").await;
    app.publish_ok(json!({"user_id": "bob", "fallback": "email"}))
        .await;
    let rows = db
        .wait_rows(&rows_sql("notifications", "bob"), |r| {
            r.len() == 1 && r[0][3] == "failed"
        })
        .await;
    assert_eq!(rows[0][4], "1", "{rows:?}");
    assert!(rows[0][5].contains("550"), "error_message: {rows:?}");
    assert_eq!(rows[0][6], "", "no SMTP answer: {rows:?}");
    assert!(smtp.mails().is_empty());
}

async fn a_4xx_then_success_shows_the_attempts(kind: Kind) {
    let db = Database::start(kind).await;
    let smtp = SmtpServer::start().await;
    let app = app(&db, &smtp, "notifications").await;
    smtp.set_mode("tempfail");
    register(&app, "cat").await;
    app.publish_ok(json!({"user_id": "cat", "fallback": "email"}))
        .await;
    let sql = rows_sql("notifications", "cat");
    let retrying = db
        .wait_rows(&sql, |r| {
            r.len() == 1 && r[0][3] == "queued" && r[0][4].parse::<u32>().unwrap_or(0) >= 2
        })
        .await;
    assert!(retrying[0][5].contains("451"), "{retrying:?}");
    smtp.set_mode("accept");
    let sent = db
        .wait_rows(&sql, |r| r.len() == 1 && r[0][3] == "sent")
        .await;
    let attempts: u32 = sent[0][4].parse().expect("attempts");
    assert!(attempts >= 2, "{sent:?}");
    assert!(sent[0][6].starts_with("250"), "{sent:?}");
    smtp.wait_mails(1).await;
    let (_, body) = log(&app, "user=cat").await;
    assert_eq!(body["notifications"][0]["attempts"], attempts);
}

async fn with_the_database_down_records_wait_in_redis_and_arrive_once_when_it_is_back(kind: Kind) {
    let mut db = Database::start(kind).await;
    let smtp = SmtpServer::start().await;
    let app = app(&db, &smtp, "notifications").await;
    db.stop();
    let users = ["dan", "eve", "fay"];
    for user in users {
        register(&app, user).await;
        app.publish_ok(json!({"user_id": user, "fallback": "email"}))
            .await;
    }
    // Mail is not held up by the database.
    smtp.wait_mails(users.len()).await;
    // Three changes per email wait in Redis: queued, one attempt, sent.
    wait_backlog(&app, "the backlog never reached 9", |b| b >= 9.0).await;
    let (status, body) = log(&app, "").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "notifications_db_unavailable");

    db.restart().await;
    let rows = db
        .wait_rows(
            "SELECT user_id, status, attempts FROM notifications ORDER BY user_id",
            |r| r.len() == 3 && r.iter().all(|row| row[1] == "sent"),
        )
        .await;
    assert_eq!(
        rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        users
    );
    assert!(rows.iter().all(|r| r[2] == "1"), "{rows:?}");
    wait_backlog(&app, "the backlog never emptied", |b| b <= 0.0).await;
    // Each change written once: nine copies, no repeats.
    assert_eq!(
        metric(&app, "notify_notifications_db_written_total").await,
        9.0
    );
    assert!(metric(&app, "notify_notifications_db_errors_total").await >= 1.0);
    let (status, body) = log(&app, "status=sent").await;
    assert_eq!(status, 200);
    assert_eq!(body["notifications"].as_array().map(Vec::len), Some(3));
}

async fn a_record_the_database_refuses_is_skipped_and_the_others_still_arrive(kind: Kind) {
    let db = Database::start(kind).await;
    db.apply_file(&schema_file(kind)).expect("schema applies");
    // The app's table has a rule of its own that one record breaks.
    db.query("ALTER TABLE notifications ADD CONSTRAINT no_poison CHECK (user_id <> 'poison')");
    let smtp = SmtpServer::start().await;
    let app = app(&db, &smtp, "notifications").await;
    register(&app, "poison").await;
    register(&app, "hal").await;
    app.publish_ok(json!({"user_ids": ["poison", "hal"], "fallback": "email"}))
        .await;
    smtp.wait_mails(2).await;
    db.wait_rows(&rows_sql("notifications", "hal"), |r| {
        r.len() == 1 && r[0][3] == "sent"
    })
    .await;
    wait_backlog(&app, "the backlog never emptied", |b| b <= 0.0).await;
    assert!(db.query(&rows_sql("notifications", "poison")).is_empty());
    assert!(metric(&app, "notify_notifications_db_rejected_total").await >= 1.0);
}

on_both_databases!(
    an_offline_users_email_becomes_a_sent_row_with_the_smtp_answer,
    a_5xx_answer_becomes_a_failed_row_with_the_error_message,
    a_4xx_then_success_shows_the_attempts,
    with_the_database_down_records_wait_in_redis_and_arrive_once_when_it_is_back,
    a_record_the_database_refuses_is_skipped_and_the_others_still_arrive,
);

/// Waits until the database writer's backlog (changes waiting in Redis) satisfies `done`.
async fn wait_backlog(app: &TestApp, what: &str, done: impl Fn(f64) -> bool) {
    eventually(what, || async {
        done(metric(app, "notify_notifications_db_backlog").await).then_some(())
    })
    .await;
}
