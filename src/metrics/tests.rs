use super::*;
use crate::event::UserId;

fn user() -> UserId {
    UserId::parse("7").expect("user id")
}

#[test]
fn every_instrument_registers_and_renders_in_the_text_format() {
    let m = Metrics::new();
    m.reject("http", "bad_event");
    m.delivered_live(Transport::Sse, EventId::new(now_ms(), 0));
    let _open = ConnectionAccount::open(&m, Transport::Poll, &user());
    let text = m.render().expect("renders");
    assert!(
        text.contains(r#"notify_connections{transport="poll"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"notify_events_rejected_total{reason="bad_event",source="http"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"notify_delivery_latency_seconds_count{transport="sse"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("# TYPE notify_broker_reconnects_total counter"),
        "{text}"
    );
}

#[test]
fn a_closed_connection_leaves_the_gauge() {
    let m = Metrics::new();
    let mut conn = ConnectionAccount::open(&m, Transport::Sse, &user());
    conn.sent_from_history(2);
    assert_eq!(m.open(Transport::Sse).get(), 1);
    drop(conn);
    assert_eq!(m.open(Transport::Sse).get(), 0);
    assert_eq!(m.delivered_sse.get(), 2);
}
