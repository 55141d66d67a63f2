//! Tests for the response-head parser and body decoders.

use crate::body::Decoder;
use crate::http::{Framing, parse_head};

fn decode_all(framing: Framing, pieces: &[&[u8]]) -> (Vec<u8>, bool, usize) {
    let mut dec = Decoder::new(framing);
    let mut body = Vec::new();
    let mut leftover = 0;
    for p in pieces {
        let used = dec
            .feed(p, &mut |b| body.extend_from_slice(b))
            .expect("valid framing");
        leftover += p.len() - used;
    }
    (body, dec.is_done(), leftover)
}

#[test]
fn head_with_chunked_framing_and_nchan_cursor() {
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nEtag: 3\r\nLast-Modified: Wed, 25 Nov 2026 10:00:00 GMT\r\n\r\nabc";
    let (head, len) = parse_head(raw).expect("ok").expect("complete");
    assert_eq!(head.status, 200);
    assert_eq!(head.framing(), Framing::Chunked);
    assert_eq!(head.etag.as_deref(), Some("3"));
    assert!(head.last_modified.is_some());
    assert_eq!(&raw[len..], b"abc");
    assert!(
        parse_head(b"HTTP/1.1 200 OK\r\nX: y\r\n")
            .expect("ok")
            .is_none()
    );
    assert!(parse_head(b"garbage\r\n\r\n").is_err());
}

#[test]
fn head_without_length_reads_until_close() {
    let (head, _) = parse_head(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        .expect("ok")
        .expect("complete");
    assert_eq!(head.framing(), Framing::UntilClose);
}

#[test]
fn chunked_body_survives_every_split() {
    let raw: &[u8] = b"d\r\nretry: 3000\n\n\r\n19;ext=1\r\nid: 1-0\ndata: {\"seq\":1}\n\n\r\n0\r\nX-T: 1\r\n\r\nNEXT";
    let want: &[u8] = b"retry: 3000\n\nid: 1-0\ndata: {\"seq\":1}\n\n";
    for cut in 0..raw.len() {
        let (body, done, leftover) = decode_all(Framing::Chunked, &[&raw[..cut], &raw[cut..]]);
        assert_eq!(body, want, "cut at {cut}");
        assert!(done);
        assert_eq!(leftover, 4, "bytes after the body are left alone");
    }
}

#[test]
fn chunked_rejects_bad_framing() {
    let mut dec = Decoder::new(Framing::Chunked);
    assert!(dec.feed(b"zz\r\n", &mut |_| {}).is_err());
    let mut dec = Decoder::new(Framing::Chunked);
    assert!(dec.feed(b"2\r\nabX", &mut |_| {}).is_err());
}

#[test]
fn content_length_stops_at_the_length() {
    let (body, done, leftover) = decode_all(Framing::Length(5), &[b"he", b"lloHTTP"]);
    assert_eq!(body, b"hello");
    assert!(done);
    assert_eq!(leftover, 4);
    let (_, done, _) = decode_all(Framing::Length(0), &[]);
    assert!(done);
}
