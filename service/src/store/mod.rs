//! Storage: the `Store` trait and its rows. The only place with SQL.
//!
//! Invariants: the store never reads the clock (every instant is a parameter, in epoch
//! milliseconds); it checks uniqueness and the per-tenant connector limit atomically; rows carry
//! domain types (ids, job kinds and states, outcomes, feature sets), mapped to and from their
//! TEXT columns in one place (`columns`), so a stored value that does not parse is
//! [`StoreError::Corrupt`].
//!
//! Two implementations behave alike (one store suite, `tests/it/store_suite`, runs against both):
//! `SqliteStore`, the embedded default, and `PgStore`, for several replicas on one PostgreSQL
//! database. Where the two databases agree, a method is provided here once and runs the one
//! statement of `sql` (texts with `$n` parameters, which both read); a backend overrides it only
//! where it does something else: each keeps its own queue's hot paths (`sqlite/queue.rs`,
//! `postgres/queue.rs`, side by side), SQLite keeps a cache of the rows every connector call
//! reads (`sqlite/cache.rs`), PostgreSQL takes row locks that hold across processes. Queries are
//! checked at run time (`sqlx::query`; no offline query metadata).
//!
//! To add a store method: declare it on [`Store`]; where both databases can run the same
//! statements, write them in `sql.rs` and provide the method here; otherwise implement it in
//! both backends. Then give it a function in the store suite, which runs it on both.

mod columns;
mod engine;
mod migrations;
mod postgres;
mod rows;
mod sql;
mod sqlite;

pub use postgres::PgStore;
pub use rows::{
    AttemptRow, Completion, ConnectorRow, DeviceKeyRow, EnqueueKeyRow, HealthWrite, HistoryRow,
    JobRow, JobStat, LeaseJobs, Reconciled, ReleaseRow, ScepChallengeRow, SigningKeyRow, TenantRow,
    UserPfxRow,
};
pub use sqlite::{file_of as sqlite_file, SqliteStore};

use async_trait::async_trait;

use crate::domain::{ConnectorId, JobId, JobKind, JobState, TenantId};
use engine::{all, found, one, optional, Engine};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("the tenant already has {0} connectors")]
    LimitReached(u32),
    #[error("machine `{0}` already has a connector in this tenant")]
    MachineTaken(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value that does not parse as what its column holds (written by something else,
    /// or by a version that spelled it differently).
    #[error("stored data does not parse: {0}")]
    Corrupt(String),
    #[error("database error")]
    Backend(#[source] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Maps driver errors to `StoreError` alike for both backends: no row is `NotFound`, a unique
/// violation is `Conflict` (with the server's message), a column whose text does not parse is
/// `Corrupt` (naming the column), anything else is `Backend`.
pub(crate) fn interpret(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::ColumnDecode { index, source } => {
            StoreError::Corrupt(format!("column {index}: {source}"))
        }
        _ => StoreError::Backend(error),
    }
}

/// [`Store::record_presence`] as three writes: the connector's row first, so that a connector
/// that is gone is `NotFound` with nothing written.
pub(crate) async fn presence_one_write_at_a_time<S: Store + ?Sized>(
    store: &S,
    connector: &ConnectorRow,
    reconciled: &[Reconciled],
    health: Option<HealthWrite<'_>>,
) -> StoreResult<()> {
    store.update_connector(connector).await?;
    if !reconciled.is_empty() {
        store
            .record_reconciled(&connector.tenant_id, reconciled)
            .await?;
    }
    if let Some(h) = health {
        store
            .insert_health(
                &connector.tenant_id,
                &connector.id,
                h.at_ms,
                h.body,
                h.keep_from_ms,
            )
            .await?;
    }
    Ok(())
}

/// The service's storage. Provided methods run the statements both databases share (`sql.rs`);
/// `Engine`, a supertrait only this module can name, is how they reach a backend.
#[async_trait]
pub trait Store: Engine + Send + Sync + std::fmt::Debug {
    async fn insert_tenant(&self, tenant: &TenantRow) -> StoreResult<()> {
        self.execute(sql::insert_tenant(tenant)).await.map(drop)
    }
    async fn list_tenants(&self) -> StoreResult<Vec<TenantRow>> {
        all(self, sql::list_tenants()).await
    }
    async fn get_tenant(&self, id: &TenantId) -> StoreResult<TenantRow> {
        one(self, sql::get_tenant(id)).await
    }
    async fn tenant_by_enrollment_hash(&self, hash: &str) -> StoreResult<TenantRow> {
        one(self, sql::tenant_by_enrollment_hash(hash)).await
    }
    async fn tenant_by_client_id(&self, client_id: &str) -> StoreResult<TenantRow> {
        one(self, sql::tenant_by_client_id(client_id)).await
    }
    /// `NotFound` if there is no such tenant.
    async fn set_tenant_import_key(
        &self,
        id: &TenantId,
        thumbprint: Option<&str>,
    ) -> StoreResult<()> {
        found(
            self.execute(sql::set_tenant_import_key(id, thumbprint))
                .await?,
        )
    }
    /// Removes the tenant and everything it owns. `NotFound` if there was none.
    async fn delete_tenant(&self, id: &TenantId) -> StoreResult<()> {
        found(self.transaction(sql::delete_tenant(id)).await?[1])
    }

    /// Inserts a connector unless its tenant already has `limit` connectors (`LimitReached`) or
    /// the machine already has one (`MachineTaken`); both checks and the insert are one atomic
    /// step, with the connector's first history row.
    async fn insert_connector(
        &self,
        connector: &ConnectorRow,
        first: &HistoryRow,
        limit: u32,
    ) -> StoreResult<()>;
    async fn connector_by_credential(&self, hash: &str) -> StoreResult<ConnectorRow> {
        one(self, sql::connector_by_credential(hash)).await
    }
    async fn get_connector(
        &self,
        tenant_id: &TenantId,
        id: &ConnectorId,
    ) -> StoreResult<ConnectorRow> {
        one(self, sql::get_connector(tenant_id, id)).await
    }
    async fn list_connectors(&self, tenant_id: &TenantId) -> StoreResult<Vec<ConnectorRow>> {
        all(self, sql::list_connectors(tenant_id)).await
    }
    /// The distinct versions of a tenant's connectors, in text order.
    async fn connector_versions(&self, tenant_id: &TenantId) -> StoreResult<Vec<String>> {
        Ok(sql::in_text_order(
            all(self, sql::connector_versions(tenant_id)).await?,
        ))
    }
    async fn list_all_connectors(&self) -> StoreResult<Vec<ConnectorRow>> {
        all(self, sql::list_all_connectors()).await
    }
    /// Writes the mutable fields of a connector (everything but ids, tenant, credential, machine,
    /// enrolment and the reconciliation's bookkeeping). `NotFound` if it is gone.
    async fn update_connector(&self, connector: &ConnectorRow) -> StoreResult<()> {
        found(self.execute(sql::update_connector(connector)).await?)
    }
    /// Removes the connector and its health messages (its history stays). `NotFound` if it was
    /// gone.
    async fn delete_connector(&self, tenant_id: &TenantId, id: &ConnectorId) -> StoreResult<()> {
        found(
            self.transaction(sql::delete_connector(tenant_id, id))
                .await?[1],
        )
    }

    /// Keeps one health message (`at_ms` is unique per connector: a repeat replaces it) and drops
    /// the connector's messages older than `keep_from_ms`.
    async fn insert_health(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
        at_ms: i64,
        body: &str,
        keep_from_ms: i64,
    ) -> StoreResult<()> {
        let keep = sql::keep_health(tenant_id, connector_id, at_ms, body, keep_from_ms);
        self.batch(keep.into()).await
    }
    /// The connector's health messages with `from_ms <= at_ms <= to_ms`, oldest first.
    async fn list_health(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<(i64, String)>> {
        all(
            self,
            sql::list_health(tenant_id, connector_id, from_ms, to_ms),
        )
        .await
    }

    /// A connector showed it is there (a check-in or a health message), written at once: the
    /// connector's row as `connector` has it (as [`Store::update_connector`]), the
    /// reconciliation up to now (as [`Store::record_reconciled`]; may be empty), and the health
    /// message to keep, if any (as [`Store::insert_health`]). `NotFound`, with nothing written,
    /// when the connector is gone. This default makes the three writes in that order; a store
    /// may make them one transaction.
    async fn record_presence(
        &self,
        connector: &ConnectorRow,
        reconciled: &[Reconciled],
        health: Option<HealthWrite<'_>>,
    ) -> StoreResult<()> {
        presence_one_write_at_a_time(self, connector, reconciled, health).await
    }

    /// Appends history and moves each connector's reconciliation mark forward, in one transaction.
    /// Idempotent: an entry already recorded (same connector and seq: another replica reconciled
    /// the same span) is kept as it is, and a mark never moves back.
    async fn record_reconciled(
        &self,
        tenant_id: &TenantId,
        reconciled: &[Reconciled],
    ) -> StoreResult<()> {
        self.batch(sql::reconciled(tenant_id, reconciled)).await
    }
    async fn list_history(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
    ) -> StoreResult<Vec<HistoryRow>> {
        all(self, sql::list_history(tenant_id, connector_id)).await
    }

    async fn list_releases(&self) -> StoreResult<Vec<ReleaseRow>> {
        all(self, sql::list_releases()).await
    }
    async fn insert_release(&self, release: &ReleaseRow) -> StoreResult<()> {
        self.execute(sql::insert_release(release)).await.map(drop)
    }

    /// Enqueues `jobs` in one transaction, in slice order (the order lists and leases follow); an
    /// id already used refuses the whole batch (`Conflict`).
    async fn insert_jobs(&self, jobs: &[JobRow]) -> StoreResult<()> {
        self.insert_jobs_holding(jobs, &[]).await
    }
    /// [`Store::insert_jobs`] with the device keys the service made for them, in one transaction.
    async fn insert_jobs_holding(
        &self,
        jobs: &[JobRow],
        device_keys: &[DeviceKeyRow],
    ) -> StoreResult<()>;
    /// The tenant's idempotency key `key`, if it was stored at `kept_from_ms` or later.
    async fn enqueue_key(
        &self,
        tenant_id: &TenantId,
        key: &str,
        kept_from_ms: i64,
    ) -> StoreResult<Option<EnqueueKeyRow>> {
        let found = optional(self, sql::enqueue_key(tenant_id, key, kept_from_ms)).await?;
        found
            .map(|columns| EnqueueKeyRow::from_columns(tenant_id, key, columns))
            .transpose()
    }
    /// [`Store::insert_jobs`] under an idempotency key, in one transaction with the key (so a
    /// crash leaves both or neither): the keys stored before `kept_from_ms` are forgotten first;
    /// then, when the tenant holds `key` already (a retry, or a concurrent request with the same
    /// key that got there first), nothing is written and the stored key is answered; otherwise
    /// the key and the jobs are written and the answer is `None`.
    async fn insert_jobs_keyed(
        &self,
        jobs: &[JobRow],
        device_keys: &[DeviceKeyRow],
        key: &EnqueueKeyRow,
        kept_from_ms: i64,
    ) -> StoreResult<Option<EnqueueKeyRow>>;
    /// The private key (PEM) the service made for the tenant's job `id`, if it made one.
    async fn device_key(&self, tenant_id: &TenantId, id: &JobId) -> StoreResult<Option<String>> {
        let found: Option<(String,)> = optional(self, sql::device_key(tenant_id, id)).await?;
        Ok(found.map(|(pem,)| pem))
    }
    async fn get_job(&self, tenant_id: &TenantId, id: &JobId) -> StoreResult<JobRow> {
        one(self, sql::get_job(tenant_id, id)).await
    }
    /// Jobs of a tenant in enqueue order, optionally of one kind and state. A negative `limit`
    /// means no limit, a negative `offset` none.
    async fn list_jobs(
        &self,
        tenant_id: &TenantId,
        kind: Option<JobKind>,
        state: Option<JobState>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<JobRow>> {
        all(self, sql::list_jobs(tenant_id, kind, state, limit, offset)).await
    }
    async fn count_jobs(
        &self,
        tenant_id: &TenantId,
        kind: Option<JobKind>,
        state: Option<JobState>,
    ) -> StoreResult<i64> {
        let (n,): (i64,) = one(self, sql::count_jobs(tenant_id, kind, state)).await?;
        Ok(n)
    }
    /// Whether the tenant has a job in state `queued` (ready, or waiting out a retry backoff):
    /// without one, no lease of the tenant's connectors can find work until something changes.
    async fn has_queued_jobs(&self, tenant_id: &TenantId) -> StoreResult<bool>;
    async fn job_attempts(&self, job_id: &JobId) -> StoreResult<Vec<AttemptRow>> {
        all(self, sql::job_attempts(job_id)).await
    }
    /// The attempt of `job_id` that lease token `token_hash` was issued for; `NotFound` if the
    /// token was issued for another job or never.
    async fn attempt_by_token(&self, job_id: &JobId, token_hash: &str) -> StoreResult<AttemptRow> {
        one(self, sql::attempt_by_token(job_id, token_hash)).await
    }
    /// Ends leases that expired by `now_ms`: the job is queued again, or dead-lettered once it
    /// has used all its attempts. Returns how many leases ended.
    async fn expire_leases(&self, tenant_id: Option<&TenantId>, now_ms: i64) -> StoreResult<u64>;
    /// Expires old leases of the tenant, then leases ready jobs, all in one transaction.
    async fn lease_jobs(&self, lease: &LeaseJobs<'_>) -> StoreResult<Vec<JobRow>>;
    /// Applies `completion`; `false` (and no change) if the token no longer holds the lease.
    async fn complete_job(&self, completion: &Completion<'_>) -> StoreResult<bool> {
        Ok(self
            .complete_jobs(std::slice::from_ref(completion))
            .await?
            .first()
            .copied()
            .unwrap_or(false))
    }
    /// Applies many completions in one transaction, in order; answers, per completion, whether
    /// it was applied (its token still held the job's current lease). A duplicate of an earlier
    /// completion in the same call finds the lease gone and answers `false`.
    async fn complete_jobs(&self, completions: &[Completion<'_>]) -> StoreResult<Vec<bool>>;
    /// The jobs of a tenant with these ids (those that exist), in no particular order.
    async fn get_jobs(&self, tenant_id: &TenantId, ids: &[&JobId]) -> StoreResult<Vec<JobRow>>;
    /// Cancels a job that is not finished; `false` if it already was.
    async fn cancel_job(&self, tenant_id: &TenantId, id: &JobId, now_ms: i64) -> StoreResult<bool>;
    /// Puts a connector's open leases back in the queue at once (uninstall), attempts unchanged.
    async fn release_connector_leases(
        &self,
        connector_id: &ConnectorId,
        now_ms: i64,
    ) -> StoreResult<u64>;
    /// The earliest instant after `after_ms` at which a lease expires or a backoff ends.
    async fn next_job_deadline(&self, after_ms: i64) -> StoreResult<Option<i64>> {
        let (deadline,): (Option<i64>,) = one(self, sql::next_job_deadline(after_ms)).await?;
        Ok(deadline)
    }

    // ----- figures for /metrics -----
    /// Jobs of every tenant counted by kind and state, with the oldest one's creation instant;
    /// ordered by kind, then state.
    async fn job_stats(&self) -> StoreResult<Vec<JobStat>> {
        all(self, sql::job_stats()).await
    }
    /// Ended attempts of every tenant counted by outcome (`expired`: a lease that ran out),
    /// ordered by outcome.
    async fn attempt_outcomes(&self) -> StoreResult<Vec<(crate::domain::jobs::AttemptEnd, i64)>> {
        all(self, sql::attempt_outcomes()).await
    }

    // ----- the virtual clock -----
    /// The stored virtual clock (epoch milliseconds), if one was ever stored.
    async fn clock_ms(&self) -> StoreResult<Option<i64>> {
        let row: Option<(i64,)> = optional(self, sql::clock_ms()).await?;
        Ok(row.map(|(ms,)| ms))
    }
    /// Stores the virtual clock: `ms`, or what is stored if that is later (unless `backwards`,
    /// for a reset). Answers the value stored now.
    async fn store_clock_ms(&self, ms: i64, backwards: bool) -> StoreResult<i64> {
        let (stored,): (i64,) = one(self, sql::store_clock_ms(ms, backwards)).await?;
        Ok(stored)
    }
    /// Whether other processes may work on this database at the same time (then each request
    /// first reads the clock from it).
    fn shared(&self) -> bool {
        false
    }
    /// Finishes with the database at shutdown, once no request uses the store any more (SQLite:
    /// the write-ahead log goes back into the file; PostgreSQL: the pool's connections close).
    async fn close(&self) {}

    /// Inserts or replaces (same tenant and id) an imported PFX.
    async fn upsert_user_pfx(&self, row: &UserPfxRow) -> StoreResult<()> {
        self.execute(sql::upsert_user_pfx(row)).await.map(drop)
    }
    async fn get_user_pfx(&self, tenant_id: &TenantId, id: &str) -> StoreResult<UserPfxRow> {
        one(self, sql::get_user_pfx(tenant_id, id)).await
    }
    async fn list_user_pfx(&self, tenant_id: &TenantId) -> StoreResult<Vec<UserPfxRow>> {
        all(self, sql::list_user_pfx(tenant_id)).await
    }
    /// `NotFound` when there was none.
    async fn delete_user_pfx(&self, tenant_id: &TenantId, id: &str) -> StoreResult<()> {
        found(self.execute(sql::delete_user_pfx(tenant_id, id)).await?)
    }

    /// The tenant's SCEP challenge secret; `NotFound` until one is stored.
    async fn scep_secret(&self, tenant_id: &TenantId) -> StoreResult<String> {
        let (secret,): (String,) = one(self, sql::scep_secret(tenant_id)).await?;
        Ok(secret)
    }
    /// Stores `secret` unless the tenant already has one (the first one stays).
    async fn insert_scep_secret(&self, tenant_id: &TenantId, secret: &str) -> StoreResult<()> {
        self.execute(sql::insert_scep_secret(tenant_id, secret))
            .await
            .map(drop)
    }
    async fn insert_scep_challenge(&self, row: &ScepChallengeRow) -> StoreResult<()> {
        self.execute(sql::insert_scep_challenge(row))
            .await
            .map(drop)
    }
    async fn get_scep_challenge(
        &self,
        tenant_id: &TenantId,
        id: &str,
    ) -> StoreResult<ScepChallengeRow> {
        one(self, sql::get_scep_challenge(tenant_id, id)).await
    }
    /// The latest validation under `transaction_id`: (challenge id, code).
    async fn scep_validation(
        &self,
        tenant_id: &TenantId,
        transaction_id: &str,
    ) -> StoreResult<(String, String)> {
        one(self, sql::scep_validation(tenant_id, transaction_id)).await
    }
    /// `NotFound` when there is none.
    async fn set_scep_targeted(
        &self,
        tenant_id: &TenantId,
        id: &str,
        targeted: bool,
    ) -> StoreResult<()> {
        found(
            self.execute(sql::set_scep_targeted(tenant_id, id, targeted))
                .await?,
        )
    }
    /// Records the verdict on a request under `transaction_id` (replacing an earlier one of the
    /// same transaction) and on the challenge it named.
    async fn record_scep_validation(
        &self,
        tenant_id: &TenantId,
        id: &str,
        transaction_id: &str,
        code: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        let statements = sql::record_scep_validation(tenant_id, id, transaction_id, code, now_ms);
        self.batch(statements).await
    }
    async fn record_scep_notification(
        &self,
        tenant_id: &TenantId,
        id: &str,
        kind: &str,
        body: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        let statement = sql::record_scep_notification(tenant_id, id, kind, body, now_ms);
        self.execute(statement).await.map(drop)
    }

    /// Stores a token and drops the ones no longer valid at `now_ms` (`expires_ms <= now_ms`).
    async fn insert_token(
        &self,
        token_hash: &str,
        tenant_id: &TenantId,
        now_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()> {
        let statements = sql::insert_token(token_hash, tenant_id, now_ms, expires_ms);
        self.batch(statements).await
    }
    /// The tenant a token belongs to, if the token exists and expires after `now_ms`.
    async fn token_tenant(&self, token_hash: &str, now_ms: i64) -> StoreResult<TenantId> {
        let (tenant,): (TenantId,) = one(self, sql::token_tenant(token_hash, now_ms)).await?;
        Ok(tenant)
    }
    /// The tenant's token-signing key; `NotFound` until one is stored (or when there is no such
    /// tenant: the key goes with its tenant).
    async fn signing_key(&self, tenant_id: &TenantId) -> StoreResult<SigningKeyRow> {
        one(self, sql::signing_key(tenant_id)).await
    }
    /// Stores `row` unless its tenant already has a key (the first one stays).
    async fn insert_signing_key(&self, row: &SigningKeyRow) -> StoreResult<()> {
        self.execute(sql::insert_signing_key(row)).await.map(drop)
    }
}
