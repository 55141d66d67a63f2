//! Per-user delivery trace, turned on by an operator for a bounded time (`POST /admin/trace`).
//!
//! While a trace is on for a user, every instance records what happens to that user's events:
//! appended (source, channel), handed to this instance's hub by the log tail, delivered live on
//! a connection, replayed on resume, returned by a poll, skipped (queue full), reset (cursor too
//! old), and emailed or failed with the SMTP server's answer. The records go to [`store`]: a
//! bounded list per user in Redis (merged across instances, with a TTL) or, on the memory
//! broker, a bounded ring in this process.
//!
//! The hooks the delivery path calls are in `hooks.rs`. Which users are traced is the Redis hash
//! `trace:active` (user → end, ms), read by every instance once a second ([`store::sync`]), so a
//! trace turned on at one instance is recording everywhere within about a second.

use std::{
    collections::HashMap,
    sync::{
        OnceLock, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use crate::event::{UserId, now_ms};

mod hooks;
pub mod store;

/// Longest trace an operator can ask for, in minutes.
pub const MAX_MINUTES: u64 = 60;
/// Length of a trace when `minutes` is not given.
pub const DEFAULT_MINUTES: u64 = 10;
/// Most records kept per user (older ones are dropped).
pub const MAX_RECORDS: usize = 500;

/// How an event came in.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// `POST /publish`.
    Http,
    /// The Redis pub/sub bridge.
    PubSub,
}

/// The users traced now and where their records go; one per relay (or mail worker) process.
pub struct Tracer {
    /// True while any trace is on: the only thing the delivery path reads when none is.
    any: AtomicBool,
    /// Traced users and when their trace ends (ms since the epoch).
    active: RwLock<HashMap<UserId, u64>>,
    /// This instance's name in records (the presence instance id), set at start-up.
    instance: OnceLock<String>,
    /// Where records go: memory until [`Tracer::attach`] gives it Redis.
    store: OnceLock<store::Store>,
    memory: store::Memory,
    next_connection: AtomicU64,
    /// Starts and stops made here (see [`Tracer::set_active`]).
    local_changes: AtomicU64,
    /// ms part of the last id the log tail handed to the hub (for the tail lag figure).
    last_tail_ms: AtomicU64,
}

impl Default for Tracer {
    fn default() -> Self {
        Self {
            any: AtomicBool::new(false),
            active: RwLock::new(HashMap::new()),
            instance: OnceLock::new(),
            store: OnceLock::new(),
            memory: store::Memory::default(),
            next_connection: AtomicU64::new(1),
            local_changes: AtomicU64::new(0),
            last_tail_ms: AtomicU64::new(0),
        }
    }
}

impl Tracer {
    /// A number for a new subscriber connection, so records can tell a user's tabs apart.
    pub fn next_connection(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// The ms part of the last id the log tail handed to the hub, 0 before the first.
    pub fn last_tail_ms(&self) -> u64 {
        self.last_tail_ms.load(Ordering::Relaxed)
    }

    /// This instance's name, as records show it.
    pub fn instance(&self) -> &str {
        self.instance.get().map_or("local", String::as_str)
    }

    /// True when `user`'s trace is on here; notices when every trace has ended.
    pub fn tracing(&self, user: &UserId) -> bool {
        self.until(user).is_some()
    }

    /// When `user`'s trace ends (ms since the epoch), if it is on as this instance knows.
    pub fn until(&self, user: &UserId) -> Option<u64> {
        let now = now_ms();
        let active = self.active.read().unwrap_or_else(|p| p.into_inner());
        if !active.values().any(|&until| until > now) {
            self.any.store(false, Ordering::Relaxed);
        }
        active.get(user).copied().filter(|&until| until > now)
    }

    /// How many local changes (start, stop) this instance made; a read of the shared hash that
    /// began before one of them may miss it and must not overwrite it.
    fn local_changes(&self) -> u64 {
        self.local_changes.load(Ordering::Acquire)
    }

    /// Replaces the set of traced users with the shared hash's, read when `local_changes` was
    /// `seen`; skipped if a start or stop happened here since (the next read has it).
    fn set_active(&self, users: HashMap<UserId, u64>, seen: u64) {
        let now = now_ms();
        let any = users.values().any(|&until| until > now);
        let mut active = self.active.write().unwrap_or_else(|p| p.into_inner());
        if self.local_changes() != seen {
            return;
        }
        *active = users;
        self.any.store(any, Ordering::Relaxed);
    }

    fn update_active(&self, user: &UserId, until: Option<u64>) {
        let mut active = self.active.write().unwrap_or_else(|p| p.into_inner());
        self.local_changes.fetch_add(1, Ordering::AcqRel);
        match until {
            Some(until) => active.insert(user.clone(), until),
            None => active.remove(user),
        };
        let now = now_ms();
        self.any
            .store(active.values().any(|&t| t > now), Ordering::Relaxed);
    }

    /// Where records go: this process until [`Tracer::attach`] gave it Redis (never fixed to
    /// memory by an early record, so a late `attach` still takes).
    fn store(&self) -> &store::Store {
        static MEMORY: store::Store = store::Store::Memory;
        self.store.get().unwrap_or(&MEMORY)
    }
}

#[cfg(test)]
mod tests;
