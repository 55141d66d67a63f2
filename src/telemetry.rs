//! Logging: the subscriber set-up and a request span that never records secrets.

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::LogFormat;

/// Installs the global log subscriber; `RUST_LOG` filters (default `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    // Recent warnings and errors are also kept for the admin page.
    let recent = crate::admin::errors::RecentErrors;
    let result = match format {
        LogFormat::Text => builder.finish().with(recent).try_init(),
        LogFormat::Json => builder.json().finish().with(recent).try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}

/// Request spans with method, path (never the query string, which may carry `?token=`) and the
/// request id.
pub struct RedactedSpan;

impl RootSpanBuilder for RedactedSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        tracing::info_span!(
            "http",
            method = %request.method(),
            path = %request.path(),
            request_id = %request_id,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        if let Ok(res) = outcome {
            span.record("status", res.status().as_u16());
            tracing::debug!(parent: &span, status = res.status().as_u16(), "response");
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The header that carries a request id in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id taken from a client; longer ones are replaced.
const MAX_REQUEST_ID: usize = 64;

/// The id of one request: the client's `X-Request-Id` if usable, else a generated one.
#[derive(Debug, Clone)]
pub struct RequestId(String);

impl RequestId {
    /// Takes a client's id if it is short printable ASCII (no spaces or controls, so it cannot
    /// forge log lines or headers); otherwise makes a new one.
    pub fn from_header(value: Option<&HeaderValue>) -> Self {
        match value.and_then(|v| v.to_str().ok()) {
            Some(id) if is_acceptable(id) => Self(id.to_owned()),
            _ => Self(format!("{:032x}", rand::random::<u128>())),
        }
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_acceptable(id: &str) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Middleware: picks the request id before the request span is built (so the span records
/// it) and echoes it in the response, errors included.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = RequestId::from_header(req.headers().get(&REQUEST_ID));
    let value = HeaderValue::from_str(id.as_str()).ok();
    req.extensions_mut().insert(id);
    let mut res = next.call(req).await?;
    if let Some(value) = value {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_printable_request_id_is_kept_and_others_are_replaced() {
        let keep = HeaderValue::from_static("abc-123_XYZ");
        assert_eq!(RequestId::from_header(Some(&keep)).as_str(), "abc-123_XYZ");
        for bad in ["", "has space", &"x".repeat(65)] {
            let value = HeaderValue::from_str(bad).expect("header");
            let id = RequestId::from_header(Some(&value));
            assert_eq!(id.as_str().len(), 32, "{bad:?} was not replaced");
        }
        assert_eq!(RequestId::from_header(None).as_str().len(), 32);
    }
}
