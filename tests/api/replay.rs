//! SSE replay is streamed in batches (issue 13, item 16): a client resuming from far back gets
//! its first events while the rest of its history is still being read, never the whole backlog
//! gathered into one piece first; and it still gets every event once, in order.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use crate::{
    helpers::{Backend, TestApp, WAIT, token},
    on_both_brokers,
};

/// Events read from history per batch by the relay (`REPLAY_BATCH` in routes/events/body.rs).
const BATCH: usize = 500;

/// Reads one HTTP/1.1 chunk of a chunked body (its payload; empty for the last chunk).
async fn next_chunk(body: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut size = String::new();
    body.read_line(&mut size).await.expect("chunk size line");
    let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
    let mut chunk = vec![0; size + 2];
    body.read_exact(&mut chunk).await.expect("chunk");
    chunk.truncate(size);
    chunk
}

on_both_brokers!(a_long_replay_is_written_in_batches_with_every_event_once_in_order);

async fn a_long_replay_is_written_in_batches_with_every_event_once_in_order(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.history_len = 2_000).await;
    let start = app.cursor_now("deep").await;
    let total = 2 * BATCH + 100;
    let mut ids = Vec::new();
    for wave in 0..total / 50 {
        let posts = (0..50).map(|n| app.publish_ok(json!({"user_id": "deep", "n": wave * 50 + n})));
        ids.extend(join_all(posts).await);
    }
    ids.sort_by_key(|id| {
        let (ms, seq) = id.split_once('-').expect("id");
        (
            ms.parse::<u64>().expect("ms"),
            seq.parse::<u64>().expect("seq"),
        )
    });

    // A raw HTTP/1.1 client, so the test sees the body's chunks as the relay wrote them.
    let addr = app.base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nLast-Event-ID: {start}\r\n\r\n",
        token("deep")
    );
    tcp.write_all(request.as_bytes()).await.expect("request");
    let mut body = BufReader::new(tcp);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        body.read_line(&mut line).await.expect("head");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");

    let mut got = Vec::new();
    let mut chunks_with_events = 0;
    tokio::time::timeout(WAIT, async {
        while got.len() < total {
            let chunk = String::from_utf8(next_chunk(&mut body).await).expect("utf-8");
            assert!(
                !chunk.is_empty(),
                "the stream ended after {} events",
                got.len()
            );
            let in_chunk: Vec<String> = chunk
                .lines()
                .filter_map(|l| l.strip_prefix("id: "))
                .map(str::to_owned)
                .filter(|id| *id != start)
                .collect();
            assert!(
                in_chunk.len() <= BATCH,
                "one piece held {} events: the backlog was gathered before writing",
                in_chunk.len()
            );
            chunks_with_events += usize::from(!in_chunk.is_empty());
            got.extend(in_chunk);
        }
    })
    .await
    .expect("the whole replay in time");
    assert_eq!(got, ids, "every event once, in order");
    assert!(chunks_with_events >= 3, "{chunks_with_events} pieces");

    // After the replay the stream is live, and nothing replayed comes again.
    let live = app
        .publish_ok(json!({"user_id": "deep", "n": "live"}))
        .await;
    let chunk = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let chunk = String::from_utf8(next_chunk(&mut body).await).expect("utf-8");
            if chunk.contains("id: ") {
                return chunk;
            }
        }
    })
    .await
    .expect("the live event");
    assert!(chunk.starts_with(&format!("id: {live}\n")), "{chunk}");
}
