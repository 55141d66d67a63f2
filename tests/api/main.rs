//! Integration tests: the real relay on port 0, a real redis-server per test.

mod helpers;
mod mail_helpers;

mod contacts;
mod cors;
mod delivery;
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
mod notification_log_bound;
mod notifications_db;
mod notifications_table;
mod openapi;
mod poll;
mod presence;
mod pubsub;
mod resume;
mod security_auth;
mod security_demo;
mod security_email;
mod security_logs;
mod shutdown;
mod signals;
mod slow;
mod sql_helpers;
mod topics;
