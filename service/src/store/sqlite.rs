//! The SQLite store (the embedded default): a file in WAL mode, or `sqlite::memory:`.
//!
//! One connection serialises all statements. That makes the limit check, uniqueness and
//! read-modify-write sequences atomic without SQLite's deferred-transaction upgrade failures, and
//! it is what an in-memory database needs anyway (each connection would get its own database).

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::Mutex;

use super::{
    interpret, AttemptOutcome, AttemptRow, Completion, ConnectorRow, HealthWrite, HistoryRow,
    JobRow, JobStat, LeaseJobs, Reconciled, ReleaseRow, ScepChallengeRow, Store, StoreError,
    StoreResult, TenantRow, UserPfxRow,
};
use crate::domain::{ConnectorId, JobId, JobKind, JobState, TenantId};

/// The store's one connection, behind an async mutex rather than a pool: handing it from one
/// caller to the next is an unlock, where a one-connection pool spawned a task and pinged sqlx's
/// worker thread on every release.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<SqliteConnection>>,
    cache: Arc<std::sync::Mutex<Cache>>,
}

/// Rows that nearly every connector call reads: the release catalog, tenants by id,
/// connectors (by id and by credential) and each tenant's connector versions. This process is
/// the database's only user (its one connection), and every fill, write-through and
/// invalidation happens while `conn` is locked, so the cache can never hold a row older than
/// the database's.
#[derive(Debug, Default)]
struct Cache {
    releases: Option<Vec<ReleaseRow>>,
    tenants: std::collections::HashMap<TenantId, TenantRow>,
    /// Connectors by (tenant id, connector id). A write to a connector takes its row out first
    /// and puts it back, with the written columns, only once the write succeeded; a deletion
    /// drops it.
    connectors: std::collections::HashMap<(TenantId, ConnectorId), ConnectorRow>,
    /// The key of `connectors` for each cached connector's credential hash (each connector
    /// call authenticates with one).
    by_credential: std::collections::HashMap<String, (TenantId, ConnectorId)>,
    /// The distinct versions of each tenant's connectors; a write that can change a version
    /// (insert, a version update, delete) drops the tenant's entry.
    versions: std::collections::HashMap<TenantId, Vec<String>>,
}

impl Cache {
    fn keep_connector(&mut self, row: ConnectorRow) {
        let key = (row.tenant_id.clone(), row.id.clone());
        self.by_credential
            .insert(row.credential_hash.clone(), key.clone());
        self.connectors.insert(key, row);
    }

    /// Takes the connector's row out of the cache (it is put back by the caller once a write
    /// succeeded).
    fn take_connector(&mut self, tenant_id: &TenantId, id: &ConnectorId) -> Option<ConnectorRow> {
        let row = self.connectors.remove(&(tenant_id.clone(), id.clone()))?;
        self.by_credential.remove(&row.credential_hash);
        Some(row)
    }

    fn forget_tenant(&mut self, tenant_id: &TenantId) {
        self.connectors.retain(|(tenant, _), _| tenant != tenant_id);
        self.by_credential
            .retain(|_, (tenant, _)| tenant != tenant_id);
        self.versions.remove(tenant_id);
    }
}

/// A statement with its parameters, as sqlx's SQLite driver takes it.
type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// The URL of an in-memory database.
const IN_MEMORY: &str = "sqlite::memory:";

impl SqliteStore {
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
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(StoreError::Migrate)?;
        let conn = pool.acquire().await.map_err(StoreError::Backend)?.detach();
        pool.close().await;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            cache: Arc::default(),
        })
    }
}

const CONNECTOR_COLUMNS: &str = "id, tenant_id, credential_hash, display_name, machine_name, machine_key, features, \
    version, product, service_account, proxy, import_key_thumbprint, auto_update, co_installed, enrolled_ms, \
    last_checkin_ms, reconciled_ms, last_status, last_reasons, seq, last_health_ms";

const JOB_COLUMNS: &str = "id, tenant_id, kind, state, payload, attempts, max_attempts, visible_ms, lease_token_hash, \
    lease_connector_id, lease_expires_ms, result, error_code, error_message, created_ms, completed_ms";

/// A job row as one JSON object (keys are [`JobRow`]'s fields), for `json_group_array`: a
/// statement that answers many jobs in one row instead of one row each. sqlx hands each row
/// from its worker thread to the caller on its own and copies every value of it; a lease or a
/// completion of 100 jobs made 200 such hand-offs.
const JOB_JSON: &str = "json_object('id', id, 'tenant_id', tenant_id, 'kind', kind, 'state', state, \
    'payload', payload, 'attempts', attempts, 'max_attempts', max_attempts, 'visible_ms', visible_ms, \
    'lease_token_hash', lease_token_hash, 'lease_connector_id', lease_connector_id, \
    'lease_expires_ms', lease_expires_ms, 'result', result, 'error_code', error_code, \
    'error_message', error_message, 'created_ms', created_ms, 'completed_ms', completed_ms)";

/// The rows of a `json_group_array` of [`JOB_JSON`].
fn job_rows(json: &str) -> StoreResult<Vec<JobRow>> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("a job row: {e}")))
}

/// The compare-and-set of `n` completions (see `complete_jobs`; parameters by
/// [`bind_completions`]); `returning` adds `RETURNING id`.
fn completion_update(n: usize, returning: bool) -> String {
    // Columns of `c`: job id, token hash, new state, visible, result, error code, error
    // message, completed (8 parameters a row; a batch holds at most 100 completions).
    let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; n].join(", ");
    format!(
        "UPDATE jobs SET state = c.column3, visible_ms = c.column4, result = COALESCE(c.column5, jobs.result), \
         error_code = c.column6, error_message = c.column7, completed_ms = c.column8, \
         lease_token_hash = NULL, lease_connector_id = NULL, lease_expires_ms = NULL \
         FROM (VALUES {values}) AS c \
         WHERE jobs.id = c.column1 AND jobs.state = 'leased' AND jobs.lease_token_hash = c.column2{}",
        if returning { " RETURNING id" } else { "" }
    )
}

fn bind_completions<'q>(sql: &'q str, rows: &[&'q Completion<'q>]) -> SqliteQuery<'q> {
    let mut q = sqlx::query(sql);
    for c in rows {
        q = q
            .bind(c.job_id.as_str())
            .bind(c.token_hash)
            .bind(c.new_state)
            .bind(c.visible_ms)
            .bind(c.result)
            .bind(c.error_code)
            .bind(c.error_message)
            .bind(super::finishes(c).then_some(c.now_ms));
    }
    q
}

/// Whether a lease has run out by the parameter (one look at the oldest lease deadline, the
/// first entry of `jobs_leased`).
const LEASE_RAN_OUT: &str =
    "EXISTS (SELECT 1 FROM jobs WHERE state = 'leased' AND lease_expires_ms <= ?)";

async fn expire_in(
    conn: &mut sqlx::SqliteConnection,
    tenant_id: Option<&TenantId>,
    now_ms: i64,
) -> StoreResult<u64> {
    // Mostly nothing has run out: the probe, a plain read, spares the transaction and the two
    // updates (one command to sqlx's worker thread instead of three).
    let (due,): (bool,) = sqlx::query_as(&format!("SELECT {LEASE_RAN_OUT}"))
        .bind(now_ms)
        .fetch_one(&mut *conn)
        .await
        .map_err(interpret)?;
    if !due {
        return Ok(0);
    }
    let mut tx = conn.begin().await.map_err(interpret)?;
    let n = expire_due(&mut tx, tenant_id, now_ms).await?;
    tx.commit().await.map_err(interpret)?;
    Ok(n)
}

/// The two updates of [`expire_in`], once its probe found a lease that ran out.
async fn expire_due(
    tx: &mut sqlx::SqliteConnection,
    tenant_id: Option<&TenantId>,
    now_ms: i64,
) -> StoreResult<u64> {
    let scope = if tenant_id.is_some() {
        " AND tenant_id = ?"
    } else {
        ""
    };
    let attempts_sql = format!(
        "UPDATE job_attempts SET outcome = 'expired', ended_ms = ? WHERE outcome IS NULL AND job_id IN \
         (SELECT id FROM jobs WHERE state = 'leased' AND lease_expires_ms <= ?{scope})"
    );
    let mut q = sqlx::query(&attempts_sql).bind(now_ms).bind(now_ms);
    if let Some(t) = tenant_id {
        q = q.bind(t.as_str());
    }
    q.execute(&mut *tx).await.map_err(interpret)?;
    let jobs_sql = format!(
        "UPDATE jobs SET \
           state = CASE WHEN attempts >= max_attempts THEN 'dead_letter' ELSE 'queued' END, \
           completed_ms = CASE WHEN attempts >= max_attempts THEN ? ELSE NULL END, \
           visible_ms = ?, error_code = 'LeaseExpired', \
           error_message = 'the lease of attempt ' || attempts || ' expired before the job was completed', \
           lease_token_hash = NULL, lease_connector_id = NULL, lease_expires_ms = NULL \
         WHERE state = 'leased' AND lease_expires_ms <= ?{scope}"
    );
    let mut q = sqlx::query(&jobs_sql)
        .bind(now_ms)
        .bind(now_ms)
        .bind(now_ms);
    if let Some(t) = tenant_id {
        q = q.bind(t.as_str());
    }
    Ok(q.execute(&mut *tx)
        .await
        .map_err(interpret)?
        .rows_affected())
}

/// Parameters: tenant, connector, seq, instant, status, reasons.
const HISTORY_INSERT: &str =
    "INSERT INTO status_history (tenant_id, connector_id, seq, at_ms, status, reasons) \
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (connector_id, seq) DO NOTHING";

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

/// The columns a connector write sets. Parameters: display name, features, version, product,
/// service account, proxy, import key thumbprint, auto-update, co-installed, last check-in, last
/// health, tenant, id.
const CONNECTOR_UPDATE: &str =
    "UPDATE connectors SET display_name = ?, features = ?, version = ?, product = ?, service_account = ?, \
     proxy = ?, import_key_thumbprint = ?, auto_update = ?, co_installed = ?, last_checkin_ms = ?, \
     last_health_ms = ? WHERE tenant_id = ? AND id = ?";

/// `query` with the parameters of one [`CONNECTOR_UPDATE`] added.
fn bind_connector_update<'q>(query: SqliteQuery<'q>, c: &'q ConnectorRow) -> SqliteQuery<'q> {
    query
        .bind(&c.display_name)
        .bind(&c.features)
        .bind(&c.version)
        .bind(&c.product)
        .bind(&c.service_account)
        .bind(&c.proxy)
        .bind(&c.import_key_thumbprint)
        .bind(c.auto_update)
        .bind(super::columns::joined(&c.co_installed))
        .bind(c.last_checkin_ms)
        .bind(c.last_health_ms)
        .bind(c.tenant_id.as_str())
        .bind(c.id.as_str())
}

/// A cached row after [`CONNECTOR_UPDATE`]: exactly the columns it sets.
fn apply_connector_update(row: &mut ConnectorRow, c: &ConnectorRow) {
    row.display_name.clone_from(&c.display_name);
    row.features.clone_from(&c.features);
    row.version.clone_from(&c.version);
    row.product.clone_from(&c.product);
    row.service_account.clone_from(&c.service_account);
    row.proxy.clone_from(&c.proxy);
    row.import_key_thumbprint
        .clone_from(&c.import_key_thumbprint);
    row.auto_update = c.auto_update;
    row.co_installed.clone_from(&c.co_installed);
    row.last_checkin_ms = c.last_checkin_ms;
    row.last_health_ms = c.last_health_ms;
}

/// Keeps a health message (a repeat at the same instant replaces it) and drops the connector's
/// older than the limit; with the tenant, the index `(tenant_id, connector_id, at_ms)` finds
/// them. Parameters: tenant, connector, instant, body, tenant, connector, limit.
const HEALTH_KEEP: &str =
    "INSERT OR REPLACE INTO health_messages (tenant_id, connector_id, at_ms, body) VALUES (?, ?, ?, ?); \
     DELETE FROM health_messages WHERE tenant_id = ? AND connector_id = ? AND at_ms < ?";

/// `query` with the parameters of one [`HEALTH_KEEP`] added.
fn bind_health<'q>(
    query: SqliteQuery<'q>,
    tenant_id: &'q TenantId,
    connector_id: &'q ConnectorId,
    health: &HealthWrite<'q>,
) -> SqliteQuery<'q> {
    query
        .bind(tenant_id.as_str())
        .bind(connector_id.as_str())
        .bind(health.at_ms)
        .bind(health.body)
        .bind(tenant_id.as_str())
        .bind(connector_id.as_str())
        .bind(health.keep_from_ms)
}

/// Moves a connector's reconciliation mark, only forward. Plain `?` parameters only: sqlx binds
/// a numbered one (`?4`) by its number from the first parameter of the whole text, not of its
/// statement. Parameters: instant, status, reasons, seq, tenant, id, seq, seq, instant.
const MARK: &str =
    "UPDATE connectors SET reconciled_ms = ?, last_status = ?, last_reasons = ?, seq = ? \
    WHERE tenant_id = ? AND id = ? AND (seq < ? OR (seq = ? AND reconciled_ms <= ?))";

/// Appends the statements of a reconciliation: each connector's history rows, then its mark.
fn push_reconciled(sql: &mut String, reconciled: &[Reconciled]) {
    for r in reconciled {
        for _ in &r.entries {
            sql.push_str(HISTORY_INSERT);
            sql.push(';');
        }
        sql.push_str(MARK);
        sql.push(';');
    }
}

/// `query` with the parameters of [`push_reconciled`]'s statements added, in their order.
fn bind_reconciled<'q>(
    mut query: SqliteQuery<'q>,
    tenant_id: &'q TenantId,
    reconciled: &'q [Reconciled],
) -> SqliteQuery<'q> {
    for r in reconciled {
        for entry in &r.entries {
            query = bind_history(query, tenant_id, entry);
        }
        query = query
            .bind(r.reconciled_ms)
            .bind(&r.last_status)
            .bind(super::columns::joined(&r.last_reasons))
            .bind(r.seq)
            .bind(tenant_id.as_str())
            .bind(r.connector_id.as_str())
            .bind(r.seq)
            .bind(r.seq)
            .bind(r.reconciled_ms);
    }
    query
}

/// A cached row after the marks of `reconciled`, under their own condition (the cached row is
/// the database's).
fn apply_reconciled(row: &mut ConnectorRow, reconciled: &[Reconciled]) {
    for r in reconciled.iter().filter(|r| r.connector_id == row.id) {
        if row.seq < r.seq || (row.seq == r.seq && row.reconciled_ms <= r.reconciled_ms) {
            row.reconciled_ms = r.reconciled_ms;
            row.last_status.clone_from(&r.last_status);
            row.last_reasons.clone_from(&r.last_reasons);
            row.seq = r.seq;
        }
    }
}

/// `query` with the parameters of one [`HISTORY_INSERT`] added.
fn bind_history<'q>(
    query: SqliteQuery<'q>,
    tenant_id: &'q TenantId,
    row: &'q HistoryRow,
) -> SqliteQuery<'q> {
    query
        .bind(tenant_id.as_str())
        .bind(row.connector_id.as_str())
        .bind(row.seq)
        .bind(row.at_ms)
        .bind(&row.status)
        .bind(super::columns::joined(&row.reasons))
}

async fn insert_history(
    tx: &mut sqlx::SqliteConnection,
    tenant_id: &TenantId,
    row: &HistoryRow,
) -> StoreResult<()> {
    bind_history(sqlx::query(HISTORY_INSERT), tenant_id, row)
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_tenant(&self, t: &TenantRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tenants (id, display_name, rollout_delay_days, enrollment_secret_hash, client_id, \
             client_secret_hash, import_key_thumbprint, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(t.id.as_str())
        .bind(&t.display_name)
        .bind(t.rollout_delay_days)
        .bind(&t.enrollment_secret_hash)
        .bind(&t.client_id)
        .bind(&t.client_secret_hash)
        .bind(&t.import_key_thumbprint)
        .bind(t.created_ms)
        .execute(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)?;
        Ok(())
    }

    async fn list_tenants(&self) -> StoreResult<Vec<TenantRow>> {
        sqlx::query_as("SELECT * FROM tenants ORDER BY created_ms, id")
            .fetch_all(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)
    }

    async fn get_tenant(&self, id: &TenantId) -> StoreResult<TenantRow> {
        let mut conn = self.conn.lock().await;
        if let Some(row) = self.cache().tenants.get(id) {
            return Ok(row.clone());
        }
        let row: TenantRow = sqlx::query_as("SELECT * FROM tenants WHERE id = ?")
            .bind(id.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(interpret)?;
        self.cache().tenants.insert(id.to_owned(), row.clone());
        Ok(row)
    }

    async fn tenant_by_enrollment_hash(&self, hash: &str) -> StoreResult<TenantRow> {
        sqlx::query_as("SELECT * FROM tenants WHERE enrollment_secret_hash = ?")
            .bind(hash)
            .fetch_one(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)
    }

    async fn tenant_by_client_id(&self, client_id: &str) -> StoreResult<TenantRow> {
        sqlx::query_as("SELECT * FROM tenants WHERE client_id = ?")
            .bind(client_id)
            .fetch_one(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)
    }

    async fn set_tenant_import_key(
        &self,
        id: &TenantId,
        thumbprint: Option<&str>,
    ) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        self.cache().tenants.remove(id);
        let done = sqlx::query("UPDATE tenants SET import_key_thumbprint = ? WHERE id = ?")
            .bind(thumbprint)
            .bind(id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(interpret)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_tenant(&self, id: &TenantId) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        {
            let mut cache = self.cache();
            cache.tenants.remove(id);
            // Its connectors go with it (ON DELETE CASCADE).
            cache.forget_tenant(id);
        }
        let mut tx = conn.begin().await.map_err(interpret)?;
        sqlx::query("DELETE FROM status_history WHERE tenant_id = ?")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(interpret)?;
        let done = sqlx::query("DELETE FROM tenants WHERE id = ?")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(interpret)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(interpret)?;
        Ok(())
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
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM connectors WHERE tenant_id = ?")
                .bind(c.tenant_id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(interpret)?;
        if count >= limit as i64 {
            return Err(StoreError::LimitReached(count as u32));
        }
        let taken: Option<(String,)> = sqlx::query_as(
            "SELECT machine_name FROM connectors WHERE tenant_id = ? AND machine_key = ?",
        )
        .bind(c.tenant_id.as_str())
        .bind(&c.machine_key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(interpret)?;
        if let Some((machine,)) = taken {
            return Err(StoreError::MachineTaken(machine));
        }
        let sql = format!("INSERT INTO connectors ({CONNECTOR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        sqlx::query(&sql)
            .bind(c.id.as_str())
            .bind(c.tenant_id.as_str())
            .bind(&c.credential_hash)
            .bind(&c.display_name)
            .bind(&c.machine_name)
            .bind(&c.machine_key)
            .bind(&c.features)
            .bind(&c.version)
            .bind(&c.product)
            .bind(&c.service_account)
            .bind(&c.proxy)
            .bind(&c.import_key_thumbprint)
            .bind(c.auto_update)
            .bind(super::columns::joined(&c.co_installed))
            .bind(c.enrolled_ms)
            .bind(c.last_checkin_ms)
            .bind(c.reconciled_ms)
            .bind(&c.last_status)
            .bind(super::columns::joined(&c.last_reasons))
            .bind(c.seq)
            .bind(c.last_health_ms)
            .execute(&mut *tx)
            .await
            .map_err(interpret)?;
        insert_history(&mut tx, &c.tenant_id, first).await?;
        tx.commit().await.map_err(interpret)?;
        Ok(())
    }

    async fn connector_by_credential(&self, hash: &str) -> StoreResult<ConnectorRow> {
        let mut conn = self.conn.lock().await;
        {
            let cache = self.cache();
            if let Some(row) = cache
                .by_credential
                .get(hash)
                .and_then(|key| cache.connectors.get(key))
            {
                return Ok(row.clone());
            }
        }
        let row: ConnectorRow = sqlx::query_as(&format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE credential_hash = ?"
        ))
        .bind(hash)
        .fetch_one(&mut *conn)
        .await
        .map_err(interpret)?;
        self.cache().keep_connector(row.clone());
        Ok(row)
    }

    async fn get_connector(
        &self,
        tenant_id: &TenantId,
        id: &ConnectorId,
    ) -> StoreResult<ConnectorRow> {
        let mut conn = self.conn.lock().await;
        let key = (tenant_id.to_owned(), id.to_owned());
        if let Some(row) = self.cache().connectors.get(&key) {
            return Ok(row.clone());
        }
        let row: ConnectorRow = sqlx::query_as(&format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE tenant_id = ? AND id = ?"
        ))
        .bind(tenant_id.as_str())
        .bind(id.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(interpret)?;
        self.cache().keep_connector(row.clone());
        Ok(row)
    }

    async fn list_connectors(&self, tenant_id: &TenantId) -> StoreResult<Vec<ConnectorRow>> {
        sqlx::query_as(&format!("SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE tenant_id = ? ORDER BY enrolled_ms, id"))
            .bind(tenant_id.as_str())
            .fetch_all(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)
    }

    async fn connector_versions(&self, tenant_id: &TenantId) -> StoreResult<Vec<String>> {
        let mut conn = self.conn.lock().await;
        if let Some(versions) = self.cache().versions.get(tenant_id) {
            return Ok(versions.clone());
        }
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT version FROM connectors WHERE tenant_id = ? ORDER BY version",
        )
        .bind(tenant_id.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(interpret)?;
        let versions: Vec<String> = rows.into_iter().map(|(v,)| v).collect();
        self.cache()
            .versions
            .insert(tenant_id.to_owned(), versions.clone());
        Ok(versions)
    }

    async fn list_all_connectors(&self) -> StoreResult<Vec<ConnectorRow>> {
        sqlx::query_as(&format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors ORDER BY tenant_id, enrolled_ms, id"
        ))
        .fetch_all(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)
    }

    async fn update_connector(&self, c: &ConnectorRow) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        let cached = {
            let mut cache = self.cache();
            let cached = cache.take_connector(&c.tenant_id, &c.id);
            // The tenant's versions stay right unless this write can change one.
            if cached.as_ref().is_none_or(|row| row.version != c.version) {
                cache.versions.remove(&c.tenant_id);
            }
            cached
        };
        let done = bind_connector_update(sqlx::query(CONNECTOR_UPDATE), c)
            .execute(&mut *conn)
            .await
            .map_err(interpret)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // Write-through: the cached row with exactly the columns the statement set.
        if let Some(mut row) = cached {
            apply_connector_update(&mut row, c);
            self.cache().keep_connector(row);
        }
        Ok(())
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
            return super::presence_one_write_at_a_time(self, c, reconciled, health).await;
        };
        let mut sql = format!("BEGIN;{CONNECTOR_UPDATE};");
        push_reconciled(&mut sql, reconciled);
        if health.is_some() {
            sql.push_str(HEALTH_KEEP);
            sql.push(';');
        }
        sql.push_str("COMMIT");
        let mut q = bind_connector_update(sqlx::query(&sql), c);
        q = bind_reconciled(q, &c.tenant_id, reconciled);
        if let Some(h) = &health {
            q = bind_health(q, &c.tenant_id, &c.id, h);
        }
        in_one_transaction(&mut conn, q).await?;
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

    async fn insert_health(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
        at_ms: i64,
        body: &str,
        keep_from_ms: i64,
    ) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        let sql = format!("BEGIN;{HEALTH_KEEP};COMMIT");
        let q = sqlx::query(&sql);
        let health = HealthWrite {
            at_ms,
            body,
            keep_from_ms,
        };
        in_one_transaction(&mut conn, bind_health(q, tenant_id, connector_id, &health)).await
    }

    async fn list_health(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<(i64, String)>> {
        sqlx::query_as(
            "SELECT at_ms, body FROM health_messages WHERE tenant_id = ? AND connector_id = ? \
             AND at_ms >= ? AND at_ms <= ? ORDER BY at_ms",
        )
        .bind(tenant_id.as_str())
        .bind(connector_id.as_str())
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)
    }

    async fn delete_connector(&self, tenant_id: &TenantId, id: &ConnectorId) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        {
            let mut cache = self.cache();
            cache.take_connector(tenant_id, id);
            cache.versions.remove(tenant_id);
        }
        sqlx::query("DELETE FROM health_messages WHERE tenant_id = ? AND connector_id = ?")
            .bind(tenant_id.as_str())
            .bind(id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(interpret)?;
        let done = sqlx::query("DELETE FROM connectors WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id.as_str())
            .bind(id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(interpret)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
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
        let cached: Vec<ConnectorRow> = {
            let mut cache = self.cache();
            reconciled
                .iter()
                .filter_map(|r| cache.take_connector(tenant_id, &r.connector_id))
                .collect()
        };
        let mut sql = String::from("BEGIN;");
        push_reconciled(&mut sql, reconciled);
        sql.push_str("COMMIT");
        let q = bind_reconciled(sqlx::query(&sql), tenant_id, reconciled);
        in_one_transaction(&mut conn, q).await?;
        let mut cache = self.cache();
        for mut row in cached {
            apply_reconciled(&mut row, reconciled);
            cache.keep_connector(row);
        }
        Ok(())
    }

    async fn list_history(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
    ) -> StoreResult<Vec<HistoryRow>> {
        sqlx::query_as(
            "SELECT connector_id, seq, at_ms, status, reasons FROM status_history WHERE tenant_id = ? AND connector_id = ? ORDER BY seq",
        )
        .bind(tenant_id.as_str())
        .bind(connector_id.as_str())
        .fetch_all(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)
    }

    async fn list_releases(&self) -> StoreResult<Vec<ReleaseRow>> {
        let mut conn = self.conn.lock().await;
        if let Some(rows) = &self.cache().releases {
            return Ok(rows.clone());
        }
        let rows: Vec<ReleaseRow> = sqlx::query_as(
            "SELECT version, released_ms, published_ms FROM releases ORDER BY released_ms, version",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(interpret)?;
        self.cache().releases = Some(rows.clone());
        Ok(rows)
    }

    async fn insert_release(&self, r: &ReleaseRow) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        self.cache().releases = None;
        sqlx::query("INSERT INTO releases (version, released_ms, published_ms) VALUES (?, ?, ?)")
            .bind(&r.version)
            .bind(r.released_ms)
            .bind(r.published_ms)
            .execute(&mut *conn)
            .await
            .map_err(interpret)?;
        Ok(())
    }

    async fn upsert_user_pfx(&self, row: &UserPfxRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO user_pfx_certificates (tenant_id, id, user_principal_name, thumbprint, intended_purpose, \
             padding_scheme, provider_name, key_name, encrypted_pfx_blob, encrypted_pfx_password, start_ms, \
             expiration_ms, created_ms, modified_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (tenant_id, id) DO UPDATE SET user_principal_name = excluded.user_principal_name, \
             thumbprint = excluded.thumbprint, intended_purpose = excluded.intended_purpose, \
             padding_scheme = excluded.padding_scheme, provider_name = excluded.provider_name, \
             key_name = excluded.key_name, encrypted_pfx_blob = excluded.encrypted_pfx_blob, \
             encrypted_pfx_password = excluded.encrypted_pfx_password, start_ms = excluded.start_ms, \
             expiration_ms = excluded.expiration_ms, modified_ms = excluded.modified_ms",
        )
        .bind(row.tenant_id.as_str())
        .bind(row.id.as_str())
        .bind(&row.user_principal_name)
        .bind(&row.thumbprint)
        .bind(&row.intended_purpose)
        .bind(&row.padding_scheme)
        .bind(&row.provider_name)
        .bind(&row.key_name)
        .bind(&row.encrypted_pfx_blob)
        .bind(&row.encrypted_pfx_password)
        .bind(row.start_ms)
        .bind(row.expiration_ms)
        .bind(row.created_ms)
        .bind(row.modified_ms)
        .execute(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)?;
        Ok(())
    }

    async fn get_user_pfx(&self, tenant_id: &TenantId, id: &str) -> StoreResult<UserPfxRow> {
        sqlx::query_as("SELECT * FROM user_pfx_certificates WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id.as_str())
            .bind(id)
            .fetch_one(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)
    }

    async fn list_user_pfx(&self, tenant_id: &TenantId) -> StoreResult<Vec<UserPfxRow>> {
        sqlx::query_as("SELECT * FROM user_pfx_certificates WHERE tenant_id = ? ORDER BY id")
            .bind(tenant_id.as_str())
            .fetch_all(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)
    }

    async fn delete_user_pfx(&self, tenant_id: &TenantId, id: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM user_pfx_certificates WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id.as_str())
            .bind(id)
            .execute(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn scep_secret(&self, tenant_id: &TenantId) -> StoreResult<String> {
        let (secret,): (String,) =
            sqlx::query_as("SELECT secret FROM scep_keys WHERE tenant_id = ?")
                .bind(tenant_id.as_str())
                .fetch_one(&mut *self.conn.lock().await)
                .await
                .map_err(interpret)?;
        Ok(secret)
    }

    async fn insert_scep_secret(&self, tenant_id: &TenantId, secret: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO scep_keys (tenant_id, secret) VALUES (?, ?) ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(tenant_id.as_str())
        .bind(secret)
        .execute(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)?;
        Ok(())
    }

    async fn insert_scep_challenge(&self, row: &ScepChallengeRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO scep_challenges (tenant_id, id, device_id, user_id, subject, subject_alt_names, key_usage, \
             key_size, extended_key_usage, issued_ms, expires_ms, targeted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(row.tenant_id.as_str())
        .bind(row.id.as_str())
        .bind(&row.device_id)
        .bind(&row.user_id)
        .bind(&row.subject)
        .bind(&row.subject_alt_names)
        .bind(&row.key_usage)
        .bind(row.key_size)
        .bind(&row.extended_key_usage)
        .bind(row.issued_ms)
        .bind(row.expires_ms)
        .bind(row.targeted)
        .execute(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)?;
        Ok(())
    }

    async fn get_scep_challenge(
        &self,
        tenant_id: &TenantId,
        id: &str,
    ) -> StoreResult<ScepChallengeRow> {
        sqlx::query_as("SELECT * FROM scep_challenges WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id.as_str())
            .bind(id)
            .fetch_one(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)
    }

    async fn scep_validation(
        &self,
        tenant_id: &TenantId,
        transaction_id: &str,
    ) -> StoreResult<(String, String)> {
        sqlx::query_as(
            "SELECT challenge_id, code FROM scep_validations WHERE tenant_id = ? AND transaction_id = ?",
        )
        .bind(tenant_id.as_str())
        .bind(transaction_id)
        .fetch_one(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)
    }

    async fn set_scep_targeted(
        &self,
        tenant_id: &TenantId,
        id: &str,
        targeted: bool,
    ) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE scep_challenges SET targeted = ? WHERE tenant_id = ? AND id = ?")
                .bind(targeted)
                .bind(tenant_id.as_str())
                .bind(id)
                .execute(&mut *self.conn.lock().await)
                .await
                .map_err(interpret)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn record_scep_validation(
        &self,
        tenant_id: &TenantId,
        id: &str,
        transaction_id: &str,
        code: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        let mut conn = self.conn.lock().await;
        let mut tx = conn.begin().await.map_err(interpret)?;
        sqlx::query(
            "INSERT INTO scep_validations (tenant_id, transaction_id, challenge_id, code, validated_ms) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, transaction_id) DO UPDATE SET \
             challenge_id = excluded.challenge_id, code = excluded.code, validated_ms = excluded.validated_ms",
        )
        .bind(tenant_id.as_str())
        .bind(transaction_id)
        .bind(id)
        .bind(code)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
        sqlx::query(
            "UPDATE scep_challenges SET transaction_id = ?, last_code = ? WHERE tenant_id = ? AND id = ?",
        )
        .bind(transaction_id)
        .bind(code)
        .bind(tenant_id.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
        tx.commit().await.map_err(interpret)?;
        Ok(())
    }

    async fn record_scep_notification(
        &self,
        tenant_id: &TenantId,
        id: &str,
        kind: &str,
        body: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE scep_challenges SET notification_kind = ?, notification = ?, notified_ms = ? \
             WHERE tenant_id = ? AND id = ?",
        )
        .bind(kind)
        .bind(body)
        .bind(now_ms)
        .bind(tenant_id.as_str())
        .bind(id)
        .execute(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)?;
        Ok(())
    }

    async fn insert_token(
        &self,
        token_hash: &str,
        tenant_id: &TenantId,
        now_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM tokens WHERE expires_ms <= ?")
            .bind(now_ms)
            .execute(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)?;
        sqlx::query("INSERT INTO tokens (token_hash, tenant_id, expires_ms) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(tenant_id.as_str())
            .bind(expires_ms)
            .execute(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)?;
        Ok(())
    }

    async fn token_tenant(&self, token_hash: &str, now_ms: i64) -> StoreResult<TenantId> {
        let row: (TenantId,) =
            sqlx::query_as("SELECT tenant_id FROM tokens WHERE token_hash = ? AND expires_ms > ?")
                .bind(token_hash)
                .bind(now_ms)
                .fetch_one(&mut *self.conn.lock().await)
                .await
                .map_err(interpret)?;
        Ok(row.0)
    }

    async fn insert_jobs(&self, jobs: &[JobRow]) -> StoreResult<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        // Multi-row statements (16 parameters a row, 500 rows a statement) between `BEGIN` and
        // `COMMIT`, as one text: one command to sqlx's worker thread.
        let mut sql = String::from("BEGIN;");
        for chunk in jobs.chunks(500) {
            let values =
                vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            sql.push_str(&format!(
                " INSERT INTO jobs ({JOB_COLUMNS}) VALUES {values};"
            ));
        }
        sql.push_str(" COMMIT");
        let mut q = sqlx::query(&sql);
        for j in jobs {
            q = q
                .bind(j.id.as_str())
                .bind(j.tenant_id.as_str())
                .bind(j.kind)
                .bind(j.state)
                .bind(&j.payload)
                .bind(j.attempts)
                .bind(j.max_attempts)
                .bind(j.visible_ms)
                .bind(&j.lease_token_hash)
                .bind(j.lease_connector_id.as_ref().map(ConnectorId::as_str))
                .bind(j.lease_expires_ms)
                .bind(&j.result)
                .bind(&j.error_code)
                .bind(&j.error_message)
                .bind(j.created_ms)
                .bind(j.completed_ms);
        }
        in_one_transaction(&mut *self.conn.lock().await, q).await
    }

    async fn get_job(&self, tenant_id: &TenantId, id: &JobId) -> StoreResult<JobRow> {
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = ? AND id = ?"
        ))
        .bind(tenant_id.as_str())
        .bind(id.as_str())
        .fetch_one(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)
    }

    async fn list_jobs(
        &self,
        tenant_id: &TenantId,
        kind: Option<JobKind>,
        state: Option<JobState>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<JobRow>> {
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = ? AND (? IS NULL OR kind = ?) AND (? IS NULL OR state = ?) \
             ORDER BY seq LIMIT ? OFFSET ?"
        ))
        .bind(tenant_id.as_str())
        .bind(kind)
        .bind(kind)
        .bind(state)
        .bind(state)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)
    }

    async fn count_jobs(
        &self,
        tenant_id: &TenantId,
        kind: Option<JobKind>,
        state: Option<JobState>,
    ) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE tenant_id = ? AND (? IS NULL OR kind = ?) AND (? IS NULL OR state = ?)")
            .bind(tenant_id.as_str())
            .bind(kind)
            .bind(kind)
            .bind(state)
            .bind(state)
            .fetch_one(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)?;
        Ok(n)
    }

    async fn has_queued_jobs(&self, tenant_id: &TenantId) -> StoreResult<bool> {
        let (found,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_ready WHERE tenant_id = ? AND state = 'queued')",
        )
        .bind(tenant_id.as_str())
        .fetch_one(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)?;
        Ok(found)
    }

    async fn job_attempts(&self, job_id: &JobId) -> StoreResult<Vec<AttemptRow>> {
        sqlx::query_as("SELECT * FROM job_attempts WHERE job_id = ? ORDER BY attempt")
            .bind(job_id.as_str())
            .fetch_all(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)
    }

    async fn attempt_by_token(&self, job_id: &JobId, token_hash: &str) -> StoreResult<AttemptRow> {
        sqlx::query_as("SELECT * FROM job_attempts WHERE job_id = ? AND lease_token_hash = ?")
            .bind(job_id.as_str())
            .bind(token_hash)
            .fetch_one(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)
    }

    async fn expire_leases(&self, tenant_id: Option<&TenantId>, now_ms: i64) -> StoreResult<u64> {
        expire_in(&mut *self.conn.lock().await, tenant_id, now_ms).await
    }

    async fn lease_jobs(&self, lease: &LeaseJobs<'_>) -> StoreResult<Vec<JobRow>> {
        if lease.kinds.is_empty() || lease.token_hashes.is_empty() {
            return Ok(vec![]);
        }
        let mut conn = self.conn.lock().await;
        let placeholders = vec!["?"; lease.kinds.len()].join(", ");
        // A job this connector handed back for lack of the import key goes to the others.
        let skip = if lease.skip_missing_import_key {
            " AND NOT EXISTS (SELECT 1 FROM job_attempts a WHERE a.job_id = jobs.id AND a.connector_id = ? \
             AND a.error_code = 'MissingImportKey')"
        } else {
            ""
        };
        let issuer = if lease.issuer_name.is_some() {
            " AND lower(json_extract(payload, '$.issuerName')) = lower(?)"
        } else {
            ""
        };
        // The jobs to lease, whole and in queue order, as one row, with the probe for leases
        // that ran out (see `expire_in`) and the connection's count of changed rows so far: one
        // statement, sent with the `BEGIN` of the lease's transaction. When a lease ran out,
        // its job may be leased again now, so the leases are expired and the jobs read again.
        let select = format!(
            "SELECT total_changes(), {LEASE_RAN_OUT}, (SELECT json_group_array({JOB_JSON} ORDER BY seq) FROM (SELECT {JOB_COLUMNS}, seq FROM jobs INDEXED BY jobs_ready \
             WHERE tenant_id = ? AND state = 'queued' AND visible_ms <= ? AND kind IN ({placeholders}){skip}{issuer} \
             ORDER BY seq LIMIT ?))"
        );
        let begin_and_select = format!("BEGIN; {select}");
        let mut leased = Vec::new();
        let read = |sql, probe: bool| {
            let mut q = sqlx::query_as::<_, (i64, bool, String)>(sql)
                .bind(if probe { lease.now_ms } else { i64::MIN })
                .bind(lease.tenant_id.as_str())
                .bind(lease.now_ms);
            for kind in lease.kinds {
                q = q.bind(*kind);
            }
            if lease.skip_missing_import_key {
                q = q.bind(lease.connector_id.as_str());
            }
            if let Some(issuer) = lease.issuer_name {
                q = q.bind(issuer);
            }
            q.bind(lease.token_hashes.len() as i64)
        };
        let written = async {
            let (mut changes_before, ran_out, mut json) = read(&begin_and_select, true)
                .fetch_one(&mut *conn)
                .await
                .map_err(interpret)?;
            if ran_out {
                expire_due(&mut conn, Some(lease.tenant_id), lease.now_ms).await?;
                (changes_before, _, json) = read(&select, false)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(interpret)?;
            }
            leased = job_rows(&json)?;
            if leased.is_empty() {
                sqlx::query("COMMIT")
                    .execute(&mut *conn)
                    .await
                    .map_err(interpret)?;
                return Ok(0);
            }
            // The i-th job (in seq order) gets the i-th token; one text, one command, updates
            // them all, inserts their attempts (5 parameters a row, at most 100 rows a lease),
            // commits and reads the count of changed rows again. (Rows joined from
            // `FROM (VALUES …)`: the same join written as a CTE made SQLite 3.4x update 20 times
            // slower.) The connection stays locked from the read to the commit and this process
            // is the database's only writer, so the rows read above are the rows this updates.
            let n = leased.len();
            let sql = format!(
                "UPDATE jobs SET state = 'leased', attempts = attempts + 1, lease_token_hash = l.column2, \
                 lease_connector_id = ?, lease_expires_ms = ? FROM (VALUES {}) AS l WHERE jobs.id = l.column1; \
                 INSERT INTO job_attempts (job_id, attempt, connector_id, lease_token_hash, leased_ms) VALUES {}; \
                 COMMIT; SELECT total_changes()",
                vec!["(?, ?)"; n].join(", "),
                vec!["(?, ?, ?, ?, ?)"; n].join(", ")
            );
            for (row, token_hash) in leased.iter_mut().zip(lease.token_hashes) {
                row.state = JobState::Leased;
                row.attempts += 1;
                row.lease_token_hash = Some(token_hash.clone());
                row.lease_connector_id = Some(lease.connector_id.to_owned());
                row.lease_expires_ms = Some(lease.lease_expires_ms);
            }
            let mut q = sqlx::query_as::<_, (i64,)>(&sql)
                .bind(lease.connector_id.as_str())
                .bind(lease.lease_expires_ms);
            for row in &leased {
                q = q.bind(row.id.as_str()).bind(&row.lease_token_hash);
            }
            for row in &leased {
                q = q
                    .bind(row.id.as_str())
                    .bind(row.attempts)
                    .bind(lease.connector_id.as_str())
                    .bind(&row.lease_token_hash)
                    .bind(lease.now_ms);
            }
            let (changes_after,) = q.fetch_one(&mut *conn).await.map_err(interpret)?;
            Ok(changes_after - changes_before)
        }
        .await;
        let written = or_rolled_back(&mut conn, written).await?;
        // Each job updated once and its attempt inserted once. (Under the lock this cannot
        // fail; if it ever did, the lease is written and its jobs come back when it runs out.)
        let n = leased.len() as i64;
        if written != 2 * n {
            return Err(StoreError::Conflict(format!(
                "a lease of {n} jobs wrote {written} rows, not {}",
                2 * n
            )));
        }
        Ok(leased)
    }

    async fn complete_jobs(&self, completions: &[Completion<'_>]) -> StoreResult<Vec<bool>> {
        let mut applied = vec![false; completions.len()];
        let chosen = super::first_per_job(completions);
        if chosen.is_empty() {
            return Ok(applied);
        }
        let mut conn = self.conn.lock().await;
        // Each completion is a compare-and-set on the token hash: a stale token matches no row.
        // Nearly always every one applies, which the count of updated rows shows (sent with the
        // transaction's `BEGIN` in one command); only when it does not is the statement run again
        // with `RETURNING id` to learn which did.
        let rows: Vec<&Completion<'_>> = chosen.iter().map(|&i| &completions[i]).collect();
        let sql = format!(
            "BEGIN; {}; SELECT changes()",
            completion_update(rows.len(), false)
        );
        let done = async {
            let (updated,): (i64,) = sqlx::FromRow::from_row(
                &bind_completions(&sql, &rows)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(interpret)?,
            )
            .map_err(interpret)?;
            if updated == rows.len() as i64 {
                return Ok(rows.iter().map(|c| c.job_id.clone()).collect());
            }
            let sql = format!("ROLLBACK; BEGIN; {}", completion_update(rows.len(), true));
            bind_completions(&sql, &rows)
                .fetch_all(&mut *conn)
                .await
                .map_err(interpret)?
                .iter()
                .map(|row| sqlx::Row::try_get::<JobId, _>(row, 0).map_err(interpret))
                .collect()
        }
        .await;
        let done: std::collections::HashSet<JobId> = or_rolled_back(&mut conn, done).await?;
        let hit: Vec<usize> = chosen
            .into_iter()
            .filter(|&i| done.contains(completions[i].job_id))
            .collect();
        // The attempts of the completions that applied, and the commit: one command.
        let update = if hit.is_empty() {
            "COMMIT".to_owned()
        } else {
            let values = vec!["(?, ?, ?, ?, ?)"; hit.len()].join(", ");
            format!(
                "UPDATE job_attempts SET outcome = c.column3, error_code = c.column4, ended_ms = c.column5 \
                 FROM (VALUES {values}) AS c \
                 WHERE job_attempts.job_id = c.column1 AND job_attempts.lease_token_hash = c.column2; COMMIT"
            )
        };
        let mut q = sqlx::query(&update);
        for &i in &hit {
            let c = &completions[i];
            q = q
                .bind(c.job_id.as_str())
                .bind(c.token_hash)
                .bind(c.attempt_outcome)
                .bind(c.error_code)
                .bind(c.now_ms);
            applied[i] = true;
        }
        in_one_transaction(&mut conn, q).await?;
        Ok(applied)
    }

    async fn get_jobs(&self, tenant_id: &TenantId, ids: &[&JobId]) -> StoreResult<Vec<JobRow>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        // By id alone (the unique index); with `tenant_id = ?` in the statement SQLite walked
        // the tenant's whole queue instead. The tenant is checked here.
        let placeholders = vec!["?"; ids.len()].join(", ");
        let sql =
            format!("SELECT json_group_array({JOB_JSON}) FROM jobs WHERE id IN ({placeholders})");
        let mut q = sqlx::query_as::<_, (String,)>(&sql);
        for id in ids {
            q = q.bind(id.as_str());
        }
        let (json,) = q
            .fetch_one(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)?;
        let mut rows = job_rows(&json)?;
        rows.retain(|row| row.tenant_id == *tenant_id);
        Ok(rows)
    }

    async fn cancel_job(&self, tenant_id: &TenantId, id: &JobId, now_ms: i64) -> StoreResult<bool> {
        let mut conn = self.conn.lock().await;
        let mut tx = conn.begin().await.map_err(interpret)?;
        sqlx::query("UPDATE job_attempts SET outcome = 'cancelled', ended_ms = ? WHERE job_id = ? AND outcome IS NULL")
            .bind(now_ms)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(interpret)?;
        let done = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', completed_ms = ?, lease_token_hash = NULL, lease_connector_id = NULL, \
             lease_expires_ms = NULL WHERE tenant_id = ? AND id = ? AND state IN ('queued', 'leased')",
        )
        .bind(now_ms)
        .bind(tenant_id.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
        tx.commit().await.map_err(interpret)?;
        Ok(done.rows_affected() > 0)
    }

    async fn release_connector_leases(
        &self,
        connector_id: &ConnectorId,
        now_ms: i64,
    ) -> StoreResult<u64> {
        let mut conn = self.conn.lock().await;
        let mut tx = conn.begin().await.map_err(interpret)?;
        sqlx::query(
            "UPDATE job_attempts SET outcome = 'released', ended_ms = ? WHERE outcome IS NULL AND job_id IN \
             (SELECT id FROM jobs WHERE state = 'leased' AND lease_connector_id = ?)",
        )
        .bind(now_ms)
        .bind(connector_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
        // The attempt stays counted (it happened); the job is visible again at once.
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', visible_ms = ?, lease_token_hash = NULL, \
             lease_connector_id = NULL, lease_expires_ms = NULL WHERE state = 'leased' AND lease_connector_id = ?",
        )
        .bind(now_ms)
        .bind(connector_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
        tx.commit().await.map_err(interpret)?;
        Ok(done.rows_affected())
    }

    async fn next_job_deadline(&self, after_ms: i64) -> StoreResult<Option<i64>> {
        let (a,): (Option<i64>,) = sqlx::query_as("SELECT MIN(lease_expires_ms) FROM jobs WHERE state = 'leased' AND lease_expires_ms > ?")
            .bind(after_ms)
            .fetch_one(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)?;
        let (b,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(visible_ms) FROM jobs WHERE state = 'queued' AND visible_ms > ?",
        )
        .bind(after_ms)
        .fetch_one(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)?;
        Ok(match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        })
    }

    async fn clock_ms(&self) -> StoreResult<Option<i64>> {
        sqlx::query_scalar("SELECT now_ms FROM virtual_clock WHERE id = 1")
            .fetch_optional(&mut *self.conn.lock().await)
            .await
            .map_err(interpret)
    }

    async fn store_clock_ms(&self, ms: i64, backwards: bool) -> StoreResult<i64> {
        sqlx::query_scalar(
            "INSERT INTO virtual_clock (id, now_ms) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET now_ms = \
             CASE WHEN ?2 THEN excluded.now_ms ELSE max(virtual_clock.now_ms, excluded.now_ms) END \
             RETURNING now_ms",
        )
        .bind(ms)
        .bind(backwards)
        .fetch_one(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)
    }

    async fn job_stats(&self) -> StoreResult<Vec<JobStat>> {
        sqlx::query_as(
            "SELECT kind, state, COUNT(*) AS count, MIN(created_ms) AS oldest_created_ms \
             FROM jobs GROUP BY kind, state ORDER BY kind, state",
        )
        .fetch_all(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)
    }

    async fn attempt_outcomes(&self) -> StoreResult<Vec<(AttemptOutcome, i64)>> {
        sqlx::query_as(
            "SELECT outcome, COUNT(*) FROM job_attempts WHERE outcome IS NOT NULL \
             GROUP BY outcome ORDER BY outcome",
        )
        .fetch_all(&mut *self.conn.lock().await)
        .await
        .map_err(interpret)
    }
}
