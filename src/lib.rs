//! notify-relay: pushes per-user notifications from Redis (or HTTP) to browsers over Server-Sent
//! Events and long-poll, with resumable cursors.
//!
//! # Layout
//! - [`event`]: user ids, cursors, the publisher's message and the stored event.
//! - [`broker`]: the log and per-user history (memory or Redis), and the tail of new events.
//! - [`hub`]: this instance's live subscribers and the fan-out to them.
//! - [`ingest`]: the Redis pub/sub bridge into the broker.
//! - [`presence`]: who is online on any instance; [`email`]: email for events a user did not
//!   see live, and the notification log.
//! - [`metrics`]: the Prometheus instruments; [`telemetry`]: logs and request ids.
//! - [`trace`]: the per-user delivery trace; [`admin`]: the operators' page and routes.
//! - [`routes`]: the HTTP surface; [`startup`] wires it all from [`config::Settings`], split
//!   once by [`config`] into the typed group each part takes.
//! - [`tasks`]: the one owner of the background tasks, joined on shutdown.

pub mod address_slots;
pub mod admin;
pub mod auth;
pub mod backoff;
pub mod broker;
pub mod client_addr;
pub mod config;
pub mod cors;
pub mod email;
pub mod error;
pub mod event;
pub mod hub;
pub mod ingest;
pub mod ingest_stream;
pub mod lease;
pub mod limits;
pub mod metrics;
pub mod presence;
pub mod rate;
pub mod redis_store;
pub mod routes;
pub mod secret;
pub mod sse;
pub mod startup;
pub mod tasks;
pub mod telemetry;
pub mod trace;
pub mod transport;
