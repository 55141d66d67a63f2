//! The request span: each request's id, method and path (never the query string), its end, and
//! the bounds that keep clients from filling the log.
//!
//! A request's path is logged at most [`MAX_LOGGED_PATH`] bytes long, and refused requests (4xx)
//! are logged at DEBUG only: at the default level, bad requests write nothing, however many come.
//! The relay's own failures (5xx) are written at most [`FAILURE_LINES_PER_SEC`] a second.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use actix_web::{
    Error, HttpMessage,
    body::{BodySize, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
    web::Bytes,
};
use tracing::{Instrument, Span};
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

/// Most per-request failure lines written in one second; past it they are counted, and the
/// next line written says how many were left out. A broker outage makes every request fail,
/// and anyone can send requests.
pub const FAILURE_LINES_PER_SEC: u64 = 20;

/// The budget of [`FAILURE_LINES_PER_SEC`]: the current second, lines written in it, lines left
/// out since the last one written.
static FAILURE_LINES: std::sync::Mutex<(u64, u64, u64)> = std::sync::Mutex::new((0, 0, 0));

/// Whether a per-request failure line may be written now; if so, how many were left out
/// before it.
pub fn failure_line_budget() -> Option<u64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut guard = FAILURE_LINES.lock().unwrap_or_else(|e| e.into_inner());
    let (second, written, suppressed) = &mut *guard;
    if *second != now {
        (*second, *written) = (now, 0);
    }
    if *written >= FAILURE_LINES_PER_SEC {
        *suppressed += 1;
        return None;
    }
    *written += 1;
    Some(std::mem::take(suppressed))
}

/// Longest path written to the log, in bytes; longer ones are cut (a path can be kilobytes).
pub const MAX_LOGGED_PATH: usize = 200;

/// `path`, cut to [`MAX_LOGGED_PATH`] bytes on a character boundary, marked when cut.
fn logged_path(path: &str) -> std::borrow::Cow<'_, str> {
    if path.len() <= MAX_LOGGED_PATH {
        return path.into();
    }
    let mut end = MAX_LOGGED_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...({} bytes)", &path[..end], path.len()).into()
}

/// Request spans with method, path (never the query string, which may carry `?token=`; cut to
/// [`MAX_LOGGED_PATH`]) and the request id.
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
            path = %logged_path(request.path()),
            request_id = %request_id,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(res) => res.status(),
            Err(e) => e.as_response_error().status_code(),
        };
        span.record("status", status.as_u16());
        let error = match outcome {
            Ok(res) => res.response().error().map(ToString::to_string),
            Err(e) => Some(e.to_string()),
        };
        // The relay's own failures are worth a line each; a client's mistakes are not, at the
        // default level: anyone can send them, as fast as they like.
        match error {
            Some(error) if status.is_server_error() => {
                if let Some(suppressed) = failure_line_budget() {
                    tracing::error!(parent: &span, status = status.as_u16(), error = %error, suppressed, "request failed");
                }
            }
            Some(error) => {
                tracing::debug!(parent: &span, status = status.as_u16(), error = %error, "request refused");
            }
            None => tracing::debug!(parent: &span, status = status.as_u16(), "response"),
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

/// Middleware: the request's id and span. Picks the request id (the client's `X-Request-Id` if
/// usable), runs the request inside a span that carries it ([`RedactedSpan`]), logs the request's
/// end, and echoes the id in the response, errors included.
///
/// A body of known size is written inside the span too; a streamed one (an SSE stream, a waiting
/// poll) is not: its span would live as long as the stream (about 1.4 KB per idle stream at
/// `info`). An SSE stream keeps only its request id and writes its later lines (its close)
/// inside [`stream_span`], a span with the same fields.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<SpanBody<impl MessageBody>>, Error> {
    let id = RequestId::from_header(req.headers().get(&REQUEST_ID));
    let value = HeaderValue::from_str(id.as_str()).ok();
    req.extensions_mut().insert(id);
    let span = RedactedSpan::on_request_start(&req);
    let outcome = next.call(req).instrument(span.clone()).await;
    RedactedSpan::on_request_end(span.clone(), &outcome);
    let mut res = outcome?;
    if let Some(value) = value {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    let streamed = matches!(res.response().body().size(), BodySize::Stream);
    let span = (!streamed).then_some(span);
    Ok(res.map_body(|_, body| SpanBody { body, span }))
}

pin_project_lite::pin_project! {
    /// A response body written inside its request's span (none for SSE streams).
    pub struct SpanBody<B> {
        #[pin]
        body: B,
        span: Option<Span>,
    }
}

impl<B: MessageBody> MessageBody for SpanBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        match this.span {
            Some(span) => span.in_scope(|| this.body.poll_next(cx)),
            None => this.body.poll_next(cx),
        }
    }
}

/// The request span of an SSE stream, made again for a line the stream writes after its request
/// has been answered: the same name and fields as the span the request ran in.
pub fn stream_span(request_id: &str) -> Span {
    tracing::info_span!(
        "http",
        method = %"GET",
        path = %"/events",
        request_id = %request_id,
        status = 200u16,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_cut_for_the_log() {
        assert_eq!(logged_path("/events"), "/events");
        let long = format!("/{}", "é".repeat(500));
        let cut = logged_path(&long);
        assert!(cut.len() < MAX_LOGGED_PATH + 20, "{cut}");
        assert!(cut.ends_with("(1001 bytes)"), "{cut}");
    }

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
