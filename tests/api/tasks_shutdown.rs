//! Every background task ends on shutdown: the relay's and the mail worker's, each named in the
//! log as it ends, none aborted, exit code 0; and in process, none left running after `stop`.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use notify_relay::config::{LogFormat, Settings};
use serde_json::{Value, json};

use crate::{
    admin_helpers::ADMIN_KEY,
    helpers::{Backend, MailerProcess, RedisServer, RelayProcess, TestApp, eventually},
    mail_helpers::{
        SmtpServer, a_mail_held_for_retry, email_process_settings, register, wait_record,
    },
    sql_helpers::{Database, Kind},
};

/// The relay's tasks with everything on: redis broker (one partition), stream ingest, email with
/// the in-process mailer and the SQL table, the admin routes.
const RELAY_TASKS: [&str; 14] = [
    "admin-sampler",
    "auth-failure-cleanup",
    "bridge",
    "delivery-reports",
    "email-mover",
    "hub-deadlines",
    "hub-keepalive",
    "mailer",
    "notifications-db-writer",
    "presence",
    "rate-limit-cleanup",
    "tail-0",
    "trace-sync",
    "trace-writer",
];

/// `notify-relay mailer`'s tasks (no Sentinel, so no failover follower).
const MAILER_TASKS: [&str; 3] = ["mailer", "trace-sync", "trace-writer"];

/// Debug lines of the task owner, in JSON, to parse reliably.
const LOG_ENV: (&str, &str) = ("RUST_LOG", "info,notify_relay::tasks=debug");

/// Asserts from a JSON log that exactly `expected` tasks ended, none was aborted, and the
/// closing line counts them.
fn assert_every_task_ended(log: &str, expected: &[&str]) {
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let message = |l: &Value| l["fields"]["message"].as_str().unwrap_or("").to_owned();
    let mut ended: Vec<String> = lines
        .iter()
        .filter(|l| message(l) == "background task ended")
        .map(|l| l["fields"]["task"].as_str().unwrap_or("?").to_owned())
        .collect();
    ended.sort();
    let aborted: Vec<&Value> = lines
        .iter()
        .filter(|l| message(l).contains("did not end in time") || message(l).contains("panicked"))
        .collect();
    assert!(aborted.is_empty(), "tasks did not end: {aborted:?}");
    assert_eq!(ended, expected, "every task ended once, by name");
    let summary = lines
        .iter()
        .find(|l| message(l) == "background tasks stopped")
        .unwrap_or_else(|| panic!("no closing line in:\n{log}"));
    assert_eq!(summary["fields"]["ended"], expected.len(), "{summary}");
    assert_eq!(summary["fields"]["aborted"], 0, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_every_task_of_the_relay_ends_by_name_and_it_exits_0() {
    let redis = RedisServer::start().await;
    let smtp = SmtpServer::start().await;
    let db = Database::start(Kind::Postgres).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("relay.log");
    let everything = |s: &mut Settings| {
        email_process_settings(s, &smtp);
        s.admin_key = Some(ADMIN_KEY.parse().expect("key"));
        s.notifications_db = Some(db.url().parse().expect("url"));
        s.log_format = LogFormat::Json;
    };
    let mut relay =
        RelayProcess::start_logged(Some(&redis.url()), everything, &[LOG_ENV], Some(&log)).await;
    // Work for the loops that hold some: a live stream, and an email sent and written to SQL.
    let mut sse = relay.sse("1").await;
    let live = relay.publish_ok(json!({"user_id": 1})).await;
    assert_eq!(sse.next_event().await.id, live);
    register(&relay, "kim").await;
    relay
        .publish_ok(json!({"user_id": "kim", "fallback": "email", "img_url": "/k.jpg"}))
        .await;
    smtp.wait_mails(1).await;
    wait_record(&relay, "kim", |r| r["status"] == "sent").await;
    relay.signal("TERM");
    while sse.next_frame().await.is_some() {}
    assert!(
        relay.wait_exit(Duration::from_secs(15)).await,
        "the relay exited"
    );
    assert_eq!(relay.exit_code(), Some(0));
    let log = std::fs::read_to_string(&log).expect("log");
    assert_every_task_ended(&log, &RELAY_TASKS);
}

/// Starts `notify-relay mailer` with email settings for `smtp`, adjusted by `tweak`, logging to
/// `log`, and waits until its worker runs.
async fn start_mailer(
    redis: &RedisServer,
    smtp: &SmtpServer,
    tweak: impl FnOnce(&mut Settings),
    log: &Path,
) -> MailerProcess {
    let worker = MailerProcess::start_logged(
        &redis.url(),
        |s| {
            email_process_settings(s, smtp);
            s.log_format = LogFormat::Json;
            tweak(s);
        },
        &[LOG_ENV],
        Some(log),
    );
    eventually("the mail worker never started", || async {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.contains("mail worker started").then_some(())
    })
    .await;
    worker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_the_mail_worker_stops_waiting_to_retry_ends_its_tasks_and_exits_0() {
    let redis = RedisServer::start().await;
    let smtp = SmtpServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProcess::start(Some(&redis.url()), |s| {
        email_process_settings(s, &smtp);
        s.mailer = false;
    })
    .await;
    let reclaim = |s: &mut Settings| {
        s.email_reclaim_secs = 1;
        s.email_max_attempts = 50;
    };
    let first_log = dir.path().join("first.log");
    let mut first = start_mailer(
        &redis,
        &smtp,
        |s| {
            reclaim(s);
            s.email_retry_ms = 5_000;
            s.email_retry_max_ms = 5_000;
        },
        &first_log,
    )
    .await;
    // The worker failed once and waits 5 s to retry: the signal ends that wait.
    a_mail_held_for_retry(&relay, &smtp).await;
    let signalled = Instant::now();
    first.signal("TERM");
    let status = eventually("the mail worker did not exit", || {
        let exited = first.try_exit();
        async move { exited }
    })
    .await;
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "it did not wait for its retry: {:?}",
        signalled.elapsed()
    );
    assert_eq!(status.code(), Some(0));
    let log = std::fs::read_to_string(&first_log).expect("log");
    assert_every_task_ended(&log, &MAILER_TASKS);
    // The email it left pending is sent once, by the next worker.
    smtp.set_mode("accept");
    let _second = start_mailer(&redis, &smtp, reclaim, &dir.path().join("second.log")).await;
    let mails = smtp.wait_mails(1).await;
    assert_eq!(mails[0].to, ["kim@example.com"]);
    let sent = wait_record(&relay, "kim", |r| r["status"] == "sent").await;
    assert_eq!(sent["attempts"], 2, "{sent}");
    assert_eq!(smtp.mails().len(), 1, "sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_in_process_leaves_no_task_running() {
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        s.admin_key = Some(ADMIN_KEY.parse().expect("key"));
        s.mailer = true;
    })
    .await;
    let running = app.stopper.running_tasks();
    assert_eq!(
        running,
        RELAY_TASKS.len() - 1,
        "the loops run (all but the SQL writer)"
    );
    let joined = app.stopper.stop().await;
    assert_eq!(joined.ended, running);
    assert!(joined.aborted.is_empty(), "{joined:?}");
    assert_eq!(app.stopper.running_tasks(), 0);
}

/// The `.rs` files under `dir`, recursively.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("dir").filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_code_outside_the_task_owner_spawns_a_task_of_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut spawning = Vec::new();
    for file in files {
        // The owner itself, and unit-test files, which may spawn what they await.
        if file.ends_with("tasks.rs") || file.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("source");
        let code = text
            .find("#[cfg(test)]\nmod tests {")
            .map_or(text.as_str(), |at| &text[..at]);
        if code.contains("tokio::spawn") || code.contains("task::spawn") {
            spawning.push(file.display().to_string());
        }
    }
    assert!(
        spawning.is_empty(),
        "spawn through tasks::Tasks instead: {spawning:?}"
    );
}
