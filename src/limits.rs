//! Abuse limits: new connections per client address, publishes per publisher, wrong keys per
//! client address, and the size of a request's path, head and query string.
//!
//! Rates use `governor`'s keyed GCRA limiters: one small state per key, no timers. Memory stays
//! bounded because a key whose state is back to "fresh" (it has not been seen for a full
//! window) is forgotten by [`RateLimits::run_cleanup`], once a second: the map holds only the
//! clients of about the last second, however many addresses come and go.

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use actix_web::{
    HttpRequest,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use governor::Quota;

use crate::{
    address_slots::{AddressSlots, Slot},
    auth::Publisher,
    client_addr::{TrustedProxies, rate_key},
    error::ApiError,
    rate::{Limiter, wait_secs},
};

/// The rate limiters and the proxies whose word on client addresses counts.
pub struct RateLimits {
    connects: Option<Limiter<IpAddr>>,
    publishes: Option<Limiter<Publisher>>,
    proxies: TrustedProxies,
    /// Open `/events` streams per client address.
    streams: Arc<AddressSlots>,
}

/// The largest path, query string and head a request may have, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct RequestBounds {
    /// Longest path (`--max-path-bytes`).
    pub path: usize,
    /// Longest query string (`--max-query-bytes`).
    pub query: usize,
    /// Largest head, all header names and values (`--max-header-bytes`).
    pub head: usize,
}

/// What the limits are started with.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// New `/events` and `/poll` requests per client address per second; `None`: no limit.
    pub connects_per_sec: Option<NonZeroU32>,
    /// Publishes per publisher per second; `None`: no limit.
    pub publishes_per_sec: Option<NonZeroU32>,
    /// Proxies whose forwarding headers name the client address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Open `/events` streams per client address; 0: no limit.
    pub streams_per_address: usize,
    /// The largest request heads accepted (kept apart from the limiters: see [`bound_request`]).
    pub bounds: RequestBounds,
}

impl RateLimits {
    /// Limiters as configured; a rate of `None` switches that limit off.
    pub fn new(settings: &LimitSettings) -> Self {
        Self {
            connects: settings.connects_per_sec.map(limiter),
            publishes: settings.publishes_per_sec.map(limiter),
            proxies: TrustedProxies::new(settings.trusted_proxies.clone()),
            streams: AddressSlots::new(settings.streams_per_address),
        }
    }

    /// Takes a place for a new `/events` stream of the request's client address, held until
    /// the returned slot is dropped (none when the cap is off or the address is unknown).
    pub fn open_stream(&self, req: &HttpRequest) -> Result<Option<Slot>, ApiError> {
        let Some(ip) = self.client_ip(req) else {
            return Ok(None);
        };
        self.streams
            .take(rate_key(ip))
            .ok_or(ApiError::AddressLimit(self.streams_max()))
    }

    fn streams_max(&self) -> usize {
        self.streams.max()
    }

    /// The client address a request is counted under.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        self.proxies.client_ip(req)
    }

    /// Counts a new `/events` or `/poll` request against its client address.
    pub fn connect(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let (Some(limiter), Some(ip)) = (&self.connects, self.client_ip(req)) else {
            return Ok(());
        };
        check(limiter, &rate_key(ip), "connections from your address")
    }

    /// Counts a publish against the publisher the key proved, not the header's spelling
    /// (`bearer k` and `Bearer  k` are one publisher).
    pub fn publish(&self, publisher: Publisher) -> Result<(), ApiError> {
        let Some(limiter) = &self.publishes else {
            return Ok(());
        };
        check(limiter, &publisher, "publishes with this key")
    }

    /// Keys tracked (both limiters); bounded by the clients of about the last second.
    pub fn tracked(&self) -> usize {
        self.connects.as_ref().map_or(0, Limiter::len)
            + self.publishes.as_ref().map_or(0, Limiter::len)
    }

    /// Forgets keys whose state is back to fresh: they would be admitted as new anyway.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.connects {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.publishes {
            l.retain_recent();
        }
    }

    /// Forgets idle keys once a second, for as long as the relay runs.
    pub async fn run_cleanup(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            self.forget_idle();
        }
    }
}

/// A limiter allowing `per_sec` a second with a burst of as many; none for 0.
fn limiter<K: Clone + std::hash::Hash + Eq>(per_sec: NonZeroU32) -> Limiter<K> {
    Limiter::keyed(Quota::per_second(per_sec))
}

fn check<K>(limiter: &Limiter<K>, key: &K, what: &'static str) -> Result<(), ApiError>
where
    K: Clone + std::hash::Hash + Eq,
{
    wait_secs(limiter, key).map_err(|retry_after| ApiError::RateLimited { what, retry_after })
}

/// Middleware: refuses a request whose head or query string is larger than configured, with a
/// JSON error (actix itself only refuses heads over 128 KiB, with an empty 431). The bounds are
/// app data of their own; were they not registered, every request would fail (500), not pass
/// unchecked.
pub async fn bound_request(
    max: web::Data<RequestBounds>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.path().len() > max.path {
        return Err(ApiError::PathTooLong(max.path).into());
    }
    if req.query_string().len() > max.query {
        return Err(ApiError::QueryTooLong(max.query).into());
    }
    let head: usize = req
        .headers()
        .iter()
        // Name, ": ", value, CRLF, as on the wire.
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if head > max.head {
        return Err(ApiError::HeadersTooLarge(max.head).into());
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn limits(connects_per_sec: u32) -> RateLimits {
        let mut s = crate::config::Settings::defaults();
        s.connects_per_sec = connects_per_sec;
        RateLimits::new(&s.split().limits)
    }

    fn from(ip: IpAddr) -> HttpRequest {
        TestRequest::default()
            .peer_addr((ip, 4000).into())
            .to_http_request()
    }

    #[test]
    fn each_address_has_its_own_budget_and_the_refusal_says_when_to_retry() {
        let l = limits(2);
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        assert!(l.connect(&from(a)).is_ok() && l.connect(&from(a)).is_ok());
        match l.connect(&from(a)) {
            Err(ApiError::RateLimited { retry_after, .. }) => assert_eq!(retry_after, 1),
            other => panic!("expected a rate limit, got {other:?}"),
        }
        assert!(l.connect(&from(b)).is_ok());
    }

    #[test]
    fn idle_addresses_are_forgotten_so_memory_follows_active_clients() {
        let l = limits(100);
        for i in 0..1000u32 {
            assert!(
                l.connect(&from(IpAddr::from((i | 0x0a00_0000).to_be_bytes())))
                    .is_ok()
            );
        }
        assert_eq!(l.tracked(), 1000);
        // One request at 100/s is forgotten after two cells' time (20 ms); this waits the
        // window itself, nothing else.
        std::thread::sleep(Duration::from_millis(100));
        l.forget_idle();
        assert_eq!(l.tracked(), 0);
    }
}
