//! The batch upsert, one statement per batch, in each database's dialect.
//!
//! A row only moves forward. Its position is `(rank of status, attempts, updated_at)`, with
//! `queued` ranked before `sent` and `failed`; a copy replaces the row only when its position is
//! not behind the row's. So a late `queued` never overwrites `sent`, and writing the same copy
//! twice (a writer that died between the commit and the removal from Redis) changes nothing.

use sqlx::{MySql, Postgres, QueryBuilder};

use super::COLUMNS;
use crate::email::notification_log::Record;

/// Columns a newer copy replaces (`created_at` never changes; `id` is the key).
const UPDATED: [&str; 8] = [
    "user_id",
    "type",
    "error_message",
    "email",
    "event_ids",
    "smtp_response",
    // MySQL assigns left to right and later conditions see earlier assignments: these three
    // come last, in this order, so the condition keeps its first value (see `mysql`).
    "updated_at",
    "attempts",
];

/// The row values. `json` wraps the event ids' placeholder into the dialect's JSON value;
/// `time` wraps a time placeholder into its timestamp, the placeholder given in ms times `time.2`.
fn values<'a, DB: sqlx::Database>(
    q: &mut QueryBuilder<'a, DB>,
    records: &'a [Record],
    json: (&str, &str),
    time: (&str, &str, i64),
) where
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push(" VALUES ");
    for (i, r) in records.iter().enumerate() {
        q.push(if i == 0 { "(" } else { ", (" });
        q.push_bind(clip(&r.id, 64)).push(", ");
        q.push_bind(clip(&r.user, 128)).push(", ");
        q.push_bind(clip(&r.kind, 16)).push(", ");
        q.push_bind(clip(&r.status, 16)).push(", ");
        q.push_bind(r.error_message.clone()).push(", ");
        q.push_bind(
            i64::try_from(r.attempts)
                .unwrap_or(i64::MAX)
                .min(i32::MAX.into()),
        );
        q.push(", ")
            .push_bind(r.email.as_deref().map(|e| clip(e, 320)));
        q.push(", ").push(json.0);
        q.push_bind(serde_json::to_string(&r.event_ids).unwrap_or_else(|_| "[]".into()));
        q.push(json.1).push(", ");
        q.push_bind(r.smtp_response.clone()).push(", ");
        let ms = |v: u64| i64::try_from(v).unwrap_or(i64::MAX).saturating_mul(time.2);
        q.push(time.0).push_bind(ms(r.created_at_ms)).push(time.1);
        q.push(", ")
            .push(time.0)
            .push_bind(ms(r.updated_at_ms))
            .push(time.1);
        q.push(")");
    }
}

/// At most `n` characters: a value the column cannot hold would stop every later write.
fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// `INSERT .. ON CONFLICT (id) DO UPDATE .. WHERE <the copy is not behind the row>`.
pub(super) fn postgres<'a>(table: &str, records: &'a [Record]) -> QueryBuilder<'a, Postgres> {
    let mut q = QueryBuilder::new(format!("INSERT INTO {table} ({COLUMNS})"));
    values(
        &mut q,
        records,
        ("CAST(", " AS jsonb)"),
        ("TIMESTAMPTZ 'epoch' + ", " * INTERVAL '1 millisecond'", 1),
    );
    q.push(" ON CONFLICT (id) DO UPDATE SET ");
    for (i, c) in UPDATED.iter().chain(["status"].iter()).enumerate() {
        q.push(if i == 0 { "" } else { ", " });
        q.push(format!("{c} = EXCLUDED.{c}"));
    }
    let rank = |t: &str| format!("CASE WHEN {t}.status = 'queued' THEN 0 ELSE 1 END");
    q.push(format!(
        " WHERE ({}, {table}.attempts, {table}.updated_at) <= ({}, EXCLUDED.attempts, EXCLUDED.updated_at)",
        rank(table),
        rank("EXCLUDED"),
    ));
    q
}

/// `INSERT .. ON DUPLICATE KEY UPDATE c = IF(<the copy is not behind the row>, VALUES(c), c)`.
///
/// Assignments run left to right and each sees the ones before it, so the condition's own
/// columns are assigned last: `updated_at`, then `attempts`, then `status`. When the condition
/// held, it still holds after each of them is given the copy's value; when it did not, nothing
/// was assigned, so it still does not.
pub(super) fn mysql<'a>(table: &str, records: &'a [Record]) -> QueryBuilder<'a, MySql> {
    let mut q = QueryBuilder::new(format!("INSERT INTO {table} ({COLUMNS})"));
    values(
        &mut q,
        records,
        ("", ""),
        ("DATE_ADD('1970-01-01', INTERVAL ", " MICROSECOND)", 1_000),
    );
    let newer = "(IF(status = 'queued', 0, 1), attempts, updated_at) <= \
                 (IF(VALUES(status) = 'queued', 0, 1), VALUES(attempts), VALUES(updated_at))";
    q.push(" ON DUPLICATE KEY UPDATE ");
    for (i, c) in UPDATED.iter().chain(["status"].iter()).enumerate() {
        q.push(if i == 0 { "" } else { ", " });
        q.push(format!("{c} = IF({newer}, VALUES({c}), {c})"));
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            id: "1-0".into(),
            user: "u".into(),
            kind: "email".into(),
            status: "sent".into(),
            attempts: 2,
            email: Some("u@example.com".into()),
            event_ids: vec!["1-0".into()],
            smtp_response: Some("250 OK".into()),
            error_message: None,
            created_at_ms: 5,
            updated_at_ms: 6,
        }
    }

    #[test]
    fn mysql_assigns_the_columns_of_its_condition_last_with_status_at_the_very_end() {
        let records = [record()];
        let sql = mysql("notifications", &records).into_sql();
        let update = sql.split("ON DUPLICATE KEY UPDATE").nth(1).expect("update");
        let at = |c: &str| update.find(&format!("{c} = IF")).expect(c);
        assert!(at("smtp_response") < at("updated_at"), "{update}");
        assert!(at("updated_at") < at("attempts"), "{update}");
        assert!(at("attempts") < at("status"), "{update}");
    }

    #[test]
    fn every_record_gets_eleven_placeholders_in_a_row_of_its_own() {
        let records = [record(), record()];
        let sql = postgres("notifications", &records).into_sql();
        assert!(sql.contains("$22"), "{sql}");
        assert!(!sql.contains("$23"), "{sql}");
        assert_eq!(sql.matches("AS jsonb)").count(), 2, "{sql}");
    }
}
