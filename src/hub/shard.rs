//! One shard of the hub: some users' subscribers, and the instance-wide count they are part of.
//!
//! Every way a subscriber leaves (its client goes, its queue is full, its deadline comes, the
//! relay drains or closes) goes through a method here, which keeps the shared count right and
//! drops a user's entry with their last subscriber, so presence never sees an empty user.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use super::queue;
use crate::{event::UserId, transport::Transport};

/// A live subscriber: its id, how it is connected, and its queue.
pub(super) struct Subscriber {
    pub id: u64,
    pub transport: Transport,
    pub tx: queue::Sender,
}

/// Some users' subscribers.
pub(super) struct Shard {
    users: HashMap<UserId, Vec<Subscriber>>,
    /// Live subscribers in the whole hub, shared by every shard.
    total: Arc<AtomicUsize>,
}

impl Shard {
    /// An empty shard counting into `total`.
    pub fn new(total: Arc<AtomicUsize>) -> Self {
        Self {
            users: HashMap::new(),
            total,
        }
    }

    /// Subscribers of `user` here.
    pub fn count(&self, user: &UserId) -> usize {
        self.users.get(user).map_or(0, Vec::len)
    }

    /// Users with a subscriber here.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Every user here with their subscriber count.
    pub fn counts(&self) -> impl Iterator<Item = (&UserId, usize)> {
        self.users.iter().map(|(u, subs)| (u, subs.len()))
    }

    /// Every subscriber here.
    pub fn subscribers(&self) -> impl Iterator<Item = &Subscriber> {
        self.users.values().flatten()
    }

    /// Adds an admitted subscriber (the caller counted it in `total` when admitting it).
    pub fn add(&mut self, user: UserId, sub: Subscriber) {
        self.users.entry(user).or_default().push(sub);
    }

    /// Removes subscriber `id` of `user`, if still here.
    pub fn remove(&mut self, user: &UserId, id: u64) -> Option<Subscriber> {
        let subs = self.users.get_mut(user)?;
        let sub = subs
            .iter()
            .position(|s| s.id == id)
            .map(|pos| subs.swap_remove(pos));
        if sub.is_some() {
            self.total.fetch_sub(1, Ordering::AcqRel);
        }
        if subs.is_empty() {
            self.users.remove(user);
        }
        sub
    }

    /// Keeps the subscribers of `user` for which `keep` says so; true when any was removed.
    pub fn retain_user(
        &mut self,
        user: &UserId,
        mut keep: impl FnMut(&Subscriber) -> bool,
    ) -> bool {
        let Some(subs) = self.users.get_mut(user) else {
            return false;
        };
        let before = subs.len();
        subs.retain(|s| keep(s));
        let removed = before - subs.len();
        self.total.fetch_sub(removed, Ordering::AcqRel);
        if subs.is_empty() {
            self.users.remove(user);
        }
        removed > 0
    }

    /// Keeps the subscribers for which `keep` says so, across every user here.
    pub fn retain(&mut self, mut keep: impl FnMut(&UserId, &Subscriber) -> bool) {
        let total = &self.total;
        self.users.retain(|user, subs| {
            let before = subs.len();
            subs.retain(|s| keep(user, s));
            total.fetch_sub(before - subs.len(), Ordering::AcqRel);
            !subs.is_empty()
        });
    }

    /// Removes every subscriber here.
    pub fn clear(&mut self) {
        let n: usize = self.users.values().map(Vec::len).sum();
        self.users.clear();
        self.total.fetch_sub(n, Ordering::AcqRel);
    }
}
