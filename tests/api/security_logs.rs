//! Hardening of the process itself (issue 13): logs that bad requests cannot flood or forge,
//! start-up errors that name their setting, secrets that are never printed and never weak.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use notify_relay::config::{LogFormat, Settings};
use serde_json::json;

use crate::helpers::{
    JWT_SECRET, PUBLISH_KEY, RedisServer, Relay, RelayProcess, SseClient, logged_run, now_secs,
    start_failure, token_with,
};

/// Runs the real binary with `RUST_LOG=level` and `--log-format text`, makes `requests`,
/// stops it and returns its log.
async fn run_logged(level: &str, requests: impl AsyncFnOnce(&Relay)) -> String {
    let text = |s: &mut Settings| s.log_format = LogFormat::Text;
    logged_run(None, text, &[("RUST_LOG", level)], requests).await
}

/// `n` requests with long paths and bad tokens, each a 4xx.
async fn bad_requests(relay: &Relay, n: usize) {
    let http = &relay.http;
    for i in 0..n {
        let res = http
            .get(relay.url(&format!("/{}/{i}", "x".repeat(900))))
            .bearer_auth("not-a-token")
            .send()
            .await
            .expect("request");
        assert!(res.status().is_client_error(), "{}", res.status());
        let res = http
            .get(relay.url(&format!("/{}", "p".repeat(8_000))))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status().as_u16(), 414);
        let body: serde_json::Value = res.json().await.expect("json 414");
        assert_eq!(body["error"], "path_too_long");
    }
}

#[tokio::test]
async fn bad_requests_write_nothing_at_the_default_level_and_little_at_debug() {
    let n = 100;
    let quiet = run_logged("info", async |relay: &Relay| bad_requests(relay, n).await).await;
    let baseline = run_logged("info", async |_: &Relay| {}).await;
    // At the default level, 200 refused requests add nothing to the log.
    assert!(
        quiet.len() <= baseline.len() + 200,
        "{} bytes of log for {} bad requests (baseline {}):\n{quiet}",
        quiet.len(),
        2 * n,
        baseline.len()
    );
    // At debug, every line carries a path cut short: bounded per request, whatever its size.
    let debug = run_logged("debug", async |relay: &Relay| bad_requests(relay, n).await).await;
    let longest = debug.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 1_000, "a {longest}-byte line");
    assert!(debug.len() < 2 * n * 2_000, "{} bytes", debug.len());
}

#[tokio::test]
async fn a_broker_outage_writes_a_bounded_number_of_failure_lines_however_many_requests_fail() {
    let mut redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("relay.log");
    let mut relay = RelayProcess::start_logged(
        Some(&redis.url()),
        |s| s.log_format = LogFormat::Text,
        &[("RUST_LOG", "info")],
        Some(&path),
    )
    .await;
    redis.kill();
    let http = reqwest::Client::new();
    let started = Instant::now();
    // Concurrently: during an outage each one waits for the broker's timeout.
    let n = 200;
    let publishes = (0..n).map(|i| {
        http.post(relay.url("/publish"))
            .bearer_auth(PUBLISH_KEY)
            .json(&json!({"user_id": 1, "n": i}))
            .send()
    });
    for res in futures_util::future::join_all(publishes).await {
        assert_eq!(res.expect("publish").status().as_u16(), 503);
    }
    let secs = started.elapsed().as_secs() + 1;
    relay.signal("TERM");
    assert!(relay.wait_exit(Duration::from_secs(10)).await);
    let log = std::fs::read_to_string(&path).expect("log");
    let lines = log.lines().filter(|l| l.contains("request failed")).count();
    // Each failed request used to write two lines; now at most 20 per wall-clock second, in
    // all. The budget counts calendar seconds, so a run shorter than `secs` may touch one more.
    assert!(lines >= 1, "{log}");
    assert!(
        lines as u64 <= 20 * (secs + 1),
        "{lines} lines in {secs} s for {n} requests"
    );
}

#[tokio::test]
async fn a_user_id_cannot_forge_fields_in_text_logs() {
    let sub = "victim resume=false request_id=forged user=admin";
    let log = run_logged("info", async |relay: &Relay| {
        let t = token_with(json!({"sub": sub, "exp": now_secs() + 60}), JWT_SECRET);
        let res = relay
            .http
            .get(relay.url("/events"))
            .bearer_auth(t)
            .send()
            .await
            .expect("events");
        assert_eq!(res.status().as_u16(), 200);
        let mut sse = SseClient::new(res);
        sse.next_frame().await.expect("opening frame");
    })
    .await;
    let line = log
        .lines()
        .find(|l| l.contains("sse stream opened"))
        .unwrap_or_else(|| panic!("no open line:\n{log}"));
    let quoted = format!("user={sub:?}");
    assert!(line.contains(&quoted), "{line}");
    // Outside the one quoted value, nothing of it is left to read as fields.
    let rest = line.replace(&quoted, "");
    assert!(
        !rest.contains("admin") && !rest.contains("forged"),
        "{line}"
    );
}

/// Runs the binary from the defaults (not the test settings, whose flags would win over `envs`
/// and bring secrets of their own) adjusted by `tweak`, expecting it to refuse to start;
/// returns what it printed.
async fn refused(tweak: impl FnOnce(&mut Settings), envs: &[(&str, &str)]) -> String {
    let from_defaults = |s: &mut Settings| {
        *s = Settings {
            listen: s.listen,
            ..Settings::defaults()
        };
        tweak(s);
    };
    let (code, out) = start_failure(None, None, from_defaults, envs).await;
    assert_ne!(code, Some(0), "{envs:?}");
    out
}

#[tokio::test]
async fn every_bad_start_up_value_names_its_flag_and_environment_variable() {
    let err = refused(|_| {}, &[("NOTIFY_REDIS_URL", "not-a-url")]).await;
    assert!(
        err.contains("--redis-url") && err.contains("NOTIFY_REDIS_URL"),
        "{err}"
    );
    assert!(err.contains("redis://"), "says what is expected: {err}");
    for (env, flag, value) in [
        ("NOTIFY_KEEPALIVE_SECS", "--keepalive-secs", "0"),
        ("NOTIFY_POLL_TIMEOUT_SECS", "--poll-timeout-secs", "forever"),
        (
            "NOTIFY_EMAIL_LINK_BASE",
            "--email-link-base",
            "app.example.com",
        ),
        ("NOTIFY_TRUSTED_PROXIES", "--trusted-proxies", "a-proxy"),
    ] {
        let err = refused(|_| {}, &[(env, value)]).await;
        assert!(
            err.contains(flag) && err.contains(env),
            "{env}={value}: {err}"
        );
    }
}

#[tokio::test]
async fn secrets_are_never_printed_by_help_and_example_or_shared_secrets_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_notify-relay"))
        .arg("--help")
        .env("NOTIFY_REDIS_URL", "redis://:hunter2-redis@127.0.0.1:6379")
        .env("NOTIFY_JWT_SECRET", "hunter2-jwt")
        .env("NOTIFY_SMTP_PASSWORD", "hunter2-smtp")
        .env("NOTIFY_METRICS_KEY", "hunter2-metrics")
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("NOTIFY_REDIS_URL"), "{help}");
    assert!(!help.contains("hunter2"), "{help}");

    let err = refused(|_| {}, &[("NOTIFY_JWT_SECRET", "change-me")]).await;
    assert!(
        err.contains("NOTIFY_JWT_SECRET") && err.contains("change-me"),
        "{err}"
    );
    let same = "the-same-secret-for-both-0123456789";
    let same_for_both = |s: &mut Settings| {
        s.jwt_secret = Some(same.parse().expect("secret"));
        s.publish_key = Some(same.parse().expect("key"));
    };
    let err = refused(same_for_both, &[]).await;
    assert!(
        err.contains("--jwt-secret") && err.contains("--publish-key"),
        "{err}"
    );
    assert!(!err.contains(same), "{err}");
}

#[tokio::test]
async fn a_short_secret_is_warned_about_loudly_but_runs() {
    // The test secrets are short on purpose: the relay starts, and says why it should not.
    assert!(JWT_SECRET.len() < 32 && PUBLISH_KEY.len() < 32);
    let log = run_logged("warn", async |_: &Relay| {}).await;
    let warned = |name: &str| {
        log.lines()
            .any(|l| l.contains("INSECURE") && l.contains(name))
    };
    assert!(
        warned("NOTIFY_JWT_SECRET") && warned("NOTIFY_PUBLISH_KEY"),
        "{log}"
    );
    assert!(
        !log.contains(JWT_SECRET) && !log.contains(PUBLISH_KEY),
        "{log}"
    );
}
