//! A database migrated by an earlier release opens after a migration file was edited in its
//! comments only: the store rewrites the stored checksum it knows, and nothing else.

use super::*;

/// SHA-384 of each backend's `0002_jobs.sql` as it shipped, before its first comment pointed at
/// docs/behaviour.md instead of a document outside the repository.
const SHIPPED_SQLITE_0002: &str = "2631569e2c1b4fba9654bfce3a1694f4f87c1577b63bdf3a7d8c855a78fab92c218c77efcc4b962c33adae92185e15e3";
const SHIPPED_POSTGRES_0002: &str = "292af9f477038d08af8be9700725c2169c68882e6ca46c46b0f946f8c09da5d08ba1810974ecb2c9cf3e8e6428b32ab3";

fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn sqlite_a_database_of_the_shipped_comment_opens_and_a_real_change_still_stops_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    drop(SqliteStore::open(&url).await.expect("the store opens"));
    let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
    // As an earlier release left it: the shipped file's checksum.
    sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 2")
        .bind(bytes(SHIPPED_SQLITE_0002))
        .execute(&mut raw)
        .await
        .unwrap();
    SqliteStore::open(&url)
        .await
        .expect("a database migrated with the shipped 0002 opens");
    // Any other checksum is a file that really changed: sqlx's refusal stands.
    sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 2")
        .bind(vec![7u8; 48])
        .execute(&mut raw)
        .await
        .unwrap();
    match SqliteStore::open(&url).await {
        Err(StoreError::Migrate(e)) => assert!(e.to_string().contains("modified"), "{e}"),
        other => panic!("expected a migration error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn postgres_a_database_of_the_shipped_comment_opens_and_a_real_change_still_stops_it() {
    on_fresh_pg_database(|url| async move {
        pg_store(&url).await.close().await;
        let mut raw = PgConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 2")
            .bind(bytes(SHIPPED_POSTGRES_0002))
            .execute(&mut raw)
            .await
            .unwrap();
        pg_store(&url).await.close().await;
        sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 2")
            .bind(vec![7u8; 48])
            .execute(&mut raw)
            .await
            .unwrap();
        match PgStore::open(&url).await {
            Err(StoreError::Migrate(e)) => assert!(e.to_string().contains("modified"), "{e}"),
            other => panic!("expected a migration error, got {:?}", other.map(|_| ())),
        }
        raw.close().await.unwrap();
    })
    .await;
}
