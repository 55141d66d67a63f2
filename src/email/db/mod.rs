//! The notification log in the app's own SQL database (`--notifications-db`): PostgreSQL or
//! MySQL/MariaDB, through sqlx.
//!
//! Redis stays the source: every change of a log record also queues a copy of the whole record
//! in the stream `notifications:db` (in the same Lua step as the change, see `log_change.lua`),
//! and the [`writer`] drains that stream into the table in batches. The table is never on the
//! delivery path: if the database is down, copies wait in Redis and are written when it is
//! back. Each row is upserted by `id`, and only moves forward (`queued` before `sent`/`failed`,
//! then more attempts, then a later `updated_at`), so a late or repeated copy changes nothing.
//!
//! The table's definition is `deploy/sql/{postgres,mysql}/notifications.sql`: the relay runs it
//! (with the configured table name) only when the table is missing, so an app that creates the
//! table with its own migrations keeps ownership of it.

use std::{str::FromStr, time::Duration};

use sqlx::{
    MySqlPool, PgPool, Row,
    mysql::{MySqlConnectOptions, MySqlPoolOptions},
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::sync::OnceCell;

use super::notification_log::Record;
use crate::event::UserId;

mod upsert;
pub mod writer;

/// Connections the relay keeps to the database (the writer and the log reads share them).
const POOL_SIZE: u32 = 4;
/// Longest a request waits for a connection before the database counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

const POSTGRES_SCHEMA: &str = include_str!("../../../deploy/sql/postgres/notifications.sql");
const MYSQL_SCHEMA: &str = include_str!("../../../deploy/sql/mysql/notifications.sql");

/// Columns in the order every statement lists them.
const COLUMNS: &str = "id, user_id, type, status, error_message, attempts, email, event_ids, \
                       smtp_response, created_at, updated_at";

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// `--notifications-db` is not a URL sqlx can use.
    #[error("--notifications-db / NOTIFY_NOTIFICATIONS_DB: {0}")]
    Settings(String),
    /// The database refused or could not be reached.
    #[error("notifications database: {0}")]
    Sql(#[from] sqlx::Error),
}

impl DbError {
    /// True when the database refused a statement for the values in it (SQLSTATE class 22,
    /// data exception, or 23, integrity constraint violation): writing it again cannot succeed.
    pub fn is_about_the_data(&self) -> bool {
        match self {
            Self::Sql(sqlx::Error::Database(e)) => e
                .code()
                .is_some_and(|c| c.starts_with("22") || c.starts_with("23")),
            _ => false,
        }
    }
}

#[derive(Debug)]
enum Pool {
    Postgres(PgPool),
    MySql(MySqlPool),
}

/// The `notifications` table in PostgreSQL or MySQL/MariaDB.
#[derive(Debug)]
pub struct NotificationsDb {
    pool: Pool,
    table: String,
    /// Set once the table was found or created.
    ready: OnceCell<()>,
}

impl NotificationsDb {
    /// A pool on `url` (`postgres://` or `mysql://`); connects only when first used, so a
    /// database that is down does not stop the relay from starting.
    pub fn connect_lazy(url: &str, table: &str) -> Result<Self, DbError> {
        let bad = |e: sqlx::Error| DbError::Settings(e.to_string());
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(bad)?;
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(POOL_SIZE)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options),
            )
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let options = MySqlConnectOptions::from_str(url).map_err(bad)?;
            Pool::MySql(
                MySqlPoolOptions::new()
                    .max_connections(POOL_SIZE)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options),
            )
        } else {
            return Err(DbError::Settings(
                "expected a postgres:// or mysql:// URL".into(),
            ));
        };
        Ok(Self {
            pool,
            table: table.to_owned(),
            ready: OnceCell::new(),
        })
    }

    /// Makes sure the table exists: probes it, and runs the schema file only when it is missing.
    pub async fn ensure_table(&self) -> Result<(), DbError> {
        self.ready
            .get_or_try_init(|| async {
                if self.probe().await.is_ok() {
                    return Ok(());
                }
                tracing::info!(table = %self.table, "creating the notifications table");
                match &self.pool {
                    Pool::Postgres(p) => {
                        sqlx::raw_sql(&self.schema(POSTGRES_SCHEMA))
                            .execute(p)
                            .await?;
                    }
                    Pool::MySql(p) => {
                        sqlx::raw_sql(&self.schema(MYSQL_SCHEMA)).execute(p).await?;
                    }
                }
                self.probe().await
            })
            .await
            .copied()
    }

    /// The schema file with the configured table name (also in its index and constraint names).
    fn schema(&self, file: &str) -> String {
        file.replace("notifications", &self.table)
    }

    /// Selects no row but names every column: fails when the table or a column is missing.
    async fn probe(&self) -> Result<(), DbError> {
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE 1 = 0", self.table);
        match &self.pool {
            Pool::Postgres(p) => sqlx::query(&sql).fetch_all(p).await.map(drop)?,
            Pool::MySql(p) => sqlx::query(&sql).fetch_all(p).await.map(drop)?,
        }
        Ok(())
    }

    /// Writes the newest copy of each record; a row only ever moves forward.
    pub async fn upsert(&self, records: &[Record]) -> Result<(), DbError> {
        if records.is_empty() {
            return Ok(());
        }
        match &self.pool {
            Pool::Postgres(p) => {
                let mut q = upsert::postgres(&self.table, records);
                q.build().execute(p).await?;
            }
            Pool::MySql(p) => {
                let mut q = upsert::mysql(&self.table, records);
                q.build().execute(p).await?;
            }
        }
        Ok(())
    }

    /// Records, newest first, optionally of one user and in one status, at most `limit`.
    pub async fn list(
        &self,
        user: Option<&UserId>,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>, DbError> {
        self.ensure_table().await?;
        let limit = limit as i64;
        match &self.pool {
            Pool::Postgres(p) => {
                let select = "id, user_id, type, status, error_message, attempts::bigint, email, \
                    event_ids::text, smtp_response, \
                    (EXTRACT(EPOCH FROM created_at) * 1000)::bigint, \
                    (EXTRACT(EPOCH FROM updated_at) * 1000)::bigint";
                let mut q = sqlx::QueryBuilder::new(format!("SELECT {select} FROM {}", self.table));
                filters(&mut q, user, status);
                q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
                    .push_bind(limit);
                let rows = q.build().fetch_all(p).await?;
                rows.iter().map(from_row).collect()
            }
            Pool::MySql(p) => {
                let select = "id, user_id, type, status, error_message, CAST(attempts AS SIGNED), \
                    email, CAST(event_ids AS CHAR), smtp_response, \
                    TIMESTAMPDIFF(MICROSECOND, '1970-01-01', created_at) DIV 1000, \
                    TIMESTAMPDIFF(MICROSECOND, '1970-01-01', updated_at) DIV 1000";
                let mut q = sqlx::QueryBuilder::new(format!("SELECT {select} FROM {}", self.table));
                filters(&mut q, user, status);
                q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
                    .push_bind(limit);
                let rows = q.build().fetch_all(p).await?;
                rows.iter().map(from_row).collect()
            }
        }
    }
}

/// `WHERE user_id = ? AND status = ?`, for the filters given.
fn filters<'a, DB: sqlx::Database>(
    q: &mut sqlx::QueryBuilder<'a, DB>,
    user: Option<&UserId>,
    status: Option<&str>,
) where
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut word = " WHERE ";
    if let Some(user) = user {
        q.push(word).push("user_id = ").push_bind(user.to_string());
        word = " AND ";
    }
    if let Some(status) = status {
        q.push(word).push("status = ").push_bind(status.to_owned());
    }
}

/// One selected row (columns in the order of the `SELECT`) as a log record.
fn from_row<'r, R: Row>(row: &'r R) -> Result<Record, DbError>
where
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let ms = |i: usize| row.try_get::<i64, _>(i).map(|v| v.max(0) as u64);
    Ok(Record {
        id: row.try_get(0)?,
        user: row.try_get(1)?,
        kind: row.try_get(2)?,
        status: row.try_get(3)?,
        error_message: row.try_get(4)?,
        attempts: row.try_get::<i64, _>(5)?.max(0) as u64,
        email: row.try_get(6)?,
        event_ids: serde_json::from_str(&row.try_get::<String, _>(7)?).unwrap_or_default(),
        smtp_response: row.try_get(8)?,
        created_at_ms: ms(9)?,
        updated_at_ms: ms(10)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_databases_are_taken_under_each_of_their_schemes_and_nothing_else() {
        for url in [
            "postgres://relay:pw@127.0.0.1:1/app",
            "postgresql://relay:pw@127.0.0.1:1/app",
            "mysql://relay:pw@127.0.0.1:1/app",
            "mariadb://relay:pw@127.0.0.1:1/app",
        ] {
            assert!(NotificationsDb::connect_lazy(url, "t").is_ok(), "{url}");
        }
        let err = NotificationsDb::connect_lazy("sqlite://relay:pw@x/app", "t").unwrap_err();
        assert!(err.to_string().contains("NOTIFY_NOTIFICATIONS_DB"), "{err}");
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[tokio::test]
    async fn the_schema_takes_the_configured_table_name_everywhere() {
        let db =
            NotificationsDb::connect_lazy("postgres://127.0.0.1:1/app", "relay_log").expect("url");
        for file in [POSTGRES_SCHEMA, MYSQL_SCHEMA] {
            let schema = db.schema(file);
            assert!(schema.contains("CREATE TABLE IF NOT EXISTS relay_log ("));
            assert!(schema.contains("relay_log_user_id_created_at"));
            assert!(!schema.contains(" notifications "), "{schema}");
        }
    }
}
