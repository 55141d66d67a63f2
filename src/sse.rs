//! The `text/event-stream` wire format: frames rendered once as shared bytes.
//!
//! actix-web-lab's `Sse` encodes every event again for every connection and keeps a timer per
//! connection. A fan-out to thousands of connections wants the opposite: the hub renders a frame
//! once and every connection writes the same `Bytes`, and one shared ticker sends keepalives.
//! Measured against `Sse` (the `lab-sse` feature): the same CPU within noise, ~0.5 KB less per
//! stream, and an opening `id:` without `data:` that `Sse` cannot write (docs/ARCHITECTURE.md).

use bytes::{BufMut, Bytes, BytesMut};

/// A keepalive comment; proxies and browsers see traffic on an idle stream.
pub const KEEPALIVE: Bytes = Bytes::from_static(b": keepalive\n\n");

/// A keepalive a page can see (`?keepalive=event`): EventSource hides comments, so a client
/// that wants to notice a stalled stream after it opened needs a named event. It has no `id:`,
/// so it does not move the cursor, and `onmessage` ignores named events.
pub const KEEPALIVE_EVENT: Bytes = Bytes::from_static(b"event: keepalive\ndata:\n\n");

/// The last frame of a stream whose token expired. The relay's own last frames have no `id:`
/// line, so the client's cursor stays the id of the last event it got; static bytes, so ending
/// a stream allocates nothing.
pub const TOKEN_EXPIRED: Bytes = Bytes::from_static(
    b"event: token-expired\ndata: {\"reason\":\"token_expired\",\"message\":\"the token that opened this stream has expired; reconnect with a fresh one\"}\n\n",
);

/// The last frame of a stream that reached `--max-stream-secs`.
pub const MAX_LIFETIME: Bytes = Bytes::from_static(
    b"event: reconnect\ndata: {\"reason\":\"max_stream_lifetime\",\"message\":\"this stream reached its maximum lifetime; reconnect and resume from your last id\"}\n\n",
);

/// The last frame of a stream ended because the relay shuts down.
pub const SHUTDOWN: Bytes = Bytes::from_static(
    b"event: reconnect\ndata: {\"reason\":\"shutdown\",\"message\":\"this relay is shutting down; reconnect and resume from your last id\"}\n\n",
);

/// The frame that tells a client its cursor is too old and where it stands now (`head`, the
/// id to continue from).
pub fn reset_frame(head: &str) -> Bytes {
    let data = serde_json::json!({
        "reason": "cursor_too_old",
        "message": "events after your cursor are no longer in history; reload state, then continue from this id",
        "cursor": head,
    });
    message_frame(head, Some("reset"), &data.to_string())
}

/// Renders one SSE message. `data` may span lines: each line becomes its own `data:` field, so
/// any text survives the round trip through a conforming parser. `id` and `event` must not contain
/// line breaks or NUL (callers validate them; a stray one is dropped rather than corrupting the
/// stream).
pub fn message_frame(id: &str, event: Option<&str>, data: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(data.len() + id.len() + 32);
    put_field(&mut buf, "id", id);
    if let Some(event) = event {
        put_field(&mut buf, "event", event);
    }
    for line in split_lines(data) {
        buf.put_slice(b"data: ");
        buf.put_slice(line.as_bytes());
        buf.put_u8(b'\n');
    }
    buf.put_u8(b'\n');
    buf.freeze()
}

/// Renders the `retry:` hint that opens a stream, with the current position as its `id:`, so
/// a browser that reconnects before any event arrives still resumes from here.
pub fn opening_frame(retry_ms: u64, id: Option<&str>) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_slice(format!("retry: {retry_ms}\n").as_bytes());
    if let Some(id) = id {
        put_field(&mut buf, "id", id);
    }
    buf.put_u8(b'\n');
    buf.freeze()
}

fn put_field(buf: &mut BytesMut, name: &str, value: &str) {
    buf.put_slice(name.as_bytes());
    buf.put_slice(b": ");
    for ch in value.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')) {
        let mut tmp = [0u8; 4];
        buf.put_slice(ch.encode_utf8(&mut tmp).as_bytes());
    }
    buf.put_u8(b'\n');
}

/// Splits on `\r\n`, `\r` and `\n`, the three line ends an SSE parser accepts.
fn split_lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\r', '\n']) {
            None => {
                rest = None;
                Some(s)
            }
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unnamed_event_has_no_event_line() {
        let f = message_frame("1-0", None, r#"{"a":1}"#);
        assert_eq!(&f[..], b"id: 1-0\ndata: {\"a\":1}\n\n");
    }

    #[test]
    fn a_named_event_has_its_event_line() {
        let f = message_frame("1-0", Some("image"), "x");
        assert_eq!(&f[..], b"id: 1-0\nevent: image\ndata: x\n\n");
    }

    #[test]
    fn every_kind_of_line_break_in_data_becomes_a_data_line() {
        let f = message_frame("1-0", None, "a\nb\r\nc\rd\n");
        assert_eq!(
            &f[..],
            b"id: 1-0\ndata: a\ndata: b\ndata: c\ndata: d\ndata: \n\n"
        );
    }

    #[test]
    fn the_opening_frame_sets_retry_and_position() {
        assert_eq!(
            &opening_frame(3000, Some("5-1"))[..],
            b"retry: 3000\nid: 5-1\n\n"
        );
        assert_eq!(&opening_frame(3000, None)[..], b"retry: 3000\n\n");
    }
}
