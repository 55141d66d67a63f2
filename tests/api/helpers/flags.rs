//! [`Settings`] as the binary's command line, so a test describes a relay process the same way
//! as an in-process one: test settings adjusted by a closure.

use clap::{Parser, ValueEnum};
use notify_relay::config::Settings;

/// The flags that start the binary with `s`: one per setting that differs from the defaults.
/// Panics if the flags would not give back `s` (a setting this list does not know yet).
pub fn flags(s: &Settings) -> Vec<String> {
    let d = Settings::defaults();
    let mut out = Vec::new();
    let mut put = |field: &str, value: String| {
        out.push(format!("--{}={value}", field.replace('_', "-")));
    };
    // Displayed as is: numbers, addresses, strings.
    macro_rules! plain {
        ($($f:ident),* $(,)?) => {$(
            if s.$f != d.$f { put(stringify!($f), s.$f.to_string()); }
        )*};
    }
    // Unset options take the default (which is unset for all of these).
    macro_rules! optional {
        ($($f:ident),* $(,)?) => {$(
            if s.$f != d.$f && let Some(v) = &s.$f { put(stringify!($f), v.to_string()); }
        )*};
    }
    macro_rules! path {
        ($($f:ident),* $(,)?) => {$(
            if s.$f != d.$f && let Some(v) = &s.$f { put(stringify!($f), v.display().to_string()); }
        )*};
    }
    macro_rules! secret {
        ($($f:ident),* $(,)?) => {$(
            if s.$f != d.$f && let Some(v) = &s.$f { put(stringify!($f), v.expose().to_owned()); }
        )*};
    }
    macro_rules! list {
        ($($f:ident),* $(,)?) => {$(
            if s.$f != d.$f {
                let items: Vec<String> = s.$f.iter().map(ToString::to_string).collect();
                put(stringify!($f), items.join(","));
            }
        )*};
    }
    macro_rules! choice {
        ($($f:ident),* $(,)?) => {$(
            if s.$f != d.$f {
                let v = s.$f.to_possible_value().expect("a named choice");
                put(stringify!($f), v.get_name().to_owned());
            }
        )*};
    }
    plain!(
        listen,
        redis_prefix,
        bridge_lease_ms,
        write_timeout_secs,
        keepalive_secs,
        poll_timeout_secs,
        history_len,
        history_ttl_secs,
        log_len,
        append_batch,
        max_payload_bytes,
        max_recipients,
        max_connections_per_user,
        max_connections,
        queue_len,
        poll_batch,
        retry_ms,
        http_keepalive_secs,
        max_stream_secs,
        connects_per_sec,
        publishes_per_sec,
        max_header_bytes,
        max_query_bytes,
        email_grace_secs,
        email_digest_secs,
        email_max_attempts,
        email_retry_ms,
        email_retry_max_ms,
        email_reclaim_secs,
        email_from,
        smtp_host,
        smtp_timeout_secs,
        notification_log_secs,
        notification_log_max,
        auth_failures_per_min,
        max_path_bytes,
        notifications_table,
        redis_wait_replicas,
        redis_wait_ms,
        redis_master_name,
        redis_partitions,
        idempotency_ttl_secs,
        ingest_group,
        ingest_claim_secs,
        max_topic_recipients,
        max_connections_per_address,
        cache_bytes,
        drain_secs,
    );
    optional!(
        workers,
        jwt_max_lifetime_secs,
        smtp_port,
        email_link_base,
        smtp_user,
        jwt_issuer,
        jwt_audience,
        redis_username,
        ingest_stream,
    );
    path!(
        email_templates,
        redis_ca_file,
        redis_client_cert,
        redis_client_key
    );
    secret!(
        redis_url,
        jwt_secret,
        publish_key,
        smtp_url,
        smtp_password,
        metrics_key,
        notifications_db,
        redis_password,
        admin_key,
    );
    list!(
        channels,
        cors_origins,
        email_fallback_channels,
        redis_sentinels,
        redis_cluster,
        trusted_proxies,
    );
    choice!(log_format, smtp_tls);
    if s.mailer && !d.mailer {
        out.push("--mailer".into());
    }
    let back =
        Settings::try_parse_from(std::iter::once("notify-relay".to_owned()).chain(out.clone()))
            .unwrap_or_else(|e| panic!("flags {out:?} do not parse: {e}"));
    assert_eq!(
        format!("{back:?}"),
        format!("{s:?}"),
        "flags {out:?} do not describe these settings: teach helpers::flags the missing one"
    );
    out
}
