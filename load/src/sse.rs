//! Incremental `text/event-stream` parser: feed it body bytes in any split, get whole events.

/// One dispatched SSE event (borrowed from the parser's buffers).
#[derive(Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `id:` of this event, or the last id seen on the stream.
    pub id: &'a str,
    /// The `event:` name, if any.
    pub name: Option<&'a str>,
    /// All `data:` lines joined by `\n`.
    pub data: &'a [u8],
}

/// Parser state: the partial line and the event being built.
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    after_cr: bool,
    data: Vec<u8>,
    has_data: bool,
    id: String,
    name: Option<String>,
    /// Comment lines seen (keepalives).
    pub comments: u64,
    /// `retry:` fields seen.
    pub retries: u64,
}

impl Parser {
    /// A fresh parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser for a reopened stream that remembers the previous stream's last id.
    pub fn resuming(last_id: String) -> Self {
        Self {
            id: last_id,
            ..Self::default()
        }
    }

    /// The last `id:` seen (what a reconnect sends as `Last-Event-ID`); empty if none.
    pub fn last_id(&self) -> &str {
        &self.id
    }

    /// Feeds body bytes; calls `on_event` for each complete event.
    pub fn feed(&mut self, bytes: &[u8], on_event: &mut dyn FnMut(Event<'_>)) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                None => {
                    self.line.extend_from_slice(rest);
                    return;
                }
                Some(i) => {
                    self.after_cr = rest[i] == b'\r';
                    if self.line.is_empty() {
                        self.end_line(&rest[..i], on_event);
                    } else {
                        let mut line = std::mem::take(&mut self.line);
                        line.extend_from_slice(&rest[..i]);
                        self.end_line(&line, on_event);
                        line.clear();
                        self.line = line;
                    }
                    rest = &rest[i + 1..];
                }
            }
        }
    }

    fn end_line(&mut self, line: &[u8], on_event: &mut dyn FnMut(Event<'_>)) {
        if line.is_empty() {
            if self.has_data {
                on_event(Event {
                    id: &self.id,
                    name: self.name.as_deref(),
                    data: &self.data,
                });
            }
            self.data.clear();
            self.has_data = false;
            self.name = None;
            return;
        }
        if line[0] == b':' {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"id" if !value.contains(&0) => {
                self.id = String::from_utf8_lossy(value).into_owned();
            }
            b"event" => self.name = Some(String::from_utf8_lossy(value).into_owned()),
            b"retry" => self.retries += 1,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(p: &mut Parser, pieces: &[&[u8]]) -> Vec<(String, Option<String>, String)> {
        let mut out = Vec::new();
        for piece in pieces {
            p.feed(piece, &mut |e| {
                out.push((
                    e.id.to_string(),
                    e.name.map(str::to_string),
                    String::from_utf8_lossy(e.data).into_owned(),
                ))
            });
        }
        out
    }

    #[test]
    fn parses_relay_stream_in_one_piece() {
        let mut p = Parser::new();
        let body =
            b"retry: 3000\nid: 5-0\n\nid: 6-0\nevent: image\ndata: {\"a\":1}\n\n: keepalive\n\n";
        let ev = collect(&mut p, &[body]);
        assert_eq!(
            ev,
            vec![("6-0".into(), Some("image".into()), "{\"a\":1}".into())]
        );
        assert_eq!(p.comments, 1);
        assert_eq!(p.retries, 1);
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let body: &[u8] = b": hi\n\nid: 1:0\ndata: {\"seq\":1}\n\nid: 1:1\ndata: a\ndata: b\n\n";
        for cut in 0..body.len() {
            for cut2 in cut..body.len() {
                let mut p = Parser::new();
                let ev = collect(&mut p, &[&body[..cut], &body[cut..cut2], &body[cut2..]]);
                assert_eq!(ev.len(), 2, "cut at {cut},{cut2}");
                assert_eq!(ev[0].2, "{\"seq\":1}");
                assert_eq!(ev[1], ("1:1".into(), None, "a\nb".into()));
            }
        }
    }

    #[test]
    fn crlf_and_cr_line_ends() {
        let mut p = Parser::new();
        let ev = collect(&mut p, &[b"data: x\r", b"\n\r\ndata:y\r\r"]);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].2, "x");
        assert_eq!(ev[1].2, "y");
    }

    #[test]
    fn comment_only_and_empty_blocks_dispatch_nothing() {
        let mut p = Parser::new();
        let ev = collect(&mut p, &[b":ping\n\n\n\nid: 9\n\n"]);
        assert!(ev.is_empty());
        assert_eq!(p.comments, 1);
        let ev = collect(&mut p, &[b"data: z\n\n"]);
        assert_eq!(ev[0].0, "9", "the last id carries over");
    }
}
