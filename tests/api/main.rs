//! Integration tests: the real relay on port 0, a real redis-server per test.

mod helpers;

mod delivery;
mod errors;
mod faults;
mod instances;
mod logs;
mod metrics;
mod openapi;
mod poll;
mod pubsub;
mod resume;
mod shutdown;
mod signals;
mod slow;
mod topics;
