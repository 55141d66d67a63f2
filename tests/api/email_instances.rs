//! The mail path across processes: the bridge lease holder dies with due entries, a mail worker
//! dies holding a mail. Nothing is lost and nothing is sent twice.

use std::collections::HashSet;

use notify_relay::config::Settings;
use serde_json::json;

use crate::{
    helpers::{MailerProcess, RedisServer, RelayProcess, start_failure},
    mail_helpers::{
        SmtpServer, a_mail_held_for_retry, email_process_settings, notifications, register,
        wait_record, zcard,
    },
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_lease_holder_is_killed_another_relay_moves_the_due_entries_and_no_email_is_sent_twice()
 {
    let redis = RedisServer::start().await;
    let smtp = SmtpServer::start().await;
    let settings = |s: &mut Settings| {
        email_process_settings(s, &smtp);
        s.bridge_lease_ms = 1500;
    };
    let mut relays = vec![
        RelayProcess::start(Some(&redis.url()), settings).await,
        RelayProcess::start(Some(&redis.url()), settings).await,
    ];
    let holder = crate::instances::wait_single_holder(&relays).await;
    let survivor = 1 - holder;
    let users = ["u1", "u2", "u3", "u4", "u5"];
    for user in users {
        register(&relays[survivor], user).await;
        relays[holder]
            .publish_ok(
                json!({"user_id": user, "fallback": "email", "img_url": format!("/{user}.jpg")}),
            )
            .await;
    }
    // The grace period (2 s) has not ended: the entries are due, not moved yet.
    assert_eq!(zcard(&redis, "due").await, users.len() as i64);
    relays[holder].kill();
    let mails = smtp.wait_mails(users.len()).await;
    let to: HashSet<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(to.len(), users.len(), "one email per user: {to:?}");
    for user in users {
        wait_record(&relays[survivor], user, |r| r["status"] == "sent").await;
    }
    assert_eq!(zcard(&redis, "due").await, 0);
    assert_eq!(zcard(&redis, "digests").await, 0);
    assert_eq!(
        notifications(&relays[survivor], "").await.len(),
        users.len()
    );
    assert_eq!(smtp.mails().len(), users.len(), "no email was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_left_pending_by_a_killed_worker_is_reclaimed_and_sent_by_another() {
    let redis = RedisServer::start().await;
    let smtp = SmtpServer::start().await;
    let relay = RelayProcess::start(Some(&redis.url()), |s| {
        email_process_settings(s, &smtp);
        s.mailer = false;
    })
    .await;
    let reclaim = |s: &mut Settings| {
        email_process_settings(s, &smtp);
        s.email_reclaim_secs = 1;
        s.email_max_attempts = 50;
    };
    // The first worker waits at least 2.5 s after a failure before retrying, so it can be
    // killed between attempts (killed mid-conversation, the server might still accept the
    // mail it was sent: the documented duplicate window, not what this test is about).
    let mut first = MailerProcess::start(&redis.url(), |s| {
        reclaim(s);
        s.email_retry_ms = 5000;
        s.email_retry_max_ms = 5000;
    });
    // The first worker took the mail, failed once, and holds it while waiting to retry.
    a_mail_held_for_retry(&relay, &smtp).await;
    first.kill();
    smtp.set_mode("accept");
    let _second = MailerProcess::start(&redis.url(), reclaim);
    let mails = smtp.wait_mails(1).await;
    assert_eq!(mails[0].to, ["kim@example.com"]);
    let sent = wait_record(&relay, "kim", |r| r["status"] == "sent").await;
    assert_eq!(sent["attempts"], 2, "{sent}");
    assert_eq!(smtp.mails().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailer_subcommand_refuses_to_start_without_redis() {
    let (code, err) = start_failure(Some("mailer"), None, |_| {}, &[]).await;
    assert_eq!(code, Some(2));
    assert!(err.contains("--redis-url"), "{err}");
}
