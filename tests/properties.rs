//! Property tests: any input survives the parsers and the SSE writer without a crash, and any
//! data survives a round trip through an independent SSE parser.

use eventsource_stream::Eventsource;
use futures_util::{StreamExt, stream};
use notify_relay::{
    event::{EventId, NewEvent, ParseLimits},
    sse,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const LIMITS: ParseLimits = ParseLimits {
    max_bytes: 65_536,
    max_recipients: 1_000,
};

/// Parses a byte stream with the `eventsource-stream` crate, fed in small chunks.
fn parse_sse(bytes: &[u8]) -> Vec<eventsource_stream::Event> {
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = bytes
        .chunks(7)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    futures_executor_lite(stream::iter(chunks).eventsource().collect::<Vec<_>>())
        .into_iter()
        .map(|e| e.expect("the frame parses"))
        .collect()
}

fn futures_executor_lite<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// What a conforming parser yields for `data`: every line end becomes `\n`.
fn normalized(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

fn event_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.:é-]{1,20}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_data_survives_the_sse_writer_and_an_independent_parser(
        ms in any::<u64>(),
        seq in any::<u64>(),
        event in proptest::option::of(event_name()),
        data in "(.|\n|\r|\r\n|\u{0}|é|漢|🦀){1,80}",
    ) {
        let id = EventId::new(ms, seq).to_string();
        let frame = sse::message_frame(&id, event.as_deref(), &data);
        let mut stream = sse::opening_frame(3000, Some(&id)).to_vec();
        stream.extend_from_slice(&frame);
        stream.extend_from_slice(&sse::KEEPALIVE);
        let events = parse_sse(&stream);
        let got = events.iter().find(|e| !e.data.is_empty() || e.event != "message");
        // An event whose data is empty is a valid frame but some parsers do not dispatch it.
        if normalized(&data).is_empty() { return Ok(()); }
        let got = got.expect("the event is dispatched");
        prop_assert_eq!(&got.data, &normalized(&data));
        prop_assert_eq!(&got.id, &id);
        prop_assert_eq!(got.event.as_str(), event.as_deref().unwrap_or("message"));
    }

    #[test]
    fn the_message_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = NewEvent::parse(&bytes, LIMITS);
    }

    #[test]
    fn a_valid_message_keeps_its_object_and_recipients(
        users in proptest::collection::vec(prop_oneof![
            any::<i64>().prop_map(Value::from),
            "[^\u{0}-\u{1f}\u{7f}-\u{9f}]{1,40}".prop_map(Value::from),
        ], 1..10),
        text in ".{0,100}",
    ) {
        let body = json!({"user_ids": users, "text": text, "nested": {"a": [1, 2, {"b": null}]}});
        let event = NewEvent::parse(body.to_string().as_bytes(), LIMITS).expect("valid message");
        let back: Value = serde_json::from_str(&event.data).expect("data is JSON");
        // Delivered as published, less the routing field `user_ids`.
        let mut expected = body.clone();
        expected.as_object_mut().expect("object").remove("user_ids");
        prop_assert_eq!(back, expected);
        prop_assert!(!event.recipients.is_empty() && event.recipients.len() <= users.len());
        let given: Vec<String> = users
            .iter()
            .map(|u| u.as_str().map_or_else(|| u.to_string(), str::to_owned))
            .collect();
        for user in &event.recipients {
            prop_assert!(given.iter().any(|g| g == user.as_str()), "unexpected recipient {}", user);
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused_without_panic(ms in any::<u64>(), seq in any::<u64>(), junk in ".{0,40}") {
        let id = EventId::new(ms, seq);
        prop_assert_eq!(id.to_string().parse::<EventId>(), Ok(id));
        let looks_valid = junk.split_once('-').is_some_and(|(a, b)| {
            [a, b].iter().all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) && p.parse::<u64>().is_ok())
        });
        prop_assert_eq!(junk.parse::<EventId>().is_ok(), looks_valid);
    }
}
