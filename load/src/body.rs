//! Incremental HTTP/1.1 body decoding: chunked, content-length, or until close.

use crate::http::Framing;

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
                let n = input
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
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
