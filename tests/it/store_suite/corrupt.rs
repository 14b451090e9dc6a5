//! Stored values that do not parse: a clear error on every read that meets them.

use super::*;

/// A raw connection to a store's database, to write what the store itself never would.
enum Raw {
    Sqlite(sqlx::SqliteConnection),
    Postgres(PgConnection),
}

impl Raw {
    async fn execute(&mut self, sql: &str) {
        let done = match self {
            Raw::Sqlite(conn) => sqlx::query(sql)
                .execute(conn)
                .await
                .map(|r| r.rows_affected()),
            Raw::Postgres(conn) => sqlx::query(sql)
                .execute(conn)
                .await
                .map(|r| r.rows_affected()),
        };
        assert_eq!(done.unwrap_or_else(|e| panic!("{sql}: {e}")), 1, "{sql}");
    }
}

#[tokio::test]
async fn sqlite_a_stored_value_that_does_not_parse_is_a_corrupt_error_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SqliteStore::open(&url)
        .await
        .expect("the SQLite store opens");
    let raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
    a_stored_value_that_does_not_parse_is_a_corrupt_error_naming_it(
        Arc::new(store),
        Raw::Sqlite(raw),
    )
    .await;
}

#[tokio::test]
async fn postgres_a_stored_value_that_does_not_parse_is_a_corrupt_error_naming_it() {
    on_fresh_pg_database(|url| async move {
        let store = pg_store(&url).await;
        let raw = PgConnection::connect(&url).await.unwrap();
        a_stored_value_that_does_not_parse_is_a_corrupt_error_naming_it(
            Arc::new(store.clone()),
            Raw::Postgres(raw),
        )
        .await;
        store.close().await;
    })
    .await;
}

/// The stored text of a job kind, a connector's features and an attempt's outcome is parsed on
/// every read: a value the domain does not know is `Corrupt`, naming the value (and, where the
/// driver reports it, the column), on every read that meets it.
async fn a_stored_value_that_does_not_parse_is_a_corrupt_error_naming_it(
    store: Arc<dyn Store>,
    mut raw: Raw,
) {
    let corrupt = |what: &str, result: Result<String, StoreError>, words: &[&str]| match result {
        Err(StoreError::Corrupt(message)) => {
            for word in words {
                assert!(
                    message.contains(word),
                    "{what}: `{word}` not in `{message}`"
                );
            }
        }
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    };
    store.insert_tenant(&tenant("tenant-a", T0)).await.unwrap();
    let c = connector("tenant-a", "c1", "HOST-1", T0);
    add_connector(&store, &c).await;
    store
        .insert_jobs(&[
            job("tenant-a", "j1", "pkcs_create", T0),
            job("tenant-a", "j2", "revoke", T0),
        ])
        .await
        .unwrap();
    lease(&store, "tenant-a", "c1", &["revoke"], T0, &tokens(&["t2"])).await;
    store
        .complete_job(&succeeded(&"j2".into(), "t2", T0 + 1))
        .await
        .unwrap();

    raw.execute("UPDATE jobs SET kind = 'pkcs_bogus' WHERE id = 'j1'")
        .await;
    raw.execute("UPDATE connectors SET features = 'pkcs,telepathy' WHERE id = 'c1'")
        .await;
    raw.execute("UPDATE job_attempts SET outcome = 'vanished' WHERE job_id = 'j2'")
        .await;

    let (t, j1) = (&"tenant-a".into(), &"j1".into());
    fn debug<T: std::fmt::Debug>(result: StoreResult<T>) -> StoreResult<String> {
        result.map(|v| format!("{v:?}"))
    }
    corrupt(
        "get_job",
        debug(store.get_job(t, j1).await),
        &["kind", "pkcs_bogus"],
    );
    corrupt(
        "get_jobs",
        debug(store.get_jobs(t, &[j1]).await),
        &["pkcs_bogus"],
    );
    corrupt(
        "list_jobs",
        debug(store.list_jobs(t, None, None, -1, 0).await),
        &["kind", "pkcs_bogus"],
    );
    corrupt(
        "job_stats",
        debug(store.job_stats().await),
        &["kind", "pkcs_bogus"],
    );
    corrupt(
        "get_connector",
        debug(store.get_connector(t, &"c1".into()).await),
        &["features", "telepathy"],
    );
    corrupt(
        "connector_by_credential",
        debug(store.connector_by_credential("cred-c1").await),
        &["features", "telepathy"],
    );
    corrupt(
        "job_attempts",
        debug(store.job_attempts(&"j2".into()).await),
        &["outcome", "vanished"],
    );
    corrupt(
        "attempt_outcomes",
        debug(store.attempt_outcomes().await),
        &["vanished"],
    );
    // What parses is read as before.
    assert_eq!(
        store.get_job(t, &"j2".into()).await.unwrap().state.as_str(),
        "succeeded"
    );
}
