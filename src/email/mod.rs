//! Offline delivery: email fallback through a queue, and the notification log.
//!
//! An event published with `"fallback": "email"` (or on a channel configured for it) gives each
//! recipient a grace period to see it live. The path of one such event, each step crash-safe:
//!
//! 1. `append.lua` stores the event and, in the same script, adds `<id>|<user>` to the sorted
//!    set `due`, scored by the end of the grace period.
//! 2. Any instance that hands the event to a live connection of that user (an SSE frame
//!    written, a poll answered, a replay) reports it through [`delivery::Deliveries`]: a
//!    non-blocking send to a task that removes the `due` entries in batches.
//! 3. The bridge lease holder moves `due` entries whose time has come into a per-user digest
//!    ([`outbox`], one Lua script: an entry is removed and moved at once, by one instance), and
//!    flushes each digest when its window closes into the `outbox` stream, with a `queued`
//!    record in the [`notification_log`].
//! 4. The [`mailer`] reads the outbox as a consumer group, renders [`templates`], sends over
//!    SMTP ([`smtp`]), and acknowledges only once the server accepted the mail or the failure
//!    was recorded as permanent.
//!
//! # Layout
//! - [`contacts`]: email addresses and preferences, registered ahead of time by the app.
//! - [`delivery`]: reporting that a fallback event reached a user.
//! - [`outbox`]: due entries to digests to the outbox.
//! - [`mailer`], [`smtp`], [`templates`]: sending.
//! - [`notification_log`]: the notification log and [`EmailStats`].
//! - [`db`]: the notification log in the app's SQL database (`--notifications-db`).

use std::sync::Arc;

use crate::{lease::Leadership, redis_store::RedisStore, tasks::Tasks};

pub mod address;
pub mod contacts;
pub mod db;
pub mod delivery;
pub mod mailer;
pub mod notification_log;
pub mod outbox;
mod settings;
pub mod smtp;
pub mod templates;

pub use settings::{EmailSettings, NotificationsDbSettings, WorkerSettings};

/// Counters of the mail path: the relay's `/metrics` instruments (`notify_emails_*`).
pub type EmailStats = crate::metrics::EmailCounters;

/// Why an email operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// Email needs the Redis broker.
    #[error(
        "email fallback needs the redis broker: start the relay with --redis-url / NOTIFY_REDIS_URL"
    )]
    NeedsRedis,
    /// The contact given is invalid.
    #[error("{0}")]
    BadContact(String),
    /// A query parameter is invalid.
    #[error("{0}")]
    BadQuery(String),
    /// A template is missing or does not compile.
    #[error("email template: {0}")]
    Template(String),
    /// The SMTP settings cannot work.
    #[error("smtp settings: {0}")]
    Smtp(String),
    /// `--notifications-db` cannot be used.
    #[error(transparent)]
    DbSettings(db::DbError),
    /// The notifications database could not answer a read.
    #[error("the notifications database is unavailable; retry shortly")]
    DbUnavailable,
}

/// The email path's parts the HTTP routes use.
pub struct Email {
    /// Reports of fallback events reaching a user.
    pub deliveries: Arc<delivery::Deliveries>,
    /// Contacts and the log; `None` on the memory broker (email needs Redis).
    pub store: Option<Store>,
}

/// The Redis-backed stores of the email path.
pub struct Store {
    /// Contacts and preferences.
    pub contacts: contacts::Contacts,
    /// The notification log.
    pub notification_log: notification_log::NotificationLog,
    /// The log's SQL table, when `--notifications-db` is set: the log is read from there.
    pub db: Option<Arc<db::NotificationsDb>>,
}

impl Store {
    /// The Redis holding the copies that wait for the SQL table, when there is a table.
    pub fn db_queue(&self) -> Option<&RedisStore> {
        self.db.as_ref().map(|_| self.notification_log.redis())
    }

    /// Emails in the outbox not sent yet, over every partition's outbox.
    pub async fn outbox_depth(&self) -> Result<u64, crate::broker::BrokerError> {
        let redis = self.notification_log.redis();
        let mut conn = redis.connection().await?;
        let mut total = 0;
        for p in 0..redis.partitions().len() {
            total += redis::cmd("XLEN")
                .arg(redis.partition_key(p, "outbox"))
                .query_async::<u64>(&mut conn)
                .await
                .map_err(crate::broker::BrokerError::from)?;
        }
        Ok(total)
    }
}

impl Email {
    /// The stores, or the error saying email needs Redis.
    pub fn store(&self) -> Result<&Store, EmailError> {
        self.store.as_ref().ok_or(EmailError::NeedsRedis)
    }
}

/// Starts delivery reports and (on Redis) the outbox mover and, with `--mailer`, the mail
/// worker (named `instance` in the outbox's consumer group), as tasks of `tasks`. Returns what
/// the routes need.
pub fn start(
    settings: &EmailSettings,
    instance: &str,
    redis: Option<(Arc<RedisStore>, Arc<Leadership>)>,
    metrics: &crate::metrics::Metrics,
    tasks: &Tasks,
) -> Result<Email, EmailError> {
    let stats = Arc::new(metrics.email.clone());
    let deliveries =
        delivery::Deliveries::start(redis.as_ref().map(|(r, _)| r.clone()), stats.clone(), tasks);
    let Some((redis, bridge)) = redis else {
        tracing::warn!(
            "email fallback is off: it needs the redis broker (--redis-url); presence is local to this process"
        );
        if settings.run_mailer {
            tracing::warn!("--mailer ignored: the mail worker needs the redis broker");
        }
        if settings.db.is_some() {
            tracing::warn!(
                "--notifications-db ignored: the notification log needs the redis broker"
            );
        }
        return Ok(Email {
            deliveries,
            store: None,
        });
    };
    let db = match &settings.db {
        Some(sql) => {
            let db = db::NotificationsDb::connect_lazy(sql.url.expose(), &sql.table)
                .map(Arc::new)
                .map_err(EmailError::DbSettings)?;
            let (redis, table, bridge) = (redis.clone(), db.clone(), bridge.clone());
            let metrics = metrics.notifications_db.clone();
            tasks.spawn_graceful("notifications-db-writer", |shutdown| {
                db::writer::run(redis, table, bridge, metrics, shutdown)
            });
            Some(db)
        }
        None => None,
    };
    if settings.run_mailer {
        let mailer = mailer(&settings.worker, &redis, &stats, instance, &metrics.trace)?;
        tasks.spawn_graceful("mailer", |shutdown| mailer.run(shutdown));
    }
    let (mover_redis, mover_stats, mover_outbox) =
        (redis.clone(), stats.clone(), settings.outbox.clone());
    tasks.spawn_graceful("email-mover", |shutdown| {
        outbox::run_mover(mover_redis, mover_outbox, bridge, mover_stats, shutdown)
    });
    Ok(Email {
        deliveries,
        store: Some(Store {
            contacts: contacts::Contacts::new(redis.clone()),
            notification_log: notification_log::NotificationLog::new(redis, settings.db.is_some()),
            db,
        }),
    })
}

/// Builds a mail worker from the settings (templates loaded, SMTP settings checked).
pub fn mailer(
    settings: &WorkerSettings,
    redis: &Arc<RedisStore>,
    stats: &Arc<EmailStats>,
    instance: &str,
    trace: &Arc<crate::trace::Tracer>,
) -> Result<mailer::Mailer, EmailError> {
    if settings.link_base.is_none() {
        tracing::warn!("--email-link-base is not set: emails carry no links to images");
    }
    if settings.reclaim_idle <= settings.retry_max + settings.smtp.timeout {
        tracing::warn!(
            "--email-reclaim-secs is not longer than --email-retry-max-ms plus --smtp-timeout-secs: another worker may take over an email still being retried, and send it twice"
        );
    }
    Ok(mailer::Mailer {
        redis: redis.clone(),
        smtp: smtp::Smtp::from_settings(&settings.smtp)?,
        templates: templates::Templates::load(
            settings.templates.as_deref(),
            settings.link_base.clone(),
        )?,
        log: notification_log::NotificationLog::new(redis.clone(), settings.sql_log),
        stats: stats.clone(),
        settings: mailer::MailerSettings {
            consumer: format!("{instance}-{}", std::process::id()),
            max_attempts: settings.max_attempts,
            retry: settings.retry,
            retry_max: settings.retry_max,
            reclaim_idle: settings.reclaim_idle,
        },
        trace: trace.clone(),
    })
}
