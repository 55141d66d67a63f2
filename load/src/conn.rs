//! A keep-alive HTTP/1.1 request/response connection that reconnects when the server closes it.

use std::io;
use std::net::IpAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::http::{self, Head, Target};

/// Largest response body accepted (poll answers, publish answers).
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// One keep-alive connection to a target.
pub struct KeepAlive {
    target: Target,
    src: Option<IpAddr>,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// Times the connection was re-established after the first connect.
    pub reconnects: u64,
    connects: u64,
}

impl KeepAlive {
    /// A connection (not yet open) to `target` from source address `src`.
    pub fn new(target: Target, src: Option<IpAddr>) -> Self {
        Self {
            target,
            src,
            stream: None,
            buf: Vec::with_capacity(512),
            reconnects: 0,
            connects: 0,
        }
    }

    /// The target this connection talks to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Opens the connection now if it is not open.
    pub async fn ensure_open(&mut self) -> io::Result<()> {
        if self.stream.is_none() {
            let s = http::connect(self.target.addr, self.src).await?;
            self.connects += 1;
            if self.connects > 1 {
                self.reconnects += 1;
            }
            self.buf.clear();
            self.stream = Some(s);
        }
        Ok(())
    }

    /// Sends `req` and reads the whole response. If a reused connection turns out closed before
    /// any response byte, reconnects once and resends.
    pub async fn request(&mut self, req: &[u8]) -> io::Result<(Head, Vec<u8>)> {
        for attempt in 0..2 {
            let reused = self.stream.is_some();
            self.ensure_open().await?;
            match self.exchange(req).await {
                Ok(r) => return Ok(r),
                Err(e) if reused && attempt == 0 && is_closed(&e) => self.stream = None,
                Err(e) => {
                    self.stream = None;
                    return Err(e);
                }
            }
        }
        Err(io::Error::other("connection closed twice"))
    }

    async fn exchange(&mut self, req: &[u8]) -> io::Result<(Head, Vec<u8>)> {
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::other("not connected"))?;
        stream.write_all(req).await?;
        let head = http::read_head(stream, &mut self.buf).await?;
        let body = http::read_body(stream, &head, &mut self.buf, BODY_LIMIT).await?;
        if head.framing() == http::Framing::UntilClose {
            self.stream = None;
        }
        Ok((head, body))
    }
}

fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode_query(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
