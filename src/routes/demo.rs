//! Local demo mode only: hands the demo page a token for a user id it picks.

use actix_web::{
    HttpRequest, HttpResponse,
    body::MessageBody,
    cookie::{Cookie, SameSite},
    dev::{ServiceRequest, ServiceResponse},
    http::header,
    middleware::Next,
    web,
};
use serde::{Deserialize, Serialize};

use super::query;
use crate::{
    auth::{Authenticator, TOKEN_COOKIE},
    error::ApiError,
    event::UserId,
};

/// Headers that proxies and CDNs add to say whom they forward for; any of them means the
/// request did not come from this machine's own browser or shell.
const FORWARDING: [&str; 10] = [
    "forwarded",
    "via",
    "x-real-ip",
    "cf-connecting-ip",
    "true-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "x-original-forwarded-for",
    "x-proxyuser-ip",
];

/// Demo mode listens on loopback only, but a local proxy could still carry outside requests
/// in, and a DNS-rebinding page reaches loopback under its own host name. So a request must
/// come from a loopback peer, name a loopback host, and carry no forwarding header.
fn local_only(req: &HttpRequest) -> Result<(), ApiError> {
    let forwarded = req.headers().keys().any(|name| {
        let name = name.as_str();
        name.starts_with("x-forwarded-") || FORWARDING.contains(&name)
    });
    let loopback = req.peer_addr().is_some_and(|a| a.ip().is_loopback());
    let host_ok = match req.headers().get(header::HOST) {
        // HTTP/1.0 without Host: a local tool; a browser always sends one.
        None => true,
        Some(h) => h.to_str().is_ok_and(is_loopback_host),
    };
    if forwarded || !loopback || !host_ok {
        return Err(ApiError::DemoLocalOnly);
    }
    Ok(())
}

/// `localhost`, `127.0.0.1` or `[::1]`, each with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, rest)) if rest.is_empty() || port(rest) => return addr == "::1",
            _ => return false,
        },
        None => match host.split_once(':') {
            Some((name, rest)) if port(&format!(":{rest}")) => name,
            Some(_) => return false,
            None => host,
        },
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1"
}

fn port(rest: &str) -> bool {
    rest.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.parse::<u16>().is_ok())
}

/// Middleware for every route in demo mode: refuses requests not made on this machine.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    local_only(req.request())?;
    next.call(req).await
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    user_id: String,
}

/// The answer to `/demo/token` (demo mode only, so not in the API description).
#[derive(Debug, Serialize)]
struct DemoToken<'a> {
    user_id: &'a str,
    token: &'a str,
    demo: bool,
}

/// Mints a one-hour token for `?user_id=` and sets it as an HttpOnly cookie too.
pub async fn token(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
) -> Result<HttpResponse, ApiError> {
    local_only(&req)?;
    let q: TokenQuery = query(&req)?;
    let user = UserId::parse(&q.user_id)?;
    let token = auth.mint(&user, 3600);
    let cookie = Cookie::build(TOKEN_COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .insert_header(("Cache-Control", "no-store"))
        .json(DemoToken {
            user_id: user.as_str(),
            token: &token,
            demo: true,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_host_names_count_as_local() {
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:8080",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "[::2]",
            "[::1]x",
            "localhost:",
            "localhost:x",
            "",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
