//! The memory broker's ids, bounded history and resets.

use super::*;

fn event(user: &str) -> NewEvent {
    NewEvent {
        recipients: vec![UserId::parse(user).unwrap()],
        topic: None,
        exclude: Vec::new(),
        event: None,
        data: format!(r#"{{"user_id":"{user}"}}"#),
        fallback: false,
        idempotency_key: None,
    }
}

#[tokio::test]
async fn ids_increase_and_history_is_bounded_with_a_reset_past_it() {
    let broker = MemoryBroker::new(3, Duration::from_secs(60));
    let user = UserId::parse("1").unwrap();
    let start = broker.head().await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(broker.append(&event("1")).await.unwrap().id.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert!(matches!(
        broker.read_after(&user, start, 10).await.unwrap(),
        History::Reset { head } if head == ids[4]
    ));
    let History::Events(got) = broker.read_after(&user, ids[1], 10).await.unwrap() else {
        panic!("expected events");
    };
    assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), ids[2..]);
}
