//! The cache against the store it fronts: whatever it answers is what the store answers.

use std::sync::atomic::AtomicUsize;

use proptest::prelude::*;

use super::*;
use crate::broker::memory::MemoryBroker;

/// A memory broker that counts the reads that reach it.
struct Counting {
    inner: Arc<MemoryBroker>,
    reads: AtomicUsize,
}

#[async_trait]
impl Broker for Counting {
    async fn append(&self, e: &NewEvent) -> Result<Appended, BrokerError> {
        self.inner.append(e).await
    }
    async fn read_after(&self, u: &UserId, c: EventId, l: usize) -> Result<History, BrokerError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_after(u, c, l).await
    }
    async fn head(&self) -> Result<EventId, BrokerError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.head().await
    }
    async fn ping(&self) -> Result<(), BrokerError> {
        Ok(())
    }
    async fn topic_add(&self, t: &Topic, u: &UserId) -> Result<bool, BrokerError> {
        self.inner.topic_add(t, u).await
    }
    async fn topic_remove(&self, t: &Topic, u: &UserId) -> Result<bool, BrokerError> {
        self.inner.topic_remove(t, u).await
    }
    async fn topic_replace(&self, t: &Topic, u: &[UserId]) -> Result<(), BrokerError> {
        self.inner.topic_replace(t, u).await
    }
    async fn topic_members(
        &self,
        t: &Topic,
        a: Option<&UserId>,
        l: usize,
    ) -> Result<Vec<UserId>, BrokerError> {
        self.inner.topic_members(t, a, l).await
    }
    fn start_tail(self: Arc<Self>, sink: Arc<dyn TailSink>, tasks: &crate::tasks::Tasks) {
        self.inner.clone().start_tail(sink, tasks);
    }
}

/// A sink that takes nothing (the hub's place).
struct NoHub;

impl TailSink for NoHub {
    fn live(&self) {}
    fn entry(&self, _: &LogEntry) {}
    fn open(&self) -> bool {
        true
    }
}

const HOUR: Duration = Duration::from_secs(3600);

fn setup(budget: usize, history_len: usize) -> (Arc<Counting>, Arc<CachedBroker>) {
    let store = Arc::new(Counting {
        inner: MemoryBroker::new(history_len, HOUR),
        reads: AtomicUsize::new(0),
    });
    let cache = CachedBroker::new(store.clone(), budget, history_len, HOUR);
    cache
        .clone()
        .start_tail(Arc::new(NoHub), &crate::tasks::Tasks::new());
    (store, cache)
}

fn user(n: usize) -> UserId {
    UserId::parse(&format!("u{n}")).unwrap()
}

fn event(users: &[usize]) -> NewEvent {
    NewEvent {
        recipients: users.iter().map(|&n| user(n)).collect(),
        topic: None,
        exclude: Vec::new(),
        event: None,
        data: r#"{"x":"0123456789"}"#.into(),
        fallback: false,
        idempotency_key: None,
    }
}

/// A read's answer in comparable form: the ids, or the head of a reset.
fn shape(h: History) -> Result<Vec<EventId>, EventId> {
    match h {
        History::Events(events) => Ok(events.iter().map(|e| e.id).collect()),
        History::Reset { head } => Err(head),
    }
}

#[tokio::test]
async fn a_resume_inside_the_window_never_reaches_the_store() {
    let (store, cache) = setup(1 << 20, 100);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(cache.append(&event(&[1, 2])).await.unwrap().id.unwrap());
    }
    let got = cache.read_after(&user(1), ids[1], 100).await.unwrap();
    assert_eq!(shape(got), Ok(ids[2..].to_vec()));
    let none = cache.read_after(&user(3), ids[0], 100).await.unwrap();
    assert_eq!(shape(none), Ok(Vec::new()), "a user with no event since");
    assert_eq!(cache.head().await.unwrap(), ids[4]);
    assert_eq!(store.reads.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cursors_outside_the_window_and_resets_go_to_the_store() {
    let (store, cache) = setup(1 << 20, 2);
    let before = cache.head().await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(cache.append(&event(&[1])).await.unwrap().id.unwrap());
    }
    let reads = |n| assert_eq!(store.reads.load(Ordering::SeqCst), n);
    reads(0);
    // Before the tail started: the store decides.
    let older = EventId::new(before.ms.saturating_sub(1), 0);
    cache.read_after(&user(1), older, 10).await.unwrap();
    reads(1);
    // Inside the window, but the store trimmed events after it: the store's reset.
    let trimmed = cache.read_after(&user(1), before, 10).await;
    assert!(matches!(trimmed, Ok(History::Reset { .. })));
    let trimmed = cache.read_after(&user(1), ids[0], 10).await;
    assert!(matches!(trimmed, Ok(History::Reset { .. })));
    reads(3);
    let future = EventId::new(ids[3].ms + 1, 0);
    let future = cache.read_after(&user(1), future, 10).await;
    assert!(matches!(future, Ok(History::Reset { .. })));
    reads(4);
    let got = cache.read_after(&user(1), ids[1], 10).await.unwrap();
    assert_eq!(shape(got), Ok(ids[2..].to_vec()));
    reads(4);
}

#[tokio::test]
async fn eviction_and_interruption_shrink_the_window() {
    let (store, cache) = setup(4_000, 100);
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(cache.append(&event(&[1])).await.unwrap().id.unwrap());
    }
    assert!(cache.bytes() <= 4_000);
    let got = cache.read_after(&user(1), ids[0], 100).await.unwrap();
    assert_eq!(
        shape(got),
        Ok(ids[1..].to_vec()),
        "evicted: the store answers"
    );
    assert_eq!(store.reads.load(Ordering::SeqCst), 1);
    cache.read_after(&user(1), ids[38], 100).await.unwrap();
    assert_eq!(store.reads.load(Ordering::SeqCst), 1, "recent: from memory");
    Tee {
        cache: cache.clone(),
        sink: Arc::new(NoHub),
    }
    .interrupted();
    cache.read_after(&user(1), ids[38], 100).await.unwrap();
    assert_eq!(
        store.reads.load(Ordering::SeqCst),
        2,
        "after an interruption: the store"
    );
}

/// One step of a random history: an append to some users, or a read by one user.
#[derive(Debug, Clone)]
enum Step {
    Append(Vec<usize>),
    /// A user, and a cursor: an appended id (by index, wrapping), shifted by -1, 0 or +1 seq.
    Read(usize, usize, i8, usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        proptest::collection::vec(0..4usize, 1..4).prop_map(Step::Append),
        (0..4usize, any::<usize>(), -1..=1i8, 1..6usize)
            .prop_map(|(u, i, d, l)| Step::Read(u, i, d, l)),
    ]
}

fn shifted(id: EventId, by: i8) -> EventId {
    match by {
        -1 if id.seq > 0 => EventId::new(id.ms, id.seq - 1),
        -1 => EventId::new(id.ms.saturating_sub(1), u64::MAX),
        1 => EventId::new(id.ms, id.seq + 1),
        _ => id,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_answer_is_the_stores_answer(
        steps in proptest::collection::vec(step(), 1..80),
        budget in prop_oneof![Just(900usize), Just(3_000), Just(1 << 20)],
        history_len in 1..5usize,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (store, cache) = setup(budget, history_len);
            let mut ids = vec![EventId::ZERO, cache.head().await.unwrap()];
            for s in steps {
                match s {
                    Step::Append(users) => {
                        ids.push(cache.append(&event(&users)).await.unwrap().id.unwrap());
                    }
                    Step::Read(u, i, by, limit) => {
                        let cursor = shifted(ids[i % ids.len()], by);
                        let cached = cache.read_after(&user(u), cursor, limit).await.unwrap();
                        let direct = store.inner.read_after(&user(u), cursor, limit).await.unwrap();
                        prop_assert_eq!(shape(cached), shape(direct), "cursor {}", cursor);
                    }
                }
                prop_assert!(cache.bytes() <= budget);
            }
            Ok(())
        })?;
    }
}
