use super::*;
use crate::{broker::LogEntry, event::EventId};

fn hub(per_user: usize, total: usize, queue_len: usize) -> Arc<Hub> {
    Hub::new(
        HubLimits {
            per_user,
            total,
            queue_len,
        },
        Metrics::new(),
    )
}

fn entry(seq: u64, users: &[&str]) -> LogEntry {
    LogEntry {
        event: Arc::new(StoredEvent::new(EventId::new(1, seq), None, "{}".into()).unwrap()),
        recipients: users.iter().map(|u| UserId::parse(u).unwrap()).collect(),
    }
}

fn user(u: &str) -> UserId {
    UserId::parse(u).unwrap()
}

#[tokio::test]
async fn every_subscriber_of_a_recipient_gets_the_event_and_no_one_else() {
    let hub = hub(4, 100, 8);
    let mut a1 = hub.subscribe(user("a"), Transport::Sse).unwrap();
    let mut a2 = hub.subscribe(user("a"), Transport::Poll).unwrap();
    let mut b = hub.subscribe(user("b"), Transport::Sse).unwrap();
    hub.fan_out(&entry(1, &["a"]));
    assert!(matches!(a1.rx.try_recv(), Ok(Push::Event(e)) if e.id.seq == 1));
    assert!(matches!(a2.rx.try_recv(), Ok(Push::Event(e)) if e.id.seq == 1));
    assert!(b.rx.try_recv().is_err());
}

#[tokio::test]
async fn a_full_queue_disconnects_only_that_subscriber() {
    let hub = hub(4, 100, 2);
    let mut slow = hub.subscribe(user("a"), Transport::Sse).unwrap();
    let mut fast = hub.subscribe(user("a"), Transport::Sse).unwrap();
    for seq in 1..=3 {
        hub.fan_out(&entry(seq, &["a"]));
        assert!(matches!(fast.rx.try_recv(), Ok(Push::Event(_))));
    }
    assert!(matches!(slow.rx.recv().await, Some(Push::Event(_))));
    assert!(matches!(slow.rx.recv().await, Some(Push::Event(_))));
    assert!(slow.rx.recv().await.is_none(), "the slow stream ends");
    assert_eq!(hub.connections(), 1);
    assert_eq!(hub.metrics.slow_disconnects.get(), 1);
}

#[tokio::test]
async fn limits_are_enforced_and_released_on_drop() {
    let hub = hub(1, 2, 4);
    let a = hub.subscribe(user("a"), Transport::Sse).unwrap();
    assert_eq!(
        hub.subscribe(user("a"), Transport::Sse).err(),
        Some(HubError::UserLimit(1))
    );
    let _b = hub.subscribe(user("b"), Transport::Sse).unwrap();
    assert_eq!(
        hub.subscribe(user("c"), Transport::Sse).err(),
        Some(HubError::TotalLimit)
    );
    drop(a);
    assert!(hub.subscribe(user("c"), Transport::Sse).is_ok());
}

#[tokio::test]
async fn a_subscriber_refused_by_the_total_limit_leaves_no_user_behind() {
    let hub = hub(4, 1, 4);
    let _a = hub.subscribe(user("a"), Transport::Sse).unwrap();
    hub.take_changed();
    for ghost in ["ghost1", "ghost2", "ghost3"] {
        assert_eq!(
            hub.subscribe(user(ghost), Transport::Sse).err(),
            Some(HubError::TotalLimit)
        );
    }
    // What presence writes to Redis: refused users must not appear, not even with 0.
    assert_eq!(hub.all_connections(), vec![(user("a"), 1)]);
    assert_eq!(hub.user_connections(&user("ghost1")), 0);
    assert!(hub.take_changed().is_empty());
    assert_eq!(hub.connections(), 1);
}

#[tokio::test]
async fn close_all_ends_every_queue_and_refuses_new_subscribers() {
    let hub = hub(4, 100, 4);
    let mut a = hub.subscribe(user("a"), Transport::Sse).unwrap();
    hub.close_all();
    assert!(a.rx.recv().await.is_none());
    assert_eq!(hub.connections(), 0);
    assert_eq!(
        hub.subscribe(user("a"), Transport::Sse).err(),
        Some(HubError::ShuttingDown)
    );
}
