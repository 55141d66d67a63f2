//! An SSE client: reads a response body and parses it into frames and delivered events.

use futures_util::StreamExt;
use serde_json::Value;

use super::WAIT;

/// One block of an SSE stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A block with fields.
    Message {
        id: Option<String>,
        event: Option<String>,
        data: Option<String>,
        retry: Option<String>,
    },
    /// A block of comment lines only.
    Comment(String),
}

/// A minimal SSE reader over a streaming response that also sees comments and data-less blocks.
pub struct SseClient {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

/// A data-carrying event as a browser's `onmessage`/`addEventListener` would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub id: String,
    pub event: Option<String>,
    pub data: Value,
}

impl SseClient {
    pub fn new(res: reqwest::Response) -> Self {
        Self {
            stream: res.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next block, or None when the stream ended; panics after [`WAIT`].
    pub async fn next_frame(&mut self) -> Option<Frame> {
        tokio::time::timeout(WAIT, self.next_frame_inner())
            .await
            .expect("no SSE frame in time")
    }

    async fn next_frame_inner(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                return Some(parse_block(block.trim_end_matches('\n')));
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => self
                    .buf
                    .push_str(std::str::from_utf8(&chunk).expect("utf-8")),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next event with data, skipping comments and data-less blocks.
    pub async fn next_event(&mut self) -> Delivered {
        loop {
            match self
                .next_frame()
                .await
                .expect("stream ended before an event")
            {
                Frame::Message {
                    id,
                    event,
                    data: Some(data),
                    ..
                } => {
                    return Delivered {
                        id: id.expect("every event has an id"),
                        event,
                        data: serde_json::from_str(&data).expect("data is JSON"),
                    };
                }
                _ => continue,
            }
        }
    }

    /// Reads `n` events.
    pub async fn events(&mut self, n: usize) -> Vec<Delivered> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next_event().await);
        }
        out
    }
}

fn parse_block(block: &str) -> Frame {
    let mut id = None;
    let mut event = None;
    let mut data: Option<String> = None;
    let mut retry = None;
    let mut comments = Vec::new();
    for line in block.split('\n') {
        if let Some(c) = line.strip_prefix(':') {
            comments.push(c.trim().to_owned());
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .map_or((line, ""), |(n, v)| (n, v.strip_prefix(' ').unwrap_or(v)));
        match name {
            "id" => id = Some(value.to_owned()),
            "event" => event = Some(value.to_owned()),
            "retry" => retry = Some(value.to_owned()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    if id.is_none() && event.is_none() && data.is_none() && retry.is_none() {
        return Frame::Comment(comments.join("\n"));
    }
    Frame::Message {
        id,
        event,
        data,
        retry,
    }
}
