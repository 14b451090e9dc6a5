//! The SQLite store (the embedded default): a file in WAL mode, or `sqlite::memory:`.
//!
//! One connection serialises all statements. That makes the limit check, uniqueness and
//! read-modify-write sequences atomic without SQLite's deferred-transaction upgrade failures, and
//! it is what an in-memory database needs anyway (each connection would get its own database).
//! Because this process is then the database's only user, the store keeps the rows every
//! connector call reads in memory (`cache`), and writes a check-in's row, reconciliation and
//! health message as one command when the row is cached (`record_presence`). The queue's paths
//! are in `queue`; everything else is the statements `Store` provides for both databases.

mod cache;
mod queue;

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::Mutex;

use self::cache::{apply_connector_update, apply_reconciled, Cache};
use super::engine::{self, positional, AnyRow, Decoded, Engine, Statement};
use super::rows::{
    Completion, ConnectorRow, DeviceKeyRow, EnqueueKeyRow, HealthWrite, HistoryRow, JobRow,
    LeaseJobs, Reconciled, ReleaseRow, TenantRow,
};
use super::sql;
use super::{interpret, presence_one_write_at_a_time, Store, StoreError, StoreResult};
use crate::domain::{ConnectorId, JobId, TenantId};

/// The store's one connection, behind an async mutex rather than a pool: handing it from one
/// caller to the next is an unlock, where a one-connection pool spawned a task and pinged sqlx's
/// worker thread on every release.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<SqliteConnection>>,
    cache: Arc<std::sync::Mutex<Cache>>,
}

/// A statement with its parameters, as sqlx's SQLite driver takes it.
type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// The URL of an in-memory database.
const IN_MEMORY: &str = "sqlite::memory:";

/// The file an `sqlite:` URL names; `None` for an in-memory database (`sqlite::memory:`,
/// `mode=memory`) or a URL that does not parse (opening it reports that).
pub fn file_of(url: &str) -> Option<std::path::PathBuf> {
    if url == IN_MEMORY || url.contains("mode=memory") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (file.as_os_str() != ":memory:").then(|| file.to_path_buf())
}

impl SqliteStore {
    /// The cache; lock it only while holding `conn` (see `cache`'s invariant).
    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens (creating if needed) the database at `url` and runs the embedded migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = if url == IN_MEMORY {
            // An in-memory database lives in SQLite's `memdb` VFS, as a file in memory, rather
            // than in SQLite's own in-memory mode, where every page lives in the page cache. There
            // each commit after a b-tree rebalance walks the whole cache's hash table (the
            // rebalance parks a page at the pending-byte page number, 262,145, and the commit's
            // truncation to the database's size then scans every slot), so every commit got
            // slower as the database grew (see BENCHMARKS.md, "Virtual time"). Behind the VFS
            // the cache holds at most `cache_size` pages and the walk stays small. The name is
            // private to this one connection (no leading `/`); the journal stays in memory too.
            // memdb stops a database at 1 GiB ("database or disk is full") unless SQLite is built
            // with a larger limit: `.cargo/config.toml` builds it with 1 TiB.
            SqliteConnectOptions::new()
                .filename("intune-mock")
                .vfs("memdb")
                .journal_mode(SqliteJournalMode::Memory)
                .synchronous(SqliteSynchronous::Off)
                .pragma("cache_size", "-8192")
        } else {
            SqliteConnectOptions::from_str(url)
                .map_err(StoreError::Backend)?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                // 32 MiB of page cache (the default is 2 MiB): a busy queue's pages stay in
                // memory instead of being read back from the file for every statement.
                .pragma("cache_size", "-32768")
        };
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            // Statement journals (a multi-row statement inside a transaction keeps one, to undo
            // just that statement) stay in memory instead of spilling to a temporary file.
            .pragma("temp_store", "memory")
            .busy_timeout(std::time::Duration::from_secs(10));
        // The migrations run through a one-connection pool (the migrator's future over a bare
        // `&mut SqliteConnection` trips rustc's "`Send` is not general enough" where the
        // service is spawned); the store then keeps that connection, detached from the pool, for
        // its whole life, which is also how long an in-memory database lives.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(StoreError::Backend)?;
        let migrator = sqlx::migrate!("migrations/sqlite");
        adopt_comment_edits(&pool, &migrator).await?;
        migrator.run(&pool).await.map_err(StoreError::Migrate)?;
        let conn = pool.acquire().await.map_err(StoreError::Backend)?.detach();
        pool.close().await;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            cache: Arc::default(),
        })
    }
}

// ----- statements on the locked connection ------------------------------------------------------

async fn execute_on(conn: &mut SqliteConnection, statement: Statement<'_>) -> StoreResult<u64> {
    let Statement { text, params } = statement;
    let done = engine::query(&text, params)
        .execute(conn)
        .await
        .map_err(interpret)?;
    Ok(done.rows_affected())
}

async fn fetch_on(
    conn: &mut SqliteConnection,
    statement: Statement<'_>,
) -> StoreResult<Vec<AnyRow>> {
    let Statement { text, params } = statement;
    let rows = engine::query(&text, params)
        .fetch_all(conn)
        .await
        .map_err(interpret)?;
    Ok(rows.into_iter().map(AnyRow::Sqlite).collect())
}

/// Every row `statement` answers.
async fn all_on<R: Decoded>(
    conn: &mut SqliteConnection,
    statement: Statement<'_>,
) -> StoreResult<Vec<R>> {
    let Statement { text, params } = statement;
    let rows = engine::query(&text, params)
        .fetch_all(conn)
        .await
        .map_err(interpret)?;
    rows.iter()
        .map(|row| R::from_row(row).map_err(interpret))
        .collect()
}

/// The first row `statement` answers, if any.
async fn optional_on<R: Decoded>(
    conn: &mut SqliteConnection,
    statement: Statement<'_>,
) -> StoreResult<Option<R>> {
    let Statement { text, params } = statement;
    let row = engine::query(&text, params)
        .fetch_optional(conn)
        .await
        .map_err(interpret)?;
    row.map(|row| R::from_row(&row).map_err(interpret))
        .transpose()
}

/// The first row `statement` answers; `NotFound` without one.
async fn one_on<R: Decoded>(
    conn: &mut SqliteConnection,
    statement: Statement<'_>,
) -> StoreResult<R> {
    optional_on(conn, statement)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The statements in one transaction (a command each, and two for the transaction), with each
/// one's count of changed rows.
async fn transaction_on(
    conn: &mut SqliteConnection,
    statements: Vec<Statement<'_>>,
) -> StoreResult<Vec<u64>> {
    let mut tx = conn.begin().await.map_err(interpret)?;
    let mut changed = Vec::with_capacity(statements.len());
    for statement in statements {
        changed.push(execute_on(&mut tx, statement).await?);
    }
    tx.commit().await.map_err(interpret)?;
    Ok(changed)
}

/// The statements as one `BEGIN; …; COMMIT` text (see [`in_one_transaction`]).
async fn batch_on(conn: &mut SqliteConnection, statements: Vec<Statement<'_>>) -> StoreResult<()> {
    let mut text = String::from("BEGIN;");
    let mut params = Vec::new();
    for statement in statements {
        positional(&statement.text, &mut text);
        text.push(';');
        params.extend(statement.params);
    }
    text.push_str("COMMIT");
    in_one_transaction(conn, engine::query(&text, params)).await
}

/// Runs `query`, the text `BEGIN; …; COMMIT` with the parameters of every statement in order,
/// as one command to sqlx's worker thread (sqlx binds each statement's parameters in turn),
/// instead of one command for each statement and two for the transaction. The statements stop
/// at the first failure, inside the transaction: it is rolled back.
async fn in_one_transaction<'q>(
    conn: &mut SqliteConnection,
    query: SqliteQuery<'q>,
) -> StoreResult<()> {
    let done = query
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(interpret);
    or_rolled_back(conn, done).await
}

/// `result` of commands sent inside a transaction of their own making (a text that begins with
/// `BEGIN`); on an error, the transaction that it left open is rolled back first. (When the
/// failure was `BEGIN` itself, or the `COMMIT` went through, there is nothing to roll back and
/// the `ROLLBACK` fails.)
async fn or_rolled_back<T>(conn: &mut SqliteConnection, result: StoreResult<T>) -> StoreResult<T> {
    if result.is_err() {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    result
}

#[async_trait]
impl Engine for SqliteStore {
    async fn execute(&self, statement: Statement<'_>) -> StoreResult<u64> {
        execute_on(&mut *self.conn.lock().await, statement).await
    }

    async fn fetch(&self, statement: Statement<'_>) -> StoreResult<Vec<AnyRow>> {
        fetch_on(&mut *self.conn.lock().await, statement).await
    }

    async fn transaction(&self, statements: Vec<Statement<'_>>) -> StoreResult<Vec<u64>> {
        transaction_on(&mut *self.conn.lock().await, statements).await
    }

    async fn batch(&self, statements: Vec<Statement<'_>>) -> StoreResult<()> {
        batch_on(&mut *self.conn.lock().await, statements).await
    }
}

/// What differs from the provided methods: reads through the cache and the writes that keep it
/// true (every fill, write-through and invalidation under the connection lock), the presence in
/// one command, and the queue.
#[async_trait]
impl Store for SqliteStore {
    async fn close(&self) {
        // The connection itself closes when the store is dropped; an in-memory database has
        // no log (its journal is in memory), and there the pragma changes nothing.
        let conn = &mut *self.conn.lock().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(conn)
            .await
        {
            tracing::warn!(error = %e, "cannot write the write-ahead log back into the database");
        }
    }

    async fn get_tenant(&self, id: &TenantId) -> StoreResult<TenantRow> {
        let mut conn = self.conn.lock().await;
        if let Some(row) = self.cache().tenants.get(id) {
            return Ok(row.clone());
        }
        let row: TenantRow = one_on(&mut conn, sql::get_tenant(id)).await?;
        self.cache().tenants.insert(id.clone(), row.clone());
        Ok(row)
    }

    async fn set_tenant_import_key(
        &self,
        id: &TenantId,
        thumbprint: Option<&str>,
    ) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        self.cache().tenants.remove(id);
        engine::found(execute_on(&mut conn, sql::set_tenant_import_key(id, thumbprint)).await?)
    }

    async fn delete_tenant(&self, id: &TenantId) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        self.cache().forget_tenant(id);
        engine::found(transaction_on(&mut conn, sql::delete_tenant(id)).await?[1])
    }

    async fn insert_connector(
        &self,
        c: &ConnectorRow,
        first: &HistoryRow,
        limit: u32,
    ) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        self.cache().versions.remove(&c.tenant_id);
        let mut tx = conn.begin().await.map_err(interpret)?;
        let (count,): (i64,) = one_on(&mut tx, sql::count_connectors(&c.tenant_id)).await?;
        let taken = optional_on(&mut tx, sql::machine_taken(&c.tenant_id, &c.machine_key)).await?;
        sql::check_room(count, limit, taken)?;
        execute_on(&mut tx, sql::insert_connector(c)).await?;
        execute_on(&mut tx, sql::insert_history(&c.tenant_id, first)).await?;
        tx.commit().await.map_err(interpret)
    }

    async fn connector_by_credential(&self, hash: &str) -> StoreResult<ConnectorRow> {
        let mut conn = self.conn.lock().await;
        if let Some(row) = self.cache().connector_by_credential(hash) {
            return Ok(row.clone());
        }
        let row: ConnectorRow = one_on(&mut conn, sql::connector_by_credential(hash)).await?;
        self.cache().keep_connector(row.clone());
        Ok(row)
    }

    async fn get_connector(
        &self,
        tenant_id: &TenantId,
        id: &ConnectorId,
    ) -> StoreResult<ConnectorRow> {
        let mut conn = self.conn.lock().await;
        if let Some(row) = self.cache().connector(tenant_id, id) {
            return Ok(row.clone());
        }
        let row: ConnectorRow = one_on(&mut conn, sql::get_connector(tenant_id, id)).await?;
        self.cache().keep_connector(row.clone());
        Ok(row)
    }

    async fn connector_versions(&self, tenant_id: &TenantId) -> StoreResult<Vec<String>> {
        let mut conn = self.conn.lock().await;
        if let Some(versions) = self.cache().versions.get(tenant_id) {
            return Ok(versions.clone());
        }
        let versions =
            sql::in_text_order(all_on(&mut conn, sql::connector_versions(tenant_id)).await?);
        self.cache()
            .versions
            .insert(tenant_id.clone(), versions.clone());
        Ok(versions)
    }

    async fn update_connector(&self, c: &ConnectorRow) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        let cached = self.cache().before_connector_write(c);
        engine::found(execute_on(&mut conn, sql::update_connector(c)).await?)?;
        // Write-through: the cached row with exactly the columns the statement set.
        if let Some(mut row) = cached {
            apply_connector_update(&mut row, c);
            self.cache().keep_connector(row);
        }
        Ok(())
    }

    async fn delete_connector(&self, tenant_id: &TenantId, id: &ConnectorId) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        {
            let mut cache = self.cache();
            cache.take_connector(tenant_id, id);
            cache.versions.remove(tenant_id);
        }
        engine::found(transaction_on(&mut conn, sql::delete_connector(tenant_id, id)).await?[1])
    }

    async fn record_presence(
        &self,
        c: &ConnectorRow,
        reconciled: &[Reconciled],
        health: Option<HealthWrite<'_>>,
    ) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        // This process is the database's only user and every write goes through this lock, so a
        // cached row is a row the database has: the writes cannot miss it, and they go as one
        // transaction in one command. The rows come out of the cache now and go back, written,
        // once it committed.
        let cached: Option<Vec<ConnectorRow>> = {
            let mut cache = self.cache();
            cache.take_connector(&c.tenant_id, &c.id).map(|row| {
                if row.version != c.version {
                    cache.versions.remove(&c.tenant_id);
                }
                let others: Vec<ConnectorRow> = reconciled
                    .iter()
                    .filter(|r| r.connector_id != c.id)
                    .filter_map(|r| cache.take_connector(&c.tenant_id, &r.connector_id))
                    .collect();
                std::iter::once(row).chain(others).collect()
            })
        };
        let Some(mut cached) = cached else {
            // Not cached: whether the connector is there is found out by writing, one write at
            // a time, as the trait's default does.
            drop(conn);
            return presence_one_write_at_a_time(self, c, reconciled, health).await;
        };
        let mut statements = vec![sql::update_connector(c)];
        statements.extend(sql::reconciled(&c.tenant_id, reconciled));
        if let Some(h) = &health {
            let keep = sql::keep_health(&c.tenant_id, &c.id, h.at_ms, h.body, h.keep_from_ms);
            statements.extend(keep);
        }
        batch_on(&mut conn, statements).await?;
        for row in &mut cached {
            if row.id == c.id {
                apply_connector_update(row, c);
            }
            apply_reconciled(row, reconciled);
        }
        let mut cache = self.cache();
        for row in cached {
            cache.keep_connector(row);
        }
        Ok(())
    }

    async fn record_reconciled(
        &self,
        tenant_id: &TenantId,
        reconciled: &[Reconciled],
    ) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        // The cached rows come out now and go back, reconciled, once the transaction committed.
        let cached = self.cache().take_reconciled(tenant_id, reconciled);
        batch_on(&mut conn, sql::reconciled(tenant_id, reconciled)).await?;
        let mut cache = self.cache();
        for mut row in cached {
            apply_reconciled(&mut row, reconciled);
            cache.keep_connector(row);
        }
        Ok(())
    }

    async fn list_releases(&self) -> StoreResult<Vec<ReleaseRow>> {
        let mut conn = self.conn.lock().await;
        if let Some(rows) = &self.cache().releases {
            return Ok(rows.clone());
        }
        let rows: Vec<ReleaseRow> = all_on(&mut conn, sql::list_releases()).await?;
        self.cache().releases = Some(rows.clone());
        Ok(rows)
    }

    async fn insert_release(&self, r: &ReleaseRow) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        self.cache().releases = None;
        execute_on(&mut conn, sql::insert_release(r))
            .await
            .map(drop)
    }

    async fn insert_jobs_holding(
        &self,
        jobs: &[JobRow],
        device_keys: &[DeviceKeyRow],
    ) -> StoreResult<()> {
        queue::insert_jobs(&mut *self.conn.lock().await, jobs, device_keys).await
    }

    async fn insert_jobs_keyed(
        &self,
        jobs: &[JobRow],
        device_keys: &[DeviceKeyRow],
        key: &EnqueueKeyRow,
        kept_from_ms: i64,
    ) -> StoreResult<Option<EnqueueKeyRow>> {
        let conn = &mut *self.conn.lock().await;
        queue::insert_jobs_keyed(conn, jobs, device_keys, key, kept_from_ms).await
    }

    async fn has_queued_jobs(&self, tenant_id: &TenantId) -> StoreResult<bool> {
        queue::has_queued_jobs(&mut *self.conn.lock().await, tenant_id).await
    }

    async fn expire_leases(&self, tenant_id: Option<&TenantId>, now_ms: i64) -> StoreResult<u64> {
        queue::expire_leases(&mut *self.conn.lock().await, tenant_id, now_ms).await
    }

    async fn lease_jobs(&self, lease: &LeaseJobs<'_>) -> StoreResult<Vec<JobRow>> {
        queue::lease_jobs(&mut *self.conn.lock().await, lease).await
    }

    async fn complete_jobs(&self, completions: &[Completion<'_>]) -> StoreResult<Vec<bool>> {
        queue::complete_jobs(&mut *self.conn.lock().await, completions).await
    }

    async fn get_jobs(&self, tenant_id: &TenantId, ids: &[&JobId]) -> StoreResult<Vec<JobRow>> {
        queue::get_jobs(&mut *self.conn.lock().await, tenant_id, ids).await
    }

    async fn cancel_job(&self, tenant_id: &TenantId, id: &JobId, now_ms: i64) -> StoreResult<bool> {
        queue::cancel_job(&mut *self.conn.lock().await, tenant_id, id, now_ms).await
    }

    async fn release_connector_leases(
        &self,
        connector_id: &ConnectorId,
        now_ms: i64,
    ) -> StoreResult<u64> {
        queue::release_connector_leases(&mut *self.conn.lock().await, connector_id, now_ms).await
    }
}

/// Rewrites the stored checksums of migrations edited in comments only
/// (`store::migrations`), on a database that has them.
async fn adopt_comment_edits(
    pool: &sqlx::SqlitePool,
    migrator: &sqlx::migrate::Migrator,
) -> StoreResult<()> {
    let has_table: Option<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(pool)
    .await
    .map_err(StoreError::Backend)?;
    if has_table.is_none() {
        return Ok(());
    }
    for (version, shipped, now) in
        super::migrations::rewrites(migrator, super::migrations::SQLITE_EDITS)
    {
        sqlx::query(
            "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2 AND checksum = $3",
        )
        .bind(now)
        .bind(version)
        .bind(shipped)
        .execute(pool)
        .await
        .map_err(StoreError::Backend)?;
    }
    Ok(())
}
