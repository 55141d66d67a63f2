//! The hooks the delivery path calls on a [`Tracer`], one per step an event takes.
//!
//! Off, a trace costs the delivery path one relaxed atomic load per hook ([`Tracer::on`]): every
//! hook is an inlined check of that flag, and everything else (the lookup of the user, building
//! the record) sits behind it in a cold function.

use std::sync::{Arc, atomic::Ordering};

use serde_json::{Value, json};

use super::{Source, Tracer};
use crate::{
    broker::{Appended, LogEntry},
    event::{EventId, NewEvent, StoredEvent, UserId, now_ms},
    transport::Transport,
};

impl Tracer {
    /// True while a trace is on for some user; the whole cost of a trace that is off.
    #[inline]
    pub fn on(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// An event was stored: records it for traced users named in it (topic subscribers show
    /// up when the tail hands the event to the hub).
    #[inline]
    pub fn appended(
        &self,
        event: &NewEvent,
        appended: &Appended,
        source: Source,
        channel: Option<&str>,
    ) {
        if self.on() {
            self.appended_slow(event, appended, source, channel);
        }
    }

    /// The log tail handed `entry` to this instance's hub.
    #[inline]
    pub fn tail(&self, entry: &LogEntry) {
        self.last_tail_ms
            .store(entry.event.id.ms, Ordering::Relaxed);
        if self.on() {
            self.tail_slow(entry);
        }
    }

    /// An event was not queued for one connection of `user`: its queue was full, so the
    /// connection is cut and the client must resume from history.
    #[inline]
    pub fn skipped(&self, user: &UserId, id: EventId, reason: &'static str) {
        if self.on() {
            self.record(
                user,
                || json!({ "kind": "skipped", "id": id, "reason": reason }),
            );
        }
    }

    /// A live event was written to connection `connection` (SSE), or returned by a waiting
    /// poll.
    #[inline]
    pub fn delivered(&self, user: &UserId, transport: Transport, connection: u64, id: EventId) {
        if self.on() {
            self.delivered_slow(user, transport, connection, id);
        }
    }

    /// Events sent from history when an SSE stream resumed after a cursor.
    #[inline]
    pub fn replayed(&self, user: &UserId, events: &[Arc<StoredEvent>]) {
        if self.on() {
            self.history_slow(user, events, "replayed", "sse");
        }
    }

    /// Events a poll returned at once from history.
    #[inline]
    pub fn polled(&self, user: &UserId, events: &[Arc<StoredEvent>]) {
        if self.on() {
            self.history_slow(user, events, "polled", "poll");
        }
    }

    /// A cursor was too old: the client got a reset to `head` instead of events.
    #[inline]
    pub fn reset(&self, user: &UserId, transport: &'static str, cursor: EventId, head: EventId) {
        if self.on() {
            self.record(
                user,
                || json!({ "kind": "reset", "transport": transport, "cursor": cursor, "id": head }),
            );
        }
    }

    /// An email for `user` was accepted by the SMTP server (`answer`).
    pub fn emailed(&self, user: &str, notification: &str, answer: &str) {
        self.email(user, "emailed", notification, answer);
    }

    /// An email for `user` failed for good (`answer`: the SMTP server's, or why).
    pub fn email_failed(&self, user: &str, notification: &str, answer: &str) {
        self.email(user, "email_failed", notification, answer);
    }

    /// An email attempt for `user` failed and will be retried.
    pub fn email_retried(&self, user: &str, notification: &str, answer: &str) {
        self.email(user, "email_retry", notification, answer);
    }

    fn email(&self, user: &str, kind: &'static str, notification: &str, answer: &str) {
        if !self.on() {
            return;
        }
        if let Ok(user) = UserId::parse(user) {
            self.record(
                &user,
                || json!({ "kind": kind, "notification": notification, "smtp": answer }),
            );
        }
    }

    #[cold]
    fn appended_slow(
        &self,
        event: &NewEvent,
        appended: &Appended,
        source: Source,
        channel: Option<&str>,
    ) {
        let Some(id) = appended.id else { return };
        let source = match source {
            Source::Http => "http",
            Source::PubSub => "pubsub",
        };
        for user in event
            .recipients
            .iter()
            .filter(|u| !event.exclude.contains(u))
        {
            // Timed by the store's clock when it appended (the id's ms), not when the publisher's
            // answer came back: a tail may deliver the event before that, and the trace must
            // not show a delivery before its append.
            self.record(user, || {
                json!({
                    "kind": "appended", "id": id, "source": source, "channel": channel,
                    "event": event.event, "fallback": event.fallback,
                    "recipients": appended.recipients, "at_ms": id.ms,
                })
            });
        }
    }

    #[cold]
    fn tail_slow(&self, entry: &LogEntry) {
        for user in &entry.recipients {
            self.record(
                user,
                || json!({ "kind": "fanned_out", "id": entry.event.id }),
            );
        }
    }

    #[cold]
    fn delivered_slow(&self, user: &UserId, transport: Transport, connection: u64, id: EventId) {
        let latency_ms = now_ms().saturating_sub(id.ms);
        let (kind, transport) = match transport {
            Transport::Sse => ("delivered", "sse"),
            Transport::Poll => ("polled", "poll"),
        };
        self.record(user, || {
            json!({
                "kind": kind, "id": id, "transport": transport, "connection": connection,
                "latency_ms": latency_ms,
            })
        });
    }

    #[cold]
    fn history_slow(
        &self,
        user: &UserId,
        events: &[Arc<StoredEvent>],
        kind: &'static str,
        transport: &'static str,
    ) {
        for e in events {
            self.record(
                user,
                || json!({ "kind": kind, "id": e.id, "transport": transport, "from": "history" }),
            );
        }
    }

    /// Records what `make` builds for `user` if their trace is on.
    #[cold]
    fn record(&self, user: &UserId, make: impl FnOnce() -> Value) {
        if !self.tracing(user) {
            return;
        }
        let mut record = make();
        if let Value::Object(fields) = &mut record {
            fields.entry("at_ms").or_insert_with(|| now_ms().into());
            fields.insert("instance".into(), self.instance().into());
        }
        self.store().push(&self.memory, user, record);
    }
}
