//! Minimal HTTP/1.1 client pieces: target URLs, response heads, body framing (chunked,
//! length, until-close) and connecting from a chosen loopback source address.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpSocket, TcpStream};

/// An `http://host:port/path` target whose path may hold `{user}` / `{token}` placeholders.
#[derive(Clone, Debug)]
pub struct Target {
    /// Resolved server address.
    pub addr: SocketAddr,
    /// `host[:port]` as written, for the `Host` header.
    pub host: String,
    /// Path and query template.
    pub path: String,
}

impl Target {
    /// Parses `http://host:port/path` and resolves the host once.
    pub async fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("only http:// URLs are supported: {url}"))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let with_port = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        let addr = tokio::net::lookup_host(&with_port)
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("no address for {host}"))?;
        Ok(Self {
            addr,
            host: host.to_string(),
            path: path.to_string(),
        })
    }

    /// The path with `{user}` and `{token}` filled in.
    pub fn path_for(&self, user: &str, token: &str) -> String {
        self.path.replace("{user}", user).replace("{token}", token)
    }
}

/// Source addresses to spread connections over: 127.0.0.2..=127.0.0.254 for a loopback
/// target (so ephemeral ports never run out), none otherwise.
pub fn source_ips(target: &SocketAddr, spread: bool) -> Vec<IpAddr> {
    if spread && target.ip().is_loopback() && target.is_ipv4() {
        (2..=254u8)
            .map(|d| IpAddr::V4(Ipv4Addr::new(127, 0, 0, d)))
            .collect()
    } else {
        Vec::new()
    }
}

/// Connects to `addr`, first binding the socket to `src` (port chosen by the kernel) if given.
pub async fn connect(addr: SocketAddr, src: Option<IpAddr>) -> io::Result<TcpStream> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = src {
        sock.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = sock.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Asks the kernel to ACK received data at once (TCP_QUICKACK is not sticky: re-arm per read).
pub fn quickack(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket fd and a correctly sized c_int option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length: n`.
    Length(u64),
    /// Neither header: the body runs until the server closes.
    UntilClose,
}

/// The parts of a response head the load tool needs.
#[derive(Debug, Default)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Body framing (None until parsed; see [`Head::framing`]).
    framing: Option<Framing>,
    /// `Last-Modified` value, if any (Nchan long-poll cursor).
    pub last_modified: Option<String>,
    /// `Etag` value, if any (Nchan long-poll cursor).
    pub etag: Option<String>,
}

impl Head {
    /// Body framing; a head without length or chunking reads until close.
    pub fn framing(&self) -> Framing {
        self.framing.unwrap_or(Framing::UntilClose)
    }
}

/// Parses a response head at the start of `buf`; returns it and its length, or None if the
/// head is not complete yet.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp
        .parse(buf)
        .map_err(|e| format!("bad response head: {e}"))?
    {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let mut head = Head {
        status: resp.code.unwrap_or(0),
        ..Head::default()
    };
    for h in resp.headers.iter() {
        let value = String::from_utf8_lossy(h.value).trim().to_string();
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().contains("chunked") {
                head.framing = Some(Framing::Chunked);
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            if head.framing.is_none() {
                let n = value.parse().map_err(|_| format!("bad length {value}"))?;
                head.framing = Some(Framing::Length(n));
            }
        } else if h.name.eq_ignore_ascii_case("last-modified") {
            head.last_modified = Some(value);
        } else if h.name.eq_ignore_ascii_case("etag") {
            head.etag = Some(value);
        }
    }
    Ok(Some((head, len)))
}

/// Reads from `io` into `buf` until a full response head is there; removes it from `buf`.
pub async fn read_head<R: AsyncRead + Unpin>(io: &mut R, buf: &mut Vec<u8>) -> io::Result<Head> {
    for _ in 0..64 {
        if let Some((head, len)) = parse_head(buf).map_err(io::Error::other)? {
            buf.drain(..len);
            return Ok(head);
        }
        if buf.len() > 16 * 1024 {
            return Err(io::Error::other("response head over 16 KiB"));
        }
        if read_more(io, buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Err(io::Error::other("response head arrived in too many pieces"))
}

/// Appends up to 2 KiB from `io` to `buf`; returns the byte count (0 at end of stream).
pub async fn read_more<R: AsyncRead + Unpin>(io: &mut R, buf: &mut Vec<u8>) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + 2048, 0);
    let res = io.read(&mut buf[start..]).await;
    let n = *res.as_ref().unwrap_or(&0);
    buf.truncate(start + n);
    res
}

/// Reads one whole body with the head's framing (for short responses: publish, poll).
pub async fn read_body<R: AsyncRead + Unpin>(
    io: &mut R,
    head: &Head,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut dec = crate::body::Decoder::new(head.framing());
    for _ in 0..100_000 {
        let used = dec
            .feed(buf, &mut |b| body.extend_from_slice(b))
            .map_err(io::Error::other)?;
        buf.drain(..used);
        if dec.is_done() {
            return Ok(body);
        }
        if body.len() > limit {
            return Err(io::Error::other("response body too large"));
        }
        if read_more(io, buf).await? == 0 {
            return match head.framing() {
                Framing::UntilClose => Ok(body),
                _ => Err(io::ErrorKind::UnexpectedEof.into()),
            };
        }
    }
    Err(io::Error::other("response body arrived in too many pieces"))
}
