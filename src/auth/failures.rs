//! The wrong-key budget: publish, metrics and admin keys guessed from one address.

use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix_web::HttpRequest;
use governor::Quota;

use crate::{
    client_addr::{TrustedProxies, rate_key},
    rate::{Limiter, wait_secs},
};

/// Wrong publish or metrics keys per client address. An address past its budget is blocked
/// until a cell is free again, and while blocked even the right key is refused: otherwise a
/// guesser would still learn, from the one 2xx, that it had hit the key.
pub struct AuthFailures {
    limiter: Option<Limiter<IpAddr>>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    proxies: TrustedProxies,
}

impl AuthFailures {
    /// A budget of `per_min` wrong keys per address (`None`: no limit), the address read
    /// through `proxies`.
    pub fn new(per_min: Option<NonZeroU32>, proxies: Vec<ipnet::IpNet>) -> Self {
        Self {
            limiter: per_min.map(|n| Limiter::keyed(Quota::per_minute(n))),
            blocked: Mutex::new(HashMap::new()),
            proxies: TrustedProxies::new(proxies),
        }
    }

    fn key(&self, req: &HttpRequest) -> Option<IpAddr> {
        self.proxies.client_ip(req).map(rate_key)
    }

    /// Refuses, with the seconds to wait, an address that is blocked.
    pub fn admit(&self, req: &HttpRequest) -> Result<(), u64> {
        let Some(ip) = self.key(req) else {
            return Ok(());
        };
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        match blocked.get(&ip) {
            Some(until) if *until > Instant::now() => {
                let wait = *until - Instant::now();
                Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong key; past the budget, blocks the address and says for how long.
    pub fn failed(&self, req: &HttpRequest) -> Result<(), u64> {
        let (Some(limiter), Some(ip)) = (&self.limiter, self.key(req)) else {
            return Ok(());
        };
        wait_secs(limiter, &ip).inspect_err(|secs| {
            let until = Instant::now() + Duration::from_secs(*secs);
            let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
            blocked.insert(ip, until);
        })
    }

    /// Forgets addresses no longer blocked and counters back to fresh.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.limiter {
            l.retain_recent();
        }
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.retain(|_, until| *until > now);
    }

    /// Forgets idle entries once a second, for as long as the relay runs.
    pub async fn run_cleanup(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            self.forget_idle();
        }
    }
}
