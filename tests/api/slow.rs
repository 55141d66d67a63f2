//! Slow and vanished clients: bounded queues, bounded memory, prompt clean-up, full catch-up.

use std::time::Duration;

use serde_json::json;
use tokio::{io::AsyncWriteExt, net::TcpSocket};

use crate::{
    helpers::{Backend, RedisServer, RelayProcess, TestApp, sample, token},
    on_both_brokers,
};

on_both_brokers!(
    a_client_that_stops_reading_is_dropped_and_later_catches_up_from_history,
    a_client_that_vanishes_is_freed_promptly,
);

/// Opens `/events` on a socket with a tiny receive buffer and never reads it.
async fn stuck_client(base: &str, user: &str) -> tokio::net::TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr = base.trim_start_matches("http://").parse().unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let req = format!(
        "GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        token(user)
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    stream
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn a_client_that_stops_reading_is_dropped_and_later_catches_up_from_history(
    backend: Backend,
) {
    let events = 1500;
    let app = TestApp::spawn_with(backend, |s| {
        s.queue_len = 16;
        s.history_len = events;
        s.keepalive_secs = 3600;
    })
    .await;
    let start = app.cursor_now("slow").await;
    let _stuck = stuck_client(&app.base, "slow").await;
    app.wait_connections(1).await;
    let blob = "x".repeat(16 * 1024);
    for n in 0..events {
        app.publish_ok(json!({"user_id": "slow", "n": n, "blob": blob}))
            .await;
    }
    // 24 MB were published to a client that reads nothing: the relay let go of it.
    app.wait_connections(0).await;
    let metrics = app.scrape().await;
    assert_eq!(
        sample(&metrics, "notify_slow_client_disconnects_total"),
        1.0,
        "{metrics}"
    );
    let mut back = app.sse_from("slow", Some(&start)).await;
    for n in 0..events {
        assert_eq!(
            back.next_event().await.data["n"],
            n,
            "catches up on everything in history"
        );
    }
}

async fn a_client_that_vanishes_is_freed_promptly(backend: Backend) {
    // No keepalive would reveal the dead peer: the relay must notice the closed socket itself.
    let app = TestApp::spawn_with(backend, |s| s.keepalive_secs = 3600).await;
    let sse = app.sse("gone").await;
    app.wait_connections(1).await;
    drop(sse);
    tokio::time::timeout(Duration::from_secs(5), app.wait_connections(0))
        .await
        .expect("freed within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_client_does_not_make_the_relay_buffer_the_flood() {
    let redis = RedisServer::start().await;
    let relay = RelayProcess::start(
        Some(&redis.url()),
        // The recent-event cache keeps up to --cache-bytes of the flood on purpose; kept small
        // here so that growth beyond it can only be buffering for the stuck client.
        |s| {
            s.queue_len = 16;
            s.keepalive_secs = 3600;
            s.cache_bytes = 4_194_304;
        },
    )
    .await;
    let _stuck = stuck_client(&relay.base, "slow").await;
    relay.wait_connections(1).await;
    let before = rss_kib(relay.pid());
    let blob = "x".repeat(16 * 1024);
    let flood_mib = 48;
    for n in 0..flood_mib * 64 {
        relay
            .publish_ok(json!({"user_id": "slow", "n": n, "blob": blob}))
            .await;
    }
    relay.wait_connections(0).await;
    let grown_mib = rss_kib(relay.pid()).saturating_sub(before) / 1024;
    eprintln!("relay RSS grew by {grown_mib} MiB while {flood_mib} MiB flowed to a stuck client");
    assert!(
        grown_mib < flood_mib as u64 / 2,
        "relay grew by {grown_mib} MiB: it buffered the flood"
    );
}
