//! The PostgreSQL store: for several service replicas behind a load balancer on one database
//! (docs/behaviour.md, "Storage"). It behaves exactly like `SqliteStore` (the store suite in
//! `tests/it/store_suite` runs against both); what differs is how it stays atomic across
//! processes, which row locks do: in the queue (`queue`), and in a registration.
//!
//! - **Registration** locks the tenant row (`FOR NO KEY UPDATE`) before counting the tenant's
//!   connectors and looking for the machine, so the 100-connector limit and one connector per
//!   machine hold across processes. That lock mode does not block the `FOR KEY SHARE` locks
//!   foreign keys take, so jobs, tokens and health messages of the tenant keep flowing meanwhile.
//! - Text keys that lists sort by are `COLLATE "C"` (migrations), to sort like SQLite whatever
//!   the database's collation.
//! - Across replicas the registry's `facts` lock does not hold; `record_reconciled` is idempotent
//!   instead, so two replicas reconciling the same span write the same history once.
//!
//! Instants are BIGINT epoch milliseconds bound from the service clock (SQL never calls `now()`).

mod queue;

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::PgPool;

use super::engine::{self, AnyRow, Engine, Statement};
use super::rows::{
    Completion, ConnectorRow, DeviceKeyRow, EnqueueKeyRow, HistoryRow, JobRow, LeaseJobs,
};
use super::sql;
use super::{interpret, Store, StoreError, StoreResult};
use crate::domain::{ConnectorId, JobId, TenantId};

/// Connections per replica. Every store call holds one for a few statements at most.
const MAX_CONNECTIONS: u32 = 10;

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://` or `postgresql://`) and runs the embedded
    /// migrations of `migrations/postgres`. Several replicas may open one database at once:
    /// sqlx takes an advisory lock while it migrates.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::Backend)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(StoreError::Backend)?;
        let migrator = sqlx::migrate!("migrations/postgres");
        adopt_comment_edits(&pool, &migrator).await?;
        migrator.run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(PgStore { pool })
    }

    /// Closes the pool's connections (waiting for the ones in use). A test that drops its
    /// database afterwards needs this; a service simply drops the store.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Runs `statement` on a pool or an open transaction; answers how many rows it changed.
async fn execute_on<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    statement: Statement<'_>,
) -> StoreResult<u64> {
    let Statement { text, params } = statement;
    let done = engine::query(&text, params)
        .execute(executor)
        .await
        .map_err(interpret)?;
    Ok(done.rows_affected())
}

/// The rows `statement` answers.
async fn fetch_on<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    statement: Statement<'_>,
) -> StoreResult<Vec<PgRow>> {
    let Statement { text, params } = statement;
    engine::query(&text, params)
        .fetch_all(executor)
        .await
        .map_err(interpret)
}

/// The first row `statement` answers, if any.
async fn optional_on<'c, R>(
    executor: impl sqlx::PgExecutor<'c>,
    statement: Statement<'_>,
) -> StoreResult<Option<R>>
where
    R: for<'r> sqlx::FromRow<'r, PgRow>,
{
    let Statement { text, params } = statement;
    let row = engine::query(&text, params)
        .fetch_optional(executor)
        .await
        .map_err(interpret)?;
    row.map(|row| R::from_row(&row).map_err(interpret))
        .transpose()
}

#[async_trait]
impl Engine for PgStore {
    async fn execute(&self, statement: Statement<'_>) -> StoreResult<u64> {
        execute_on(&self.pool, statement).await
    }

    async fn fetch(&self, statement: Statement<'_>) -> StoreResult<Vec<AnyRow>> {
        let rows = fetch_on(&self.pool, statement).await?;
        Ok(rows.into_iter().map(AnyRow::Postgres).collect())
    }

    async fn transaction(&self, statements: Vec<Statement<'_>>) -> StoreResult<Vec<u64>> {
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        let mut changed = Vec::with_capacity(statements.len());
        for statement in statements {
            changed.push(execute_on(&mut *tx, statement).await?);
        }
        tx.commit().await.map_err(interpret)?;
        Ok(changed)
    }

    async fn batch(&self, statements: Vec<Statement<'_>>) -> StoreResult<()> {
        self.transaction(statements).await.map(drop)
    }
}

/// What differs from the provided methods: the registration's tenant lock, and the queue.
#[async_trait]
impl Store for PgStore {
    async fn insert_connector(
        &self,
        c: &ConnectorRow,
        first: &HistoryRow,
        limit: u32,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        // Serialises registrations into one tenant across processes: a second transaction waits
        // here until the first commits, and its count below (a new snapshot, READ COMMITTED)
        // then includes the first one's connector. An unknown tenant locks nothing and the insert
        // fails on the foreign key, as with SQLite.
        let lock = Statement::new("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE");
        execute_on(&mut *tx, lock.bind(&c.tenant_id)).await?;
        let count: Option<(i64,)> =
            optional_on(&mut *tx, sql::count_connectors(&c.tenant_id)).await?;
        let taken = optional_on(&mut *tx, sql::machine_taken(&c.tenant_id, &c.machine_key)).await?;
        sql::check_room(count.map_or(0, |(n,)| n), limit, taken)?;
        execute_on(&mut *tx, sql::insert_connector(c)).await?;
        execute_on(&mut *tx, sql::insert_history(&c.tenant_id, first)).await?;
        tx.commit().await.map_err(interpret)
    }

    fn shared(&self) -> bool {
        true
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn insert_jobs_holding(
        &self,
        jobs: &[JobRow],
        device_keys: &[DeviceKeyRow],
    ) -> StoreResult<()> {
        queue::insert_jobs(self, jobs, device_keys).await
    }

    async fn insert_jobs_keyed(
        &self,
        jobs: &[JobRow],
        device_keys: &[DeviceKeyRow],
        key: &EnqueueKeyRow,
        kept_from_ms: i64,
    ) -> StoreResult<Option<EnqueueKeyRow>> {
        queue::insert_jobs_keyed(self, jobs, device_keys, key, kept_from_ms).await
    }

    async fn has_queued_jobs(&self, tenant_id: &TenantId) -> StoreResult<bool> {
        queue::has_queued_jobs(self, tenant_id).await
    }

    async fn expire_leases(&self, tenant_id: Option<&TenantId>, now_ms: i64) -> StoreResult<u64> {
        queue::expire_leases(self, tenant_id, now_ms).await
    }

    async fn lease_jobs(&self, lease: &LeaseJobs<'_>) -> StoreResult<Vec<JobRow>> {
        queue::lease_jobs(self, lease).await
    }

    async fn complete_jobs(&self, completions: &[Completion<'_>]) -> StoreResult<Vec<bool>> {
        queue::complete_jobs(self, completions).await
    }

    async fn get_jobs(&self, tenant_id: &TenantId, ids: &[&JobId]) -> StoreResult<Vec<JobRow>> {
        queue::get_jobs(self, tenant_id, ids).await
    }

    async fn cancel_job(&self, tenant_id: &TenantId, id: &JobId, now_ms: i64) -> StoreResult<bool> {
        queue::cancel_job(self, tenant_id, id, now_ms).await
    }

    async fn release_connector_leases(
        &self,
        connector_id: &ConnectorId,
        now_ms: i64,
    ) -> StoreResult<u64> {
        queue::release_connector_leases(self, connector_id, now_ms).await
    }
}

/// Rewrites the stored checksums of migrations edited in comments only
/// (`store::migrations`), on a database that has them.
async fn adopt_comment_edits(
    pool: &sqlx::PgPool,
    migrator: &sqlx::migrate::Migrator,
) -> StoreResult<()> {
    let (has_table,): (bool,) =
        sqlx::query_as("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await
            .map_err(StoreError::Backend)?;
    if !has_table {
        return Ok(());
    }
    for (version, shipped, now) in
        super::migrations::rewrites(migrator, super::migrations::POSTGRES_EDITS)
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
