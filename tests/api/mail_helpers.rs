//! Harness for the email tests: a real SMTP server (tests/support/smtp_server.py, aiosmtpd in
//! the repo's .venv) on a free port, and helpers to read the relay's notification log.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use notify_relay::config::{Settings, SmtpTls};
use serde_json::{Value, json};

use crate::helpers::{
    PUBLISH_KEY, Relay, WAIT, eventually, eventually_ok, eventually_ok_within, free_port,
    kill_child,
};

/// A message the SMTP server accepted, decoded by the server.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub notification_id: String,
}

/// The test SMTP server; killed when dropped.
pub struct SmtpServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run ./test.sh, which creates .venv from requirements-test.txt",
        venv.display()
    );
    venv
}

impl SmtpServer {
    /// Starts the server in `accept` mode and waits until it answers.
    pub async fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        server.restart().await;
        server
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Starts (again) on the same port, keeping the stored mail.
    pub async fn restart(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
        let child = Command::new(python())
            .arg(script)
            .arg(self.port.to_string())
            .arg(self.maildir())
            .arg(self.dir.path().join("mode"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python smtp server");
        self.child = Some(child);
        let port = self.port;
        eventually("the SMTP server did not start", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(drop)
        })
        .await;
    }

    /// Kills the server: connections to its port are refused until [`Self::restart`].
    pub fn kill(&mut self) {
        kill_child(&mut self.child);
    }

    /// How the server answers the next messages: `accept`, `tempfail` (451) or `permfail` (550).
    pub fn set_mode(&self, mode: &str) {
        std::fs::write(self.dir.path().join("mode"), mode).expect("mode file");
    }

    /// Every message accepted so far, in order.
    pub fn mails(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(self.maildir()) else {
            return Vec::new();
        };
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| {
                let v: Value =
                    serde_json::from_slice(&std::fs::read(p).expect("mail")).expect("mail json");
                Mail {
                    to: serde_json::from_value(v["rcpt_tos"].clone()).expect("rcpt"),
                    subject: v["subject"].as_str().unwrap_or_default().to_owned(),
                    text: v["text"].as_str().unwrap_or_default().to_owned(),
                    html: v["html"].as_str().unwrap_or_default().to_owned(),
                    notification_id: v["headers"]["X-Notification-Id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages were accepted; returns them all.
    pub async fn wait_mails(&self, n: usize) -> Vec<Mail> {
        self.wait_mails_within(n, WAIT).await
    }

    /// [`Self::wait_mails`] with a longer limit, for mail that first needs Redis to recover.
    pub async fn wait_mails_within(&self, n: usize, limit: std::time::Duration) -> Vec<Mail> {
        eventually_ok_within(limit, format!("expected {n} mails"), || async {
            let mails = self.mails();
            if mails.len() >= n {
                Ok(mails)
            } else {
                Err(format!("got {}", mails.len()))
            }
        })
        .await
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Email settings for an in-process relay: the mail worker on, short grace and digest windows,
/// quick retries, plain SMTP to the test server.
pub fn email_settings(s: &mut Settings, smtp: &SmtpServer) {
    s.mailer = true;
    s.email_grace_secs = 1;
    s.email_digest_secs = 1;
    s.email_link_base = Some("https://app.example.com".into());
    s.smtp_host = "127.0.0.1".into();
    s.smtp_port = Some(smtp.port);
    s.smtp_tls = SmtpTls::None;
    s.smtp_timeout_secs = 5;
    s.email_retry_ms = 100;
    s.email_retry_max_ms = 300;
}

/// Email settings for relay processes: as [`email_settings`], with the 2 s grace window the
/// multi-process tests count on (a relay process takes longer to start than one in the test's).
pub fn email_process_settings(s: &mut Settings, smtp: &SmtpServer) {
    email_settings(s, smtp);
    s.email_grace_secs = 2;
}

/// `PUT /users/{user}/contact` on any relay; returns the response.
pub async fn put_contact(relay: &Relay, user: &str, body: Value) -> reqwest::Response {
    relay
        .http
        .put(relay.url(&format!("/users/{user}/contact")))
        .bearer_auth(PUBLISH_KEY)
        .json(&body)
        .send()
        .await
        .expect("contact request")
}

/// Registers `user`'s address with email fallback on.
pub async fn register(relay: &Relay, user: &str) {
    let email = format!("{user}@example.com");
    let res = put_contact(
        relay,
        user,
        json!({ "email": email, "email_fallback": true }),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
}

/// `GET /notifications` with a query string; returns the records.
pub async fn notifications(relay: &Relay, query: &str) -> Vec<Value> {
    let res = relay
        .http
        .get(relay.url(&format!("/notifications?{query}")))
        .bearer_auth(PUBLISH_KEY)
        .send()
        .await
        .expect("notifications");
    assert_eq!(res.status().as_u16(), 200);
    let v: Value = res.json().await.expect("json");
    v["notifications"].as_array().cloned().expect("array")
}

/// Waits until the log has a record for `user` matching `done`; returns it.
pub async fn wait_record(relay: &Relay, user: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually_ok(format!("no matching log record for {user}"), || async {
        let records = notifications(relay, &format!("user={user}")).await;
        match records.iter().find(|r| done(r)) {
            Some(r) => Ok(r.clone()),
            None => Err(format!("{records:?}")),
        }
    })
    .await
}

/// Members of a Redis sorted set of the relay's layout (`test:{0}:<name>`).
pub async fn zcard(redis: &crate::helpers::RedisServer, name: &str) -> i64 {
    let mut c = redis.connection().await;
    redis::cmd("ZCARD")
        .arg(format!("test:{{0}}:{name}"))
        .query_async(&mut c)
        .await
        .expect("zcard")
}

/// Makes the SMTP server refuse for now (451), registers `kim` and publishes one email-fallback
/// event for her, then waits until a worker has failed it once: that worker now holds the mail
/// while it waits to retry.
pub async fn a_mail_held_for_retry(relay: &Relay, smtp: &SmtpServer) {
    smtp.set_mode("tempfail");
    register(relay, "kim").await;
    relay
        .publish_ok(json!({"user_id": "kim", "fallback": "email", "img_url": "/k.jpg"}))
        .await;
    wait_record(relay, "kim", |r| r["error_message"].is_string()).await;
}
