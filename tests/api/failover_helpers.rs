//! Publishing through a broker failover and checking what came out, shared by the Sentinel and
//! Cluster tests: which events were acknowledged, and that each reached its user exactly once.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::json;
use tokio::time::Interval;

use crate::helpers::{Relay, SseClient};

/// How long publishing may take to recover from a failover before a test fails.
pub const FAILOVER: Duration = Duration::from_secs(40);

/// Publishes numbered events round-robin to its users and remembers which were acknowledged.
pub struct Publisher {
    pub users: Vec<String>,
    /// The acknowledged `n`s of each user, by the user's index.
    pub acked: Vec<BTreeSet<u64>>,
    next: u64,
}

impl Publisher {
    /// A publisher for `users`, starting at `n = 0`.
    pub fn new(users: &[impl ToString]) -> Self {
        Self {
            users: users.iter().map(ToString::to_string).collect(),
            acked: vec![BTreeSet::new(); users.len()],
            next: 0,
        }
    }

    /// How many events were published so far, acknowledged or not.
    pub fn sent(&self) -> u64 {
        self.next
    }

    /// Publishes the next `n` to `users[n % len]`; returns the status (0: no answer).
    pub async fn send(&mut self, relay: &Relay) -> u16 {
        self.send_keyed(relay, false).await
    }

    /// Like [`Self::send`] with an idempotency key, retried once when not acknowledged: a retry
    /// after a lost answer must store nothing twice.
    pub async fn send_retried(&mut self, relay: &Relay) -> u16 {
        self.send_keyed(relay, true).await
    }

    async fn send_keyed(&mut self, relay: &Relay, retry: bool) -> u16 {
        let n = self.next;
        self.next += 1;
        let i = n as usize % self.users.len();
        let mut body = json!({"user_id": self.users[i], "n": n});
        if retry {
            body["idempotency_key"] = json!(format!("mig-{n}"));
        }
        let mut status = relay.publish_status(&body).await;
        if retry && status != 202 {
            status = relay.publish_status(&body).await;
        }
        if status == 202 {
            self.acked[i].insert(n);
        }
        status
    }

    /// Publishes on every tick of `pace` through a failover until `n` publishes were acknowledged
    /// after `switched` first answered true; returns how many were refused (503, or no answer)
    /// meanwhile. Fails if that takes [`FAILOVER`] or a publish answers anything else.
    pub async fn through_failover(
        &mut self,
        relay: &Relay,
        pace: &mut Interval,
        n: usize,
        mut switched: impl AsyncFnMut() -> bool,
    ) -> usize {
        let mut refused = 0;
        let recovered = tokio::time::timeout(FAILOVER, async {
            let (mut seen_switch, mut acked_after) = (false, 0);
            while acked_after < n {
                seen_switch = seen_switch || switched().await;
                pace.tick().await;
                match self.send(relay).await {
                    202 => acked_after += usize::from(seen_switch),
                    503 | 0 => refused += 1,
                    other => panic!("a publish during the failover answered {other}"),
                }
            }
        })
        .await;
        assert!(
            recovered.is_ok(),
            "publishing never recovered after the failover ({refused} refused)"
        );
        refused
    }

    /// Sends every user an end marker and checks that its stream (`streams[i]` for
    /// `users[i]`) got every acknowledged event exactly once and nothing twice.
    pub async fn assert_streams_exactly_once(&self, relay: &Relay, streams: &mut [SseClient]) {
        for (i, user) in self.users.iter().enumerate() {
            relay
                .publish_ok(json!({"user_id": user, "end": true}))
                .await;
            let counts =
                tokio::time::timeout(Duration::from_secs(30), counts_until_end(&mut streams[i]))
                    .await
                    .expect("every stream reached its end marker");
            assert_exactly_once(user, &counts, &self.acked[i]);
        }
    }
}

/// Reads `sse` until the event with `"end": true`; returns how often each `n` arrived.
async fn counts_until_end(sse: &mut SseClient) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    loop {
        let event = sse.next_event().await;
        if event.data["end"] == true {
            return counts;
        }
        let n = event.data["n"].as_u64().expect("n");
        *counts.entry(n).or_default() += 1;
    }
}

/// Checks that every acknowledged `n` of `user` arrived once and nothing arrived twice.
fn assert_exactly_once(user: &str, counts: &HashMap<u64, usize>, acked: &BTreeSet<u64>) {
    for n in acked {
        assert_eq!(
            counts.get(n),
            Some(&1),
            "acknowledged event {n} reached {user} exactly once"
        );
    }
    assert!(
        counts.values().all(|c| *c == 1),
        "no event reached {user} twice: {counts:?}"
    );
}
