//! Cross-origin access to `/events` and `/poll` for the configured origins only.
//!
//! A page on `https://app.example.com` using a relay on `https://notify.example.com` needs the
//! relay to answer with `Access-Control-Allow-Origin: https://app.example.com` and
//! `Access-Control-Allow-Credentials: true` (so `EventSource(url, {withCredentials: true})` and
//! `fetch(.., {credentials: 'include'})` send the cookie), `Vary: Origin` (so caches keep answers
//! per origin), and a preflight answer for `/poll` with an `Authorization` header. actix-cors does
//! all of it; a request from any other origin is served without CORS headers, so the browser does
//! not let that page read it.

use actix_cors::Cors;
use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, header},
    middleware::Next,
};

use crate::error::ApiError;

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: usize = 600;

/// The CORS middleware for the subscriber routes. With no origins it allows none: same-origin
/// requests carry on as before, and nothing cross-origin is granted.
pub fn subscriber_cors<'a>(origins: impl IntoIterator<Item = &'a str>) -> Cors {
    origins
        .into_iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([Method::GET])
        .allowed_headers([
            header::AUTHORIZATION,
            header::ACCEPT,
            header::CACHE_CONTROL,
            header::HeaderName::from_static("last-event-id"),
        ])
        // A 429 or 503 says when to retry; let the page's script read it.
        .expose_headers([header::RETRY_AFTER])
        .supports_credentials()
        .max_age(PREFLIGHT_MAX_AGE)
}

/// Wrapped around [`subscriber_cors`]: actix-cors adds `Access-Control-Allow-Credentials` and
/// `-Expose-Headers` to every answer, even for an origin it did not allow. Without an
/// `Access-Control-Allow-Origin` they grant nothing, but they suggest otherwise to anyone
/// auditing the headers, so they go. A refused preflight gets our JSON error instead of
/// actix-cors's plain-text 400.
pub async fn only_for_allowed(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut res = next.call(req).await?;
    if preflight && res.status().is_client_error() {
        let why = res.response().error().map_or_else(
            || "cross-origin request refused".to_owned(),
            ToString::to_string,
        );
        return Err(ApiError::CorsRefused(why).into());
    }
    let headers = res.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
    }
    Ok(res)
}

/// The preflights [`subscriber_cors`] answers, described for the API description; the routes
/// whose paths appear here are the ones wrapped with it (see `routes::configure`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(events_preflight, poll_preflight))]
pub struct PreflightDoc;

/// Describes the preflight of one CORS-wrapped path: the middleware answers it, the function
/// only carries the description.
macro_rules! preflight {
    ($name:ident, $path:tt, $summary:tt) => {
        #[doc = $summary]
        #[doc = "this function only carries the description."]
        #[utoipa::path(
            options, path = $path, tag = "subscribe",
            params(
                ("Origin" = String, Header, description = "The page's origin"),
                ("Access-Control-Request-Method" = String, Header, pattern = r"^[A-Za-z]{1,16}$", description = "The method the page will use (`GET`); without a valid one the request is no preflight"),
                ("Access-Control-Request-Headers" = Option<String>, Header, description = "Headers the page will send"),
            ),
            responses(
                (status = 200, description = "Allowed: the `Access-Control-Allow-*` headers say what"),
                (status = 403, description = "Refused: origin, method or header not allowed, or no Origin (`cors_refused`)", body = crate::error::ErrorBody),
                (status = 405, description = "Not a preflight (no valid `Access-Control-Request-Method`): OPTIONS is not served otherwise (`method_not_allowed`)", body = crate::error::ErrorBody),
            )
        )]
        pub fn $name() {}
    };
}

preflight!(
    events_preflight,
    "/events",
    "CORS preflight for `/events`: granted only to the --cors-origins. Answered by the middleware;"
);
preflight!(
    poll_preflight,
    "/poll",
    "CORS preflight for `/poll`: granted only to the --cors-origins. Answered by the middleware;"
);

/// The paths whose preflights [`PreflightDoc`] describes: the routes CORS applies to.
pub fn cors_paths() -> Vec<String> {
    use utoipa::OpenApi;
    PreflightDoc::openapi().paths.paths.into_keys().collect()
}
