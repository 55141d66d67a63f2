//! What the email path is started with: one group for the parts that run beside the relay
//! (the mover, the notification log) and one for the mail worker, which also runs
//! alone (`notify-relay mailer`).

use std::{path::PathBuf, time::Duration};

use super::{outbox::OutboxSettings, smtp::SmtpSettings};
use crate::secret::Secret;

/// How the outbox and the notification log run, and whether the worker runs here.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// Run the mail worker inside this relay (`--mailer`).
    pub run_mailer: bool,
    /// How the outbox is fed and the log kept.
    pub outbox: OutboxSettings,
    /// The SQL database that also keeps the notification log, with its table.
    pub db: Option<NotificationsDbSettings>,
    /// The mail worker.
    pub worker: WorkerSettings,
}

/// The notification log's SQL table (`--notifications-db`, `--notifications-table`).
#[derive(Debug, Clone)]
pub struct NotificationsDbSettings {
    /// The database URL, with its credentials.
    pub url: Secret,
    /// The table, a plain identifier.
    pub table: String,
}

/// How the mail worker sends, renders and retries.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The SMTP server and the sender.
    pub smtp: SmtpSettings,
    /// A directory of templates overriding the built-in ones.
    pub templates: Option<PathBuf>,
    /// The app's base URL, for the links in emails.
    pub link_base: Option<String>,
    /// Attempts per email before it is logged as failed.
    pub max_attempts: u64,
    /// First retry delay after a transient failure.
    pub retry: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Idle time after which another worker's pending email is reclaimed.
    pub reclaim_idle: Duration,
    /// Whether log records are also queued for the SQL table.
    pub sql_log: bool,
}
