//! Unit tests of the flags, their checks and their split into groups.

use clap::Parser;

use super::{check::is_link_base, *};

#[test]
fn a_bad_value_names_the_setting() {
    let err = Settings::try_parse_from(["notify-relay", "--keepalive-secs", "0"]).unwrap_err();
    assert!(err.to_string().contains("--keepalive-secs"), "{err}");
    let err = Settings::try_parse_from(["notify-relay", "--listen", "nope"]).unwrap_err();
    assert!(err.to_string().contains("--listen"), "{err}");
}

#[test]
fn demo_mode_refuses_a_public_address() {
    let s = Settings::try_parse_from(["notify-relay", "--listen", "0.0.0.0:8080"]).unwrap();
    let err = s.validate().unwrap_err().to_string();
    assert!(err.contains("NOTIFY_JWT_SECRET"), "{err}");
    let s = Settings::try_parse_from([
        "notify-relay",
        "--listen",
        "0.0.0.0:8080",
        "--jwt-secret",
        "s",
    ])
    .unwrap();
    assert!(s.validate().is_ok());
}

#[test]
fn cors_origins_must_be_bare_origins() {
    let with = |o: &str| {
        Settings::try_parse_from(["notify-relay", "--cors-origins", o])
            .unwrap()
            .validate()
    };
    assert!(with("https://app.example.com,http://localhost:3000").is_ok());
    assert!(with("").is_ok());
    for bad in [
        "*",
        "app.example.com",
        "https://app.example.com/",
        "ftp://x",
    ] {
        assert!(
            matches!(with(bad), Err(SettingsError::BadOrigin(_))),
            "{bad}"
        );
    }
}

#[test]
fn trusted_proxies_take_addresses_and_cidrs() {
    let s = Settings::try_parse_from([
        "notify-relay",
        "--trusted-proxies",
        "10.0.0.0/8, 127.0.0.1,::1",
    ])
    .unwrap();
    assert_eq!(s.trusted_proxies.len(), 3);
    assert!(Settings::try_parse_from(["notify-relay", "--trusted-proxies", "nope"]).is_err());
}

#[test]
fn secrets_never_print() {
    let s = Settings::try_parse_from([
        "notify-relay",
        "--jwt-secret",
        "hunter2",
        "--publish-key",
        "k3y",
        "--smtp-password",
        "m41l",
        "--smtp-url",
        "smtp://u:s3cr3t@mail:587",
        "--redis-url",
        "rediss://relay:r3d1s@cache:6380/0",
    ])
    .unwrap();
    let shown = format!("{s:?}");
    for secret in ["hunter2", "k3y", "m41l", "s3cr3t", "r3d1s"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn the_email_link_base_must_be_an_http_url() {
    for ok in [
        "https://app.example.com",
        "https://app.example.com/",
        "https://app.example.com/sub/",
        "http://localhost:3000",
    ] {
        assert!(is_link_base(ok), "{ok}");
    }
    for bad in [
        "app.example.com",
        "javascript:x",
        "https://",
        "https://a b/",
        "https://a/?x",
    ] {
        assert!(!is_link_base(bad), "{bad}");
    }
}

#[test]
fn the_notifications_db_is_a_secret_and_its_table_a_plain_identifier() {
    let s = Settings::try_parse_from([
        "notify-relay",
        "--notifications-db",
        "postgres://relay:pg-s3cr3t@db/app",
        "--notifications-table",
        "relay_log",
    ])
    .unwrap();
    assert!(s.validate().is_ok());
    assert_eq!(s.notifications_table, "relay_log");
    assert!(!format!("{s:?}").contains("pg-s3cr3t"));
    let s = Settings::try_parse_from([
        "notify-relay",
        "--notifications-db",
        "sqlite://u:pg-s3cr3t@x",
    ])
    .unwrap();
    let err = s.validate().unwrap_err().to_string();
    assert!(err.contains("NOTIFY_NOTIFICATIONS_DB"), "{err}");
    assert!(!err.contains("pg-s3cr3t"), "{err}");
    for bad in ["", "1st", "a-b", "x;drop", "n.t", &"a".repeat(41)] {
        let err = Settings::try_parse_from(["notify-relay", "--notifications-table", bad])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--notifications-table"), "{bad}: {err}");
    }
}

#[test]
fn stream_ingest_is_on_by_default_with_redis_and_off_without_unless_asked_for() {
    let mut s = Settings::defaults();
    assert_eq!(s.ingest_stream(), None);
    assert!(s.validate().is_ok(), "the memory broker starts as before");
    s.ingest_stream = Some("notify:ingest".into());
    let err = s.validate().unwrap_err().to_string();
    assert!(
        err.contains("NOTIFY_INGEST_STREAM") && err.contains("needs Redis"),
        "{err}"
    );
    s.redis_url = "redis://127.0.0.1".parse().ok();
    assert_eq!(s.ingest_stream(), Some("notify:ingest"));
    // Sentinels alone name a Redis too.
    s.redis_url = None;
    s.redis_sentinels = vec!["127.0.0.1:26379".into()];
    assert_eq!(s.ingest_stream(), Some("notify:ingest"));
    s.redis_sentinels.clear();
    s.redis_url = "redis://127.0.0.1".parse().ok();
    s.ingest_stream = Some(String::new());
    assert_eq!(s.ingest_stream(), None, "empty turns it off");
    s.ingest_stream = None;
    assert_eq!(s.ingest_stream(), Some(DEFAULT_INGEST_STREAM));
}

#[test]
fn the_split_gives_durations_counts_and_none_for_off() {
    let mut s = Settings::defaults();
    s.max_stream_secs = 0;
    s.connects_per_sec = 0;
    s.retry_ms = 1_500;
    s.bridge_lease_ms = 900;
    s.channels = vec![" a ".into(), "b".into()];
    let c = s.split();
    assert_eq!(c.sse.max_stream, None, "0: no limit");
    assert_eq!(c.sse.keepalive, std::time::Duration::from_secs(15));
    assert_eq!(c.sse.retry_ms, 1_500);
    assert!(c.limits.connects_per_sec.is_none());
    assert_eq!(c.limits.publishes_per_sec.map(|n| n.get()), Some(1_000));
    assert_eq!(c.parse.max_bytes, 65_536);
    assert_eq!(c.hub.total, c.admin.connections_limit);
    assert!(c.broker.store.is_none(), "no Redis: the memory broker");
    assert_eq!(c.broker.bridge.lease, std::time::Duration::from_millis(900));
    assert_eq!(c.broker.bridge.channels, ["a", "b"]);
    assert!(c.broker.bridge.stream.is_none());
}

#[test]
fn with_redis_the_split_names_the_store_and_the_stream() {
    let mut s = Settings::defaults();
    s.redis_sentinels = vec!["127.0.0.1:26379".into()];
    s.notifications_db = "postgres://u:p@db/app".parse().ok();
    let c = s.split();
    let store = c.broker.store.expect("a store");
    assert_eq!(store.url, "redis://sentinel-primary");
    let stream = c.broker.bridge.stream.expect("stream ingest on");
    assert_eq!(stream.stream, DEFAULT_INGEST_STREAM);
    assert_eq!(stream.limits.max_recipients, c.parse.max_recipients);
    assert!(c.email.outbox.sql && c.email.worker.sql_log);
    assert_eq!(
        c.email.db.map(|d| d.table).as_deref(),
        Some("notifications")
    );
}

#[test]
fn the_split_settings_print_no_secret() {
    let s = Settings::try_parse_from([
        "notify-relay",
        "--redis-url",
        "rediss://relay:url-password-1@redis.example:6380/0",
        "--redis-password",
        "redis-password-2",
        "--jwt-secret",
        "jwt-secret-3",
        "--publish-key",
        "publish-key-4",
        "--metrics-key",
        "metrics-key-5",
        "--admin-key",
        "admin-key-6",
        "--smtp-password",
        "smtp-password-7",
        "--notifications-db",
        "postgres://app:db-password-8@db.example/app",
    ])
    .unwrap();
    let shown = format!("{:?}", s.split());
    assert!(
        shown.contains("redis.example"),
        "the Redis host is shown: {shown}"
    );
    for secret in [
        "url-password-1",
        "redis-password-2",
        "jwt-secret-3",
        "publish-key-4",
        "metrics-key-5",
        "admin-key-6",
        "smtp-password-7",
        "db-password-8",
    ] {
        assert!(!shown.contains(secret), "{secret} printed in {shown}");
    }
}
