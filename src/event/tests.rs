use super::*;

const LIMITS: ParseLimits = ParseLimits {
    max_bytes: 1024,
    max_recipients: 3,
};

#[test]
fn the_php_seed_message_parses_with_the_number_as_a_user() {
    let e = NewEvent::parse(br#"{"user_id":42,"img_url":"/uploads/abc.jpg"}"#, LIMITS).unwrap();
    assert_eq!(e.recipients, vec![UserId::parse("42").unwrap()]);
    assert_eq!(e.event, None);
    assert_eq!(e.data, r#"{"user_id":42,"img_url":"/uploads/abc.jpg"}"#);
}

#[test]
fn routing_fields_are_taken_out_of_the_data_and_the_rest_keeps_its_order() {
    let e = NewEvent::parse(
        br#"{"z":1,"user_ids":[2],"user_id":1,"exclude":[3],"topic":"t","fallback":"email","event":"e","a":[1]}"#,
        LIMITS,
    )
    .unwrap();
    assert_eq!(
        e.data,
        r#"{"z":1,"user_id":1,"topic":"t","event":"e","a":[1]}"#
    );
    assert_eq!(e.exclude, vec![UserId::parse("3").unwrap()]);
    assert!(e.fallback);
}

#[test]
fn number_and_string_ids_are_the_same_user_and_deduplicated() {
    let e = NewEvent::parse(br#"{"user_id":"42","user_ids":[42,"7"]}"#, LIMITS).unwrap();
    let ids: Vec<_> = e.recipients.iter().map(UserId::as_str).collect();
    assert_eq!(ids, ["42", "7"]);
}

#[test]
fn a_whole_number_written_with_a_fraction_is_the_same_user() {
    let e = NewEvent::parse(br#"{"user_ids":[42.0,-7.0,42]}"#, LIMITS).unwrap();
    let ids: Vec<_> = e.recipients.iter().map(UserId::as_str).collect();
    assert_eq!(ids, ["42", "-7"], "42.0 and 42 are one recipient");
}

#[test]
fn bad_messages_are_refused_with_the_reason() {
    let p = |s: &str| NewEvent::parse(s.as_bytes(), LIMITS).unwrap_err();
    assert!(matches!(p("nope"), EventError::NotJson(_)));
    assert!(matches!(p("[1]"), EventError::NotJson(_)));
    assert_eq!(p(r#"{"img":1}"#), EventError::NoRecipient);
    assert_eq!(p(r#"{"user_ids":[]}"#), EventError::NoRecipient);
    assert_eq!(
        p(r#"{"user_id":1.5}"#),
        EventError::BadUserId("a number must be an integer")
    );
    assert!(matches!(p(r#"{"user_id":""}"#), EventError::BadUserId(_)));
    assert!(matches!(
        p(r#"{"user_id":"a\nb"}"#),
        EventError::BadUserId(_)
    ));
    assert_eq!(p(r#"{"user_ids":"1"}"#), EventError::BadUserIds);
    assert_eq!(
        p(r#"{"user_ids":[1,2,3,4]}"#),
        EventError::TooManyRecipients(3)
    );
    assert_eq!(
        p(r#"{"user_id":1,"event":"a\nb"}"#),
        EventError::BadEventName
    );
    assert_eq!(p(r#"{"user_id":1,"event":5}"#), EventError::BadEventName);
    let big = format!(r#"{{"user_id":1,"x":"{}"}}"#, "a".repeat(2000));
    assert_eq!(p(&big), EventError::TooLarge(1024));
    assert_eq!(p(r#"{"topic":"no spaces"}"#), EventError::BadTopic);
    assert_eq!(p(r#"{"topic":7}"#), EventError::BadTopic);
    assert_eq!(p(r#"{"topic":"t","exclude":"1"}"#), EventError::BadExclude);
    assert_eq!(p(r#"{"topic":"t","exclude":[{}]}"#), EventError::BadExclude);
}

#[test]
fn the_relays_own_event_names_are_refused() {
    for name in RESERVED_EVENT_NAMES {
        let msg = format!(r#"{{"user_id":1,"event":"{name}","cursor":"1-0"}}"#);
        assert_eq!(
            NewEvent::parse(msg.as_bytes(), LIMITS).unwrap_err(),
            EventError::ReservedEventName(name.to_owned())
        );
    }
    let near = NewEvent::parse(br#"{"user_id":1,"event":"Reset"}"#, LIMITS).unwrap();
    assert_eq!(near.event.as_deref(), Some("Reset"));
}

#[test]
fn a_topic_alone_is_a_recipient_and_exclude_is_kept() {
    let e = NewEvent::parse(
        br#"{"topic":"image:42","exclude":[7],"img_url":"/a.jpg"}"#,
        LIMITS,
    )
    .unwrap();
    assert_eq!(e.topic, Some(Topic::parse("image:42").unwrap()));
    assert!(e.recipients.is_empty());
    assert_eq!(e.exclude, vec![UserId::parse("7").unwrap()]);
}

#[test]
fn fallback_email_is_recognised_and_other_values_are_refused() {
    let p = |s: &str| NewEvent::parse(s.as_bytes(), LIMITS);
    assert!(p(r#"{"user_id":1,"fallback":"email"}"#).unwrap().fallback);
    assert!(!p(r#"{"user_id":1}"#).unwrap().fallback);
    assert!(!p(r#"{"user_id":1,"fallback":null}"#).unwrap().fallback);
    assert_eq!(
        p(r#"{"user_id":1,"fallback":"sms"}"#).unwrap_err(),
        EventError::BadFallback
    );
    assert_eq!(
        p(r#"{"user_id":1,"fallback":true}"#).unwrap_err(),
        EventError::BadFallback
    );
}

#[test]
fn deep_nesting_is_refused_not_a_crash() {
    let deep = format!(
        r#"{{"user_id":1,"x":{}{}}}"#,
        "[".repeat(500),
        "]".repeat(500)
    );
    let limits = ParseLimits {
        max_bytes: 10_000,
        max_recipients: 3,
    };
    assert!(matches!(
        NewEvent::parse(deep.as_bytes(), limits),
        Err(EventError::NotJson(_))
    ));
}

#[test]
fn cursors_parse_strictly_and_order_numerically() {
    let a: EventId = "1732550400000-9".parse().unwrap();
    let b: EventId = "1732550400000-10".parse().unwrap();
    assert!(a < b);
    assert_eq!(b.to_string(), "1732550400000-10");
    for bad in [
        "",
        "1",
        "1-",
        "-1",
        "a-1",
        "1-1-1",
        "+1-1",
        "1--1",
        " 1-1",
        "99999999999999999999999-0",
    ] {
        assert_eq!(
            bad.parse::<EventId>(),
            Err(EventError::BadCursor),
            "{bad:?}"
        );
    }
}
