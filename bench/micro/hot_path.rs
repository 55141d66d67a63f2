//! Micro-benchmarks of the delivery hot path: rendering a frame, fanning one event out, the
//! metrics each delivered event costs, and the delivery trace's hooks (off, and on for another
//! user).
//! `cargo bench --bench hot_path`; figures go in docs/BENCHMARKS.md.

use std::{hint::black_box, sync::Arc};

use criterion::{Criterion, criterion_group, criterion_main};
use notify_relay::{
    broker::LogEntry,
    event::{EventId, NewEvent, ParseLimits, StoredEvent, UserId},
    hub::{Hub, HubLimits, Push},
    metrics::{ConnectionAccount, Metrics},
    sse,
    transport::Transport,
};

const DATA: &str = r#"{"user_id":42,"img_url":"/uploads/abc.jpg"}"#;

fn frames(c: &mut Criterion) {
    c.bench_function("render one SSE frame", |b| {
        b.iter(|| sse::message_frame(black_box("1795649633135-0"), None, black_box(DATA)))
    });
    let limits = ParseLimits {
        max_bytes: 65_536,
        max_recipients: 1_000,
    };
    c.bench_function("parse a publisher message", |b| {
        b.iter(|| NewEvent::parse(black_box(DATA.as_bytes()), limits))
    });
}

fn hub(per_user: usize) -> (Arc<Hub>, Arc<Metrics>) {
    let metrics = Metrics::new();
    let hub = Hub::new(
        HubLimits {
            per_user,
            total: 100_000,
            queue_len: 1_024,
        },
        metrics.clone(),
    );
    (hub, metrics)
}

fn entry(users: Vec<UserId>) -> LogEntry {
    let event = StoredEvent::new(EventId::new(1, 1), None, DATA.into()).expect("valid");
    LogEntry {
        event: Arc::new(event),
        recipients: users,
    }
}

fn fan_out(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _guard = runtime.enter();

    let (hot, _) = hub(1_000);
    let user = UserId::parse("hot").expect("user");
    let mut subs: Vec<_> = (0..1_000)
        .map(|_| hot.subscribe(user.clone(), Transport::Sse).expect("sub"))
        .collect();
    let one_user = entry(vec![user]);
    c.bench_function("fan out to 1,000 connections of one user", |b| {
        b.iter(|| {
            hot.fan_out(black_box(&one_user));
            for sub in &mut subs {
                while let Ok(Push::Event(_)) = sub.rx.try_recv() {}
            }
        })
    });

    let (wide, wide_metrics) = hub(1);
    let users: Vec<_> = (0..10_000)
        .map(|i| UserId::parse(&i.to_string()).expect("user"))
        .collect();
    let mut subs: Vec<_> = users
        .iter()
        .map(|u| wide.subscribe(u.clone(), Transport::Sse).expect("sub"))
        .collect();
    let many_users = entry(users);
    c.bench_function("fan out to 10,000 users with one connection each", |b| {
        b.iter(|| {
            wide.fan_out(black_box(&many_users));
            for sub in &mut subs {
                while let Ok(Push::Event(_)) = sub.rx.try_recv() {}
            }
        })
    });

    // The same fan-out while a delivery trace is on for someone (not one of these users): every
    // recipient is then looked up in the set of traced users.
    let traced = UserId::parse("someone-else").expect("user");
    let until = u64::MAX / 2;
    runtime
        .block_on(wide_metrics.trace.start(&traced, until))
        .expect("trace on");
    c.bench_function(
        "fan out to 10,000 users with one connection each, a trace on for another user",
        |b| {
            b.iter(|| {
                wide.fan_out(black_box(&many_users));
                for sub in &mut subs {
                    while let Ok(Push::Event(_)) = sub.rx.try_recv() {}
                }
            })
        },
    );
}

/// What the delivery trace's hooks cost one event when no trace is on: a relaxed load each.
fn trace_off(c: &mut Criterion) {
    let metrics = Metrics::new();
    let user = UserId::parse("42").expect("user");
    let one = entry(vec![user.clone()]);
    let id = EventId::new(1_795_649_633_135, 0);
    c.bench_function("trace hooks of one delivered event, no trace on", |b| {
        b.iter(|| {
            metrics.trace.tail(black_box(&one));
            metrics
                .trace
                .delivered(black_box(&user), Transport::Sse, 1, black_box(id));
        })
    });
}

/// What each event written to a connection adds: a counter, a clock read, a histogram sample.
fn delivery_metrics(c: &mut Criterion) {
    let metrics = Metrics::new();
    let user = UserId::parse("42").expect("user");
    let mut conn = ConnectionAccount::open(&metrics, Transport::Sse, &user);
    let id = EventId::new(1_795_649_633_135, 0);
    c.bench_function("count and time one delivered event", |b| {
        b.iter(|| conn.sent_live(black_box(id)))
    });
}

criterion_group!(benches, frames, fan_out, delivery_metrics, trace_off);
criterion_main!(benches);
