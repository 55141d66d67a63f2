//! Settings: clap parses the flat flags (each with a `NOTIFY_*` environment equivalent), they
//! are checked together, then split once into the typed group each part of the relay takes.
//!
//! Sits just below `startup`: it builds the groups of the modules it configures, and no module
//! but `startup` (and `main`) reads it.
//!
//! # Layout
//! - `flags`: [`Settings`], the flat clap struct (every flag, variable, default and range).
//! - `check`: [`SettingsError`] and [`Settings::validate`]; `secrets`: the secrets' checks
//!   and [`Settings::warnings`].
//! - `read`: what the flags say once combined (the Redis to use, the ingest stream).
//! - `groups`: [`Settings::split`] into [`Config`].

mod check;
mod flags;
mod groups;
mod read;
mod secrets;

pub use check::SettingsError;
pub use flags::Settings;
pub use groups::{BrokerSettings, Config, ServerSettings};
pub use secrets::MIN_SECRET_BYTES;

// The types of some flags belong to the parts they configure; named here too, as before.
pub use crate::{
    broker::DEFAULT_IDEMPOTENCY_TTL_SECS, email::smtp::SmtpTls, secret::Secret,
    telemetry::LogFormat,
};

/// The notification log's table name unless --notifications-table says otherwise.
pub const DEFAULT_NOTIFICATIONS_TABLE: &str = "notifications";
/// Default of --ingest-stream on the Redis broker.
pub const DEFAULT_INGEST_STREAM: &str = "notify:ingest";
/// Default of --ingest-group.
pub const DEFAULT_INGEST_GROUP: &str = "notify-relay";
/// Default of --ingest-claim-secs.
pub const DEFAULT_INGEST_CLAIM_SECS: u64 = 30;

/// Default of `--max-topic-recipients`: large enough for any follower set a publish should
/// reach at once, small enough that one publish cannot grow Redis without bound.
pub const DEFAULT_MAX_TOPIC_RECIPIENTS: u64 = 100_000;

/// Default of `--max-connections-per-address`: far more tabs than one household or office NAT
/// opens, so it refuses only an address trying to hold many sockets.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: u32 = 256;

/// Default of `--cache-bytes`: 64 MiB, some 200,000 small events.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

#[cfg(test)]
mod tests;
