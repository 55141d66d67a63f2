//! Paced publishers: Redis `PUBLISH`, relay `POST /publish`, or `POST` to a URL template.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::conn::KeepAlive;
use crate::http::{self, Target};
use crate::stats::now_us;

/// Where and how events are published.
#[derive(Clone, Debug)]
pub enum Sink {
    /// Redis `PUBLISH <channel> <json>` to this server.
    Redis {
        /// Redis address (`host:port`).
        addr: std::net::SocketAddr,
        /// Channel name.
        channel: String,
        /// Stream to `XADD` to instead of publishing on the channel.
        stream: Option<String>,
    },
    /// `POST` the JSON to this URL with `Authorization: Bearer <key>` (relay).
    Relay {
        /// The publish URL.
        target: Target,
        /// Publish key.
        key: String,
    },
    /// `POST` the JSON to the URL template with `{user}` filled in (Nchan).
    Url {
        /// The URL template.
        target: Target,
    },
}

/// The schedule: `total` events at `rate`/s, event `seq` goes to user index `seq % users`, or
/// to every user when published to a topic.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Number of events.
    pub total: u64,
    /// Events per second.
    pub rate: f64,
    /// Number of users.
    pub users: usize,
    /// Id of user index 0.
    pub user_base: u64,
    /// A relay topic that every user subscribes to: each event is published once to it and
    /// expected by all users.
    pub topic: Option<String>,
}

/// What one publisher worker did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `(seq, user index)` of every event the server accepted.
    pub accepted: Vec<(u32, u32)>,
    /// Events the server refused or that failed in transit.
    pub errors: u64,
    /// Worst lateness against the schedule, microseconds.
    pub max_lag_us: u64,
    /// The first error message, if any.
    pub first_error: Option<String>,
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes every `workers`-th event starting at `worker`, paced against `start`.
pub async fn run(sink: Sink, plan: Plan, worker: usize, workers: usize, start: Instant) -> Outcome {
    let mut out = Outcome::default();
    let mut client = Client::new(&sink);
    let mut seq = worker as u64;
    while seq < plan.total {
        let due = start + Duration::from_secs_f64(seq as f64 / plan.rate.max(1e-9));
        let now = Instant::now();
        if due > now {
            tokio::time::sleep_until(due).await;
        } else {
            out.max_lag_us = out.max_lag_us.max((now - due).as_micros() as u64);
        }
        let user = (seq % plan.users as u64) as u32;
        let uid = plan.user_base + u64::from(user);
        let to = match &plan.topic {
            Some(topic) => format!("\"topic\":\"{topic}\""),
            None => format!("\"user_id\":{uid}"),
        };
        let body = format!(
            "{{{to},\"seq\":{seq},\"ts\":{},\"img_url\":\"/uploads/{seq}.jpg\"}}",
            now_us()
        );
        let res = timeout(REQUEST_TIMEOUT, client.send(&sink, uid, &body)).await;
        match res {
            Ok(Ok(())) => out.accepted.push((seq as u32, user)),
            Ok(Err(e)) => fail(&mut out, &mut client, e.to_string()),
            Err(_) => fail(&mut out, &mut client, "publish timed out".into()),
        }
        seq += workers as u64;
    }
    out
}

fn fail(out: &mut Outcome, client: &mut Client, msg: String) {
    out.errors += 1;
    out.first_error.get_or_insert(msg);
    client.reset();
}

enum Client {
    Redis {
        stream: Option<TcpStream>,
        buf: Vec<u8>,
    },
    Http(KeepAlive),
}

impl Client {
    fn new(sink: &Sink) -> Self {
        match sink {
            Sink::Redis { .. } => Client::Redis {
                stream: None,
                buf: Vec::with_capacity(64),
            },
            Sink::Relay { target, .. } | Sink::Url { target } => {
                Client::Http(KeepAlive::new(target.clone(), None))
            }
        }
    }

    fn reset(&mut self) {
        if let Client::Redis { stream, .. } = self {
            *stream = None;
        }
    }

    async fn send(&mut self, sink: &Sink, uid: u64, body: &str) -> io::Result<()> {
        match (self, sink) {
            (
                Client::Redis { stream, buf },
                Sink::Redis {
                    addr,
                    channel,
                    stream: key,
                },
            ) => {
                if stream.is_none() {
                    *stream = Some(http::connect(*addr, None).await?);
                }
                let s = stream
                    .as_mut()
                    .ok_or_else(|| io::Error::other("no redis"))?;
                let command = match key {
                    Some(key) => resp_xadd(key, body),
                    None => resp_publish(channel, body),
                };
                s.write_all(command.as_bytes()).await?;
                read_redis_reply(s, buf).await
            }
            (Client::Http(conn), Sink::Relay { target, key }) => {
                let req = post(&target.path, &target.host, Some(key), body);
                check(conn.request(req.as_bytes()).await?.0.status)
            }
            (Client::Http(conn), Sink::Url { target }) => {
                let path = target.path_for(&uid.to_string(), "");
                let req = post(&path, &target.host, None, body);
                check(conn.request(req.as_bytes()).await?.0.status)
            }
            _ => Err(io::Error::other("publisher kind mismatch")),
        }
    }
}

fn check(status: u16) -> io::Result<()> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(io::Error::other(format!("publish status {status}")))
    }
}

fn post(path: &str, host: &str, key: Option<&str>, body: &str) -> String {
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Encodes `PUBLISH channel body` in RESP.
pub fn resp_publish(channel: &str, body: &str) -> String {
    format!(
        "*3\r\n$7\r\nPUBLISH\r\n${}\r\n{channel}\r\n${}\r\n{body}\r\n",
        channel.len(),
        body.len()
    )
}

/// Encodes `XADD stream * data body` in RESP.
pub fn resp_xadd(stream: &str, body: &str) -> String {
    format!(
        "*5\r\n$4\r\nXADD\r\n${}\r\n{stream}\r\n$1\r\n*\r\n$4\r\ndata\r\n${}\r\n{body}\r\n",
        stream.len(),
        body.len()
    )
}

/// Reads one integer (`PUBLISH`) or bulk string (`XADD`) reply.
async fn read_redis_reply(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    for _ in 0..64 {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            return match buf.first() {
                Some(b':') => Ok(()),
                Some(b'$') => {
                    let len: usize = std::str::from_utf8(&buf[1..end])
                        .ok()
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| io::Error::other("redis: bad bulk length"))?;
                    while buf.len() < end + 2 + len + 2 {
                        let mut tmp = [0u8; 256];
                        let n = s.read(&mut tmp).await?;
                        if n == 0 {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                        buf.extend_from_slice(&tmp[..n]);
                    }
                    Ok(())
                }
                _ => Err(io::Error::other(format!(
                    "redis: {}",
                    String::from_utf8_lossy(&buf[..end])
                ))),
            };
        }
        let mut tmp = [0u8; 256];
        let n = s.read(&mut tmp).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    Err(io::Error::other("redis reply too long"))
}
