//! Logging: the subscriber set-up and a request span that never records secrets.
//!
//! Clients control some logged values (paths, user ids). Text lines quote any value that has a
//! space, quote, `=` or control character, so such a value cannot forge another field or line;
//! JSON lines escape by construction. The request span and its bounds are in `request.rs`.

use tracing_subscriber::{
    EnvFilter, field::MakeExt, fmt, fmt::format::Writer, layer::SubscriberExt,
    util::SubscriberInitExt,
};

pub mod recent;
mod request;

pub use request::{
    FAILURE_LINES_PER_SEC, MAX_LOGGED_PATH, REQUEST_ID, RedactedSpan, RequestId, SpanBody,
    failure_line_budget, request_span, stream_span,
};

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global log subscriber; `RUST_LOG` filters (default `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    // Recent warnings and errors are also kept for the admin page.
    let recent = recent::RecentErrors;
    let result = match format {
        LogFormat::Text => builder
            .fmt_fields(fmt::format::debug_fn(write_field).delimited(" "))
            .finish()
            .with(recent)
            .try_init(),
        LogFormat::Json => builder.json().finish().with(recent).try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}

/// Writes one field of a text line: `name=value`, the value quoted and escaped unless it is a
/// plain word; the message as it is, with line breaks and other controls escaped.
fn write_field(
    w: &mut Writer<'_>,
    field: &tracing::field::Field,
    value: &dyn std::fmt::Debug,
) -> std::fmt::Result {
    let text = format!("{value:?}");
    if field.name() == "message" {
        return text.chars().try_for_each(|c| match c.is_control() {
            true => write!(w, "{}", c.escape_default()),
            false => write!(w, "{c}"),
        });
    }
    write!(w, "{}=", field.name())?;
    if is_plain(&text) || is_quoted(&text) {
        w.write_str(&text)
    } else {
        write!(w, "{text:?}")
    }
}

/// A value that needs no quotes: no space, quote, `=`, control, and not empty.
fn is_plain(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '=' | '\\'))
}

/// A string already quoted by `Debug` (as `&str` fields are): one token however it reads.
fn is_quoted(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return false;
    };
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_some() => {}
            '"' | '\\' => return false,
            c if c.is_control() => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_debug_string_is_one_token_and_anything_else_needs_quotes() {
        assert!(is_quoted(r#""a b=c \" d""#));
        assert!(!is_quoted(r#""a" b="c""#));
        assert!(!is_quoted(r#""a\"#));
        assert!(is_plain("user-42"));
        assert!(!is_plain("victim resume=false"));
        assert!(!is_plain(""));
    }
}
