//! Subscriber tasks: one SSE stream, or one long-poll loop (relay or Nchan protocol).

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::body::Decoder;
use crate::cli::Mode;
use crate::conn::{KeepAlive, encode_query};
use crate::http::{self, Target};
use crate::sse;
use crate::stats::{ConnResult, Payload, Shared};
use crate::storm::Storm;

/// What every subscriber task shares.
pub struct SubCtx {
    /// Where to connect, with the path template.
    pub target: Target,
    /// Counters and histogram.
    pub shared: Arc<Shared>,
    /// Cancelled when the run ends.
    pub stop: CancellationToken,
    /// Subscriber protocol.
    pub mode: Mode,
    /// `timeout=` for relay polls.
    pub poll_timeout_secs: u64,
    /// Re-arm TCP_QUICKACK after each read (diagnostic).
    pub quickack: bool,
    /// The reconnect storm, if this run has one.
    pub storm: Option<Arc<Storm>>,
    /// Reopen a stream the server ended after this long (`--resume-ms`).
    pub resume: Option<std::time::Duration>,
}

/// One subscriber's identity.
pub struct Spec {
    /// Connection index (also picks the histogram shard).
    pub index: usize,
    /// User index (0-based).
    pub user: usize,
    /// Filled-in request path.
    pub path: String,
    /// Source address to bind, if spreading.
    pub src: Option<IpAddr>,
}

/// Runs one subscriber until `ctx.stop` is cancelled or the connection ends.
pub async fn run(ctx: Arc<SubCtx>, spec: Spec) -> ConnResult {
    let mut res = ConnResult {
        user: spec.user,
        ..ConnResult::default()
    };
    let outcome = tokio::select! {
        r = subscribe(&ctx, &spec, &mut res) => Some(r),
        _ = ctx.stop.cancelled() => None,
    };
    let sh = &ctx.shared;
    if let Some(r) = outcome {
        if let Err(e) = r {
            sh.error(format!(
                "{}: {e}",
                if res.connected { "stream" } else { "connect" }
            ));
        }
        if res.connected {
            res.dropped = true;
            sh.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
    if !res.connected {
        sh.failed.fetch_add(1, Ordering::Relaxed);
    }
    res
}

async fn subscribe(ctx: &SubCtx, spec: &Spec, res: &mut ConnResult) -> io::Result<()> {
    match ctx.mode {
        Mode::Sse => sse_stream(ctx, spec, res).await,
        Mode::RelayPoll => relay_poll(ctx, spec, res).await,
        Mode::NchanPoll => nchan_poll(ctx, spec, res).await,
    }
}

fn mark_connected(ctx: &SubCtx, res: &mut ConnResult) {
    if !res.connected {
        res.connected = true;
        ctx.shared.connected.fetch_add(1, Ordering::Relaxed);
    }
}

/// How one SSE connection ended.
enum Ended {
    /// The storm came: reconnect at once.
    Storm,
    /// The server ended the stream.
    ByServer,
}

async fn sse_stream(ctx: &SubCtx, spec: &Spec, res: &mut ConnResult) -> io::Result<()> {
    let mut parser = sse::Parser::new();
    let mut stormed = false;
    loop {
        let last = parser.last_id().to_owned();
        let resumed = stormed || !last.is_empty();
        let ended = sse_connection(ctx, spec, res, &mut parser, resumed, stormed).await;
        match ended {
            Ok(Ended::Storm) => stormed = true,
            Ok(Ended::ByServer) | Err(_) if res.connected && ctx.resume.is_some() => {
                ctx.shared.resumed();
                tokio::time::sleep(ctx.resume.unwrap_or_default()).await;
            }
            Ok(Ended::ByServer) => return Err(io::Error::other("stream ended")),
            Err(e) => return Err(e),
        }
        parser = sse::Parser::resuming(parser.last_id().to_owned());
    }
}

/// One SSE connection: sends `Last-Event-ID` when `resumed`, reads until it ends or the storm.
async fn sse_connection(
    ctx: &SubCtx,
    spec: &Spec,
    res: &mut ConnResult,
    parser: &mut sse::Parser,
    resumed: bool,
    after_storm: bool,
) -> io::Result<Ended> {
    let mut stream = http::connect(ctx.target.addr, spec.src).await?;
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n",
        spec.path, ctx.target.host
    );
    if resumed && !parser.last_id().is_empty() {
        req.push_str(&format!("Last-Event-ID: {}\r\n", parser.last_id()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let head = http::read_head(&mut stream, &mut buf).await?;
    if head.status != 200 {
        return Err(io::Error::other(format!("status {}", head.status)));
    }
    mark_connected(ctx, res);
    let storm = ctx.storm.as_deref();
    let mut catching_up = None;
    if after_storm && let Some(st) = storm {
        st.reconnected();
        catching_up = Some(st);
    }
    let mut dec = Decoder::new(head.framing());
    let sh = &ctx.shared;
    loop {
        let seqs = &mut res.seqs;
        let used = dec
            .feed(&buf, &mut |body| {
                parser.feed(body, &mut |ev| {
                    if let Some((seq, lat)) = sh.record_latency(spec.index, ev.data) {
                        seqs.push(seq);
                        if let Some(st) = storm {
                            st.record(lat);
                        }
                    }
                })
            })
            .map_err(io::Error::other)?;
        buf.drain(..used);
        if used > 0
            && let Some(st) = catching_up.take()
        {
            st.caught_up();
        }
        if parser.comments > 0 {
            sh.keepalives.fetch_add(parser.comments, Ordering::Relaxed);
            parser.comments = 0;
        }
        if dec.is_done() {
            return Ok(Ended::ByServer);
        }
        buf.clear();
        if ctx.quickack {
            http::quickack(&stream);
        }
        let read = match storm.filter(|_| !after_storm) {
            Some(st) => tokio::select! {
                r = http::read_more(&mut stream, &mut buf) => r?,
                () = st.trigger.cancelled() => return Ok(Ended::Storm),
            },
            None => http::read_more(&mut stream, &mut buf).await?,
        };
        if read == 0 {
            return Ok(Ended::ByServer);
        }
        if buf.capacity() > 8192 {
            buf.shrink_to(2048);
        }
    }
}

#[derive(Deserialize)]
struct PollAnswer {
    events: Vec<PollEvent>,
    cursor: String,
    #[serde(default)]
    reset: bool,
}

#[derive(Deserialize)]
struct PollEvent {
    data: Payload,
}

/// Upper bound on poll round trips per subscriber in one run.
const MAX_POLLS: u64 = 10_000_000;

async fn relay_poll(ctx: &SubCtx, spec: &Spec, res: &mut ConnResult) -> io::Result<()> {
    let mut conn = KeepAlive::new(ctx.target.clone(), spec.src);
    let sep = if spec.path.contains('?') { '&' } else { '?' };
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_POLLS {
        let path = match &cursor {
            None => spec.path.clone(),
            Some(c) => format!(
                "{}{sep}cursor={}&timeout={}",
                spec.path,
                encode_query(c),
                ctx.poll_timeout_secs
            ),
        };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n",
            conn.target().host
        );
        let (head, body) = conn.request(req.as_bytes()).await?;
        if head.status != 200 {
            return Err(io::Error::other(format!("poll status {}", head.status)));
        }
        let ans: PollAnswer = serde_json::from_slice(&body)
            .map_err(|e| io::Error::other(format!("bad poll answer: {e}")))?;
        mark_connected(ctx, res);
        if ans.reset {
            ctx.shared.resets.fetch_add(1, Ordering::Relaxed);
        }
        for ev in &ans.events {
            ctx.shared.record_payload(spec.index, &ev.data);
            res.seqs.push(ev.data.seq);
        }
        cursor = Some(ans.cursor);
    }
    Ok(())
}

async fn nchan_poll(ctx: &SubCtx, spec: &Spec, res: &mut ConnResult) -> io::Result<()> {
    let mut conn = KeepAlive::new(ctx.target.clone(), spec.src);
    conn.ensure_open().await?;
    // Nchan holds the first request until a message exists, so "up" means connected.
    mark_connected(ctx, res);
    let mut last_modified: Option<String> = None;
    let mut etag: Option<String> = None;
    for _ in 0..MAX_POLLS {
        let mut req = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\n",
            spec.path,
            conn.target().host
        );
        if let (Some(lm), Some(et)) = (&last_modified, &etag) {
            req.push_str(&format!(
                "If-Modified-Since: {lm}\r\nIf-None-Match: {et}\r\n"
            ));
        }
        req.push_str("\r\n");
        let (head, body) = conn.request(req.as_bytes()).await?;
        match head.status {
            200 => {
                if let Some(seq) = ctx.shared.record(spec.index, &body) {
                    res.seqs.push(seq);
                }
                if head.last_modified.is_some() && head.etag.is_some() {
                    last_modified = head.last_modified;
                    etag = head.etag;
                }
            }
            304 | 408 => {}
            s => return Err(io::Error::other(format!("poll status {s}"))),
        }
    }
    Ok(())
}
