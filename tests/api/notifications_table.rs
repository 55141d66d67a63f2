//! The notifications table itself, in a real PostgreSQL and a real MariaDB: the shipped schema
//! files, and the upsert that only moves a row forward.

use notify_relay::email::{db::NotificationsDb, notification_log::Record};

use crate::{
    on_both_databases,
    sql_helpers::{Database, Kind, schema_file},
};

/// The columns the issue names, in the schema's order.
const COLUMNS: [&str; 11] = [
    "id",
    "user_id",
    "type",
    "status",
    "error_message",
    "attempts",
    "email",
    "event_ids",
    "smtp_response",
    "created_at",
    "updated_at",
];

fn record(status: &str, attempts: u64, updated_at_ms: u64) -> Record {
    Record {
        id: "1795649633135-0".into(),
        user: "gil".into(),
        kind: "email".into(),
        status: status.into(),
        attempts,
        email: Some("gil@example.com".into()),
        event_ids: vec!["1795649633000-0".into()],
        smtp_response: (status == "sent").then(|| "250 OK".into()),
        error_message: None,
        created_at_ms: 1_795_649_633_135,
        updated_at_ms,
    }
}

async fn a_row_only_moves_forward_and_a_repeated_copy_changes_nothing(kind: Kind) {
    let db = Database::start(kind).await;
    let sink = NotificationsDb::connect_lazy(&db.url(), "notifications").expect("url");
    sink.ensure_table().await.expect("table");
    let t = 1_795_649_633_135;
    sink.upsert(&[record("queued", 0, t)]).await.expect("write");
    sink.upsert(&[record("sent", 1, t + 300)])
        .await
        .expect("write");
    let sent = sink.list(None, None, 10).await.expect("read");
    // Late copies: an earlier attempt, and a `queued` with a later clock.
    sink.upsert(&[record("queued", 1, t + 200)])
        .await
        .expect("write");
    sink.upsert(&[record("queued", 2, t + 900)])
        .await
        .expect("write");
    sink.upsert(&[record("sent", 1, t + 300)])
        .await
        .expect("write");
    let now = sink.list(None, None, 10).await.expect("read");
    assert_eq!(now, sent);
    assert_eq!(now.len(), 1);
    assert_eq!(now[0], record("sent", 1, t + 300));
    // A later change of the same rank still lands.
    sink.upsert(&[record("failed", 2, t + 1_000)])
        .await
        .expect("write");
    let failed = sink.list(None, Some("failed"), 10).await.expect("read");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts, 2);
    assert_eq!(failed[0].updated_at_ms, t + 1_000);
}

async fn the_schema_files_apply_cleanly_and_twice_with_the_databases_own_clients(kind: Kind) {
    let db = Database::start(kind).await;
    let file = schema_file(kind);
    db.apply_file(&file).expect("first run");
    db.apply_file(&file).expect("second run (IF NOT EXISTS)");
    let schema = match kind {
        Kind::Postgres => "current_schema()",
        Kind::MariaDb => "'relay'",
    };
    let columns = db.query(&format!(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = {schema} \
         AND table_name = 'notifications' ORDER BY ordinal_position"
    ));
    let columns: Vec<&str> = columns.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(columns, COLUMNS);
    // The status is one of three.
    let refused = db.try_query(
        "INSERT INTO notifications (id, user_id, status, event_ids, created_at, updated_at) \
         VALUES ('1-0', 'u', 'lost', '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    );
    assert!(refused.is_err(), "status 'lost' was accepted");
}

on_both_databases!(
    a_row_only_moves_forward_and_a_repeated_copy_changes_nothing,
    the_schema_files_apply_cleanly_and_twice_with_the_databases_own_clients,
);
