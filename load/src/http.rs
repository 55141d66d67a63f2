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
    let len = match resp.parse(buf).map_err(|e| format!("bad response head: {e}"))? {
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
    let mut dec = Decoder::new(head.framing());
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    Size,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Trailer,
    TrailerLf,
    Done,
}

/// Incremental body decoder: hands body bytes (de-chunked) to a callback.
#[derive(Debug)]
pub struct Decoder {
    framing: Framing,
    state: ChunkState,
    remaining: u64,
    trailer_line_empty: bool,
}

impl Decoder {
    /// A decoder for one body with the given framing.
    pub fn new(framing: Framing) -> Self {
        let remaining = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        let state = match framing {
            Framing::Length(0) => ChunkState::Done,
            _ => ChunkState::Size,
        };
        Self {
            framing,
            state,
            remaining,
            trailer_line_empty: true,
        }
    }

    /// True once the whole body (and any chunked trailer) has been seen.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes bytes from `input`, calling `out` with body bytes; returns how many input bytes
    /// were consumed (fewer than `input.len()` only once the body is done).
    pub fn feed(&mut self, input: &[u8], out: &mut dyn FnMut(&[u8])) -> Result<usize, String> {
        match self.framing {
            Framing::UntilClose => {
                out(input);
                Ok(input.len())
            }
            Framing::Length(_) => {
                let n = input.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                out(&input[..n]);
                self.remaining -= n as u64;
                if self.remaining == 0 {
                    self.state = ChunkState::Done;
                }
                Ok(n)
            }
            Framing::Chunked => self.feed_chunked(input, out),
        }
    }

    fn feed_chunked(&mut self, input: &[u8], out: &mut dyn FnMut(&[u8])) -> Result<usize, String> {
        let mut i = 0;
        while i < input.len() && self.state != ChunkState::Done {
            let b = input[i];
            match self.state {
                ChunkState::Size => match (b as char).to_digit(16) {
                    Some(d) => {
                        self.remaining = self
                            .remaining
                            .checked_mul(16)
                            .and_then(|r| r.checked_add(u64::from(d)))
                            .ok_or("chunk size overflow")?;
                    }
                    None if b == b'\r' => self.state = ChunkState::SizeLf,
                    None if b == b';' || b == b' ' || b == b'\t' => self.state = ChunkState::Ext,
                    None => return Err(format!("bad chunk size byte {b:#x}")),
                },
                ChunkState::Ext if b == b'\r' => self.state = ChunkState::SizeLf,
                ChunkState::Ext => {}
                ChunkState::SizeLf if b == b'\n' => {
                    self.state = if self.remaining == 0 {
                        self.trailer_line_empty = true;
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data
                    };
                }
                ChunkState::Data => {
                    let avail = (input.len() - i) as u64;
                    let n = avail.min(self.remaining) as usize;
                    out(&input[i..i + n]);
                    self.remaining -= n as u64;
                    if self.remaining == 0 {
                        self.state = ChunkState::DataCr;
                    }
                    i += n;
                    continue;
                }
                ChunkState::DataCr if b == b'\r' => self.state = ChunkState::DataLf,
                ChunkState::DataLf if b == b'\n' => self.state = ChunkState::Size,
                ChunkState::Trailer if b == b'\r' => self.state = ChunkState::TrailerLf,
                ChunkState::Trailer => self.trailer_line_empty = false,
                ChunkState::TrailerLf if b == b'\n' => {
                    if self.trailer_line_empty {
                        self.state = ChunkState::Done;
                    } else {
                        self.trailer_line_empty = true;
                        self.state = ChunkState::Trailer;
                    }
                }
                s => return Err(format!("bad chunk framing byte {b:#x} in {s:?}")),
            }
            i += 1;
        }
        Ok(i)
    }
}
