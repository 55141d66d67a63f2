//! Integration tests: the real relay on port 0, a real redis-server per test.

mod helpers;
mod mail_helpers;

mod cache;
mod contacts;
mod cors;
mod delivery;
mod drain;
mod email;
mod email_instances;
mod email_smtp;
mod errors;
mod faults;
mod instances;
mod lifetime;
mod limits;
mod logs;
mod metrics;
mod openapi;
mod poll;
mod presence;
mod pubsub;
mod resume;
mod shutdown;
mod signals;
mod slow;
mod topics;
