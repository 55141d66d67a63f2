//! The recent WARN and ERROR log lines of this process, for the admin page.
//!
//! A `tracing` layer beside the log writer copies each WARN or ERROR event (message and fields,
//! as the log shows them) into a ring of the last [`KEEP`]. Nothing secret is logged anywhere,
//! so nothing secret lands here.

use std::{
    collections::VecDeque,
    fmt::Write as _,
    sync::{Mutex, OnceLock},
};

use serde_json::{Value, json};
use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{Layer, layer::Context};

use crate::event::now_ms;

/// Lines kept.
pub const KEEP: usize = 100;

fn ring() -> &'static Mutex<VecDeque<Value>> {
    static RING: OnceLock<Mutex<VecDeque<Value>>> = OnceLock::new();
    RING.get_or_init(|| Mutex::new(VecDeque::with_capacity(KEEP)))
}

/// The recent lines, newest first.
pub fn recent() -> Vec<Value> {
    ring()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .cloned()
        .collect()
}

/// The layer that fills the ring.
pub struct RecentErrors;

impl<S: Subscriber> Layer<S> for RecentErrors {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        let record = json!({
            "at_ms": now_ms(),
            "level": level.as_str(),
            "message": line.message,
            "fields": line.fields.trim_start(),
        });
        let mut ring = ring().lock().unwrap_or_else(|p| p.into_inner());
        ring.push_front(record);
        ring.truncate(KEEP);
    }
}

#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl tracing::field::Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}
