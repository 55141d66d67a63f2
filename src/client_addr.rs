//! Who is connecting: the client's address, from forwarding headers only when a trusted proxy
//! set them.
//!
//! `X-Forwarded-For` and `X-Real-IP` are plain request headers: anyone can send them. They are
//! believed only when the peer (the TCP connection's other end) is one of `--trusted-proxies`.
//! Then `X-Forwarded-For` is read from the right, skipping further trusted proxies, and the first
//! other address is the client: entries to its left were written by the client itself and could
//! say anything.

use std::net::IpAddr;

use actix_web::{HttpRequest, http::header::HeaderName};
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// Trusts the proxies in `nets` (none: forwarding headers are ignored).
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self { nets }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the peer, or what a trusted peer says the client is.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip().to_canonical();
        if !self.trusts(peer) {
            return Some(peer);
        }
        Some(
            self.forwarded_client(req)
                .or_else(|| header_ip(req, &X_REAL_IP))
                .unwrap_or(peer),
        )
    }

    /// The rightmost address in `X-Forwarded-For` that is not a trusted proxy. An unreadable
    /// entry stops the walk: what lies left of it cannot be attributed to a trusted hop.
    fn forwarded_client(&self, req: &HttpRequest) -> Option<IpAddr> {
        let values: Vec<&str> = req
            .headers()
            .get_all(X_FORWARDED_FOR)
            .filter_map(|v| v.to_str().ok())
            .collect();
        let mut last_trusted = None;
        for entry in values.iter().rev().flat_map(|v| v.rsplit(',')) {
            let ip = parse_ip(entry)?;
            if !self.trusts(ip) {
                return Some(ip);
            }
            last_trusted = Some(ip);
        }
        last_trusted
    }
}

fn header_ip(req: &HttpRequest, name: &HeaderName) -> Option<IpAddr> {
    parse_ip(req.headers().get(name)?.to_str().ok()?)
}

/// An address as proxies write it: `1.2.3.4`, `2001:db8::1`, or with a port
/// (`1.2.3.4:5678`, `[2001:db8::1]:5678`).
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .map(|ip| ip.to_canonical())
}

/// The key a client is counted under: its address, or for IPv6 its /64, since one subscriber
/// line usually holds a whole /64 and could otherwise rotate through addresses at will.
pub fn rate_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn req(peer: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        for (k, v) in headers {
            r = r.append_header((*k, *v));
        }
        r.to_http_request()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let p = proxies(&["10.0.0.0/8"]);
        let r = req(
            "203.0.113.9",
            &[("x-forwarded-for", "1.1.1.1"), ("x-real-ip", "2.2.2.2")],
        );
        assert_eq!(p.client_ip(&r), ip("203.0.113.9"));
        assert_eq!(
            TrustedProxies::default().client_ip(&req("10.0.0.1", &[("x-real-ip", "2.2.2.2")])),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_trusted_peer_names_the_client_and_spoofed_entries_to_its_left_do_not_count() {
        let p = proxies(&["10.0.0.0/8"]);
        let r = req(
            "10.0.0.2",
            &[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.3")],
        );
        assert_eq!(p.client_ip(&r), ip("198.51.100.7"));
        let r = req("10.0.0.2", &[("x-real-ip", "198.51.100.8")]);
        assert_eq!(p.client_ip(&r), ip("198.51.100.8"));
        let r = req("10.0.0.2", &[("x-forwarded-for", "garbage, 198.51.100.9")]);
        assert_eq!(p.client_ip(&r), ip("198.51.100.9"));
        let r = req("10.0.0.2", &[]);
        assert_eq!(p.client_ip(&r), ip("10.0.0.2"));
    }

    #[test]
    fn ipv6_clients_count_per_slash_64() {
        assert_eq!(
            rate_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            rate_key("192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
