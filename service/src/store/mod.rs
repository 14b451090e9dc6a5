//! Storage: the `Store` trait and its rows. The only place with SQL.
//!
//! Invariants: the store never reads the clock (every instant is a parameter, in epoch
//! milliseconds); it checks uniqueness and the per-tenant connector limit atomically; rows carry
//! domain types (ids, job kinds and states, outcomes, feature sets), mapped to and from their
//! TEXT columns in one place (`columns`), so a stored value that does not parse is
//! [`StoreError::Corrupt`].
//!
//! Two implementations behave alike (one store suite runs against both): `SqliteStore`, the
//! embedded default, and `PgStore`, for several replicas on one PostgreSQL database.

mod columns;
mod postgres;
mod sqlite;

pub use columns::{AttemptOutcome, AttemptOutcomeError};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;

use crate::domain::{ConnectorId, FeatureSet, JobId, JobKind, JobState, Outcome, TenantId};

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

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantRow {
    pub id: TenantId,
    pub display_name: String,
    pub rollout_delay_days: i64,
    pub enrollment_secret_hash: String,
    pub client_id: String,
    pub client_secret_hash: String,
    pub import_key_thumbprint: Option<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConnectorRow {
    pub id: ConnectorId,
    pub tenant_id: TenantId,
    pub credential_hash: String,
    pub display_name: String,
    pub machine_name: String,
    pub machine_key: String,
    pub features: FeatureSet,
    pub version: String,
    pub product: String,
    pub service_account: String,
    pub proxy: Option<String>,
    pub import_key_thumbprint: Option<String>,
    pub auto_update: bool,
    /// Products sharing the machine (stored comma-joined).
    #[sqlx(try_from = "columns::List")]
    pub co_installed: Vec<String>,
    pub enrolled_ms: i64,
    pub last_checkin_ms: Option<i64>,
    pub reconciled_ms: i64,
    pub last_status: String,
    /// Reason codes of the last status (stored comma-joined).
    #[sqlx(try_from = "columns::List")]
    pub last_reasons: Vec<String>,
    pub seq: i64,
    /// The last health upload.
    pub last_health_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReleaseRow {
    pub version: String,
    pub released_ms: i64,
    pub published_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HistoryRow {
    pub connector_id: ConnectorId,
    pub seq: i64,
    pub at_ms: i64,
    pub status: String,
    /// Reason codes (stored comma-joined).
    #[sqlx(try_from = "columns::List")]
    pub reasons: Vec<String>,
}

/// What `reconcile` writes for one connector: new history rows and its new bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub connector_id: ConnectorId,
    pub entries: Vec<HistoryRow>,
    pub reconciled_ms: i64,
    pub last_status: String,
    pub last_reasons: Vec<String>,
    pub seq: i64,
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

/// A health message to keep (see [`Store::insert_health`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthWrite<'a> {
    pub at_ms: i64,
    pub body: &'a str,
    /// Messages of the connector older than this go.
    pub keep_from_ms: i64,
}

/// How many jobs of one kind are in one state, and when the oldest of them was created.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobStat {
    pub kind: JobKind,
    pub state: JobState,
    pub count: i64,
    pub oldest_created_ms: i64,
}

/// A job. (Also read from JSON: the SQLite store hands many rows over as one JSON array, with
/// the same parsing of each column.)
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct JobRow {
    #[serde(deserialize_with = "columns::serde_columns::column")]
    pub id: JobId,
    #[serde(deserialize_with = "columns::serde_columns::column")]
    pub tenant_id: TenantId,
    #[serde(deserialize_with = "columns::serde_columns::column")]
    pub kind: JobKind,
    #[serde(deserialize_with = "columns::serde_columns::column")]
    pub state: JobState,
    /// JSON text.
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub visible_ms: i64,
    pub lease_token_hash: Option<String>,
    /// The lease holder: a connector, or a third-party CA (`third-party-ca:{clientId}`).
    #[serde(deserialize_with = "columns::serde_columns::optional")]
    pub lease_connector_id: Option<ConnectorId>,
    pub lease_expires_ms: Option<i64>,
    /// JSON text.
    pub result: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_ms: i64,
    pub completed_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserPfxRow {
    pub tenant_id: TenantId,
    /// `{userId without dashes}-{thumbprint lower-case}`.
    pub id: String,
    pub user_principal_name: String,
    pub thumbprint: String,
    pub intended_purpose: String,
    pub padding_scheme: String,
    pub provider_name: String,
    pub key_name: String,
    /// Base64 PFX bytes.
    pub encrypted_pfx_blob: String,
    /// Base64 password encrypted to the tenant's import key.
    pub encrypted_pfx_password: String,
    pub start_ms: Option<i64>,
    pub expiration_ms: Option<i64>,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// A SCEP challenge issued to a device targeted by a SCEP profile (see `crate::scep`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScepChallengeRow {
    pub tenant_id: TenantId,
    pub id: String,
    pub device_id: String,
    pub user_id: Option<String>,
    pub subject: String,
    /// JSON array of `{"type", "value"}`.
    pub subject_alt_names: String,
    /// Comma-separated key usage names.
    pub key_usage: String,
    pub key_size: i64,
    /// Comma-separated dotted OIDs.
    pub extended_key_usage: String,
    pub issued_ms: i64,
    pub expires_ms: i64,
    pub targeted: bool,
    pub transaction_id: Option<String>,
    pub last_code: Option<String>,
    pub notification_kind: Option<String>,
    /// JSON text.
    pub notification: Option<String>,
    pub notified_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRow {
    pub job_id: JobId,
    pub attempt: i64,
    /// The lease holder (see [`JobRow::lease_connector_id`]).
    pub connector_id: ConnectorId,
    pub lease_token_hash: String,
    pub leased_ms: i64,
    /// `None` while the attempt's lease is open.
    pub outcome: Option<AttemptOutcome>,
    pub error_code: Option<String>,
    pub ended_ms: Option<i64>,
}

/// A lease call: up to `token_hashes.len()` ready jobs of `kinds`, oldest first.
#[derive(Debug, Clone)]
pub struct LeaseJobs<'a> {
    pub tenant_id: &'a TenantId,
    /// The lease holder (see [`JobRow::lease_connector_id`]).
    pub connector_id: &'a ConnectorId,
    pub kinds: &'a [JobKind],
    pub now_ms: i64,
    pub lease_expires_ms: i64,
    pub token_hashes: &'a [String],
    /// Skip jobs this connector handed back because it lacks the tenant's import key.
    pub skip_missing_import_key: bool,
    /// Only jobs whose payload's `issuerName` is this (case-insensitive).
    pub issuer_name: Option<&'a str>,
}

/// The end of one attempt: the job's new state and fields, applied only if `token_hash` still
/// holds the job's current lease.
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    pub job_id: &'a JobId,
    pub token_hash: &'a str,
    pub now_ms: i64,
    /// `Succeeded`, `Failed`, `Queued` (retry) or `DeadLetter`.
    pub new_state: JobState,
    pub attempt_outcome: Outcome,
    pub visible_ms: i64,
    pub result: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
}

/// The completions a batch writes: the first one naming each job, by position. A later one
/// naming the same job finds the lease gone (as it would one call later) and is not written.
pub fn first_per_job(completions: &[Completion<'_>]) -> Vec<usize> {
    let mut seen = std::collections::HashSet::new();
    (0..completions.len())
        .filter(|&i| seen.insert(completions[i].job_id))
        .collect()
}

/// Puts leased rows (from an `UPDATE … RETURNING`, which has no order) in the order of `ids`, the
/// order the lease chose them in (oldest first).
pub fn in_lease_order(rows: &mut [JobRow], ids: &[&str]) {
    let position: std::collections::HashMap<&str, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    rows.sort_by_key(|row| position.get(row.id.as_str()).copied());
}

/// Whether a completion ends the job (sets `completed_ms`).
pub fn finishes(completion: &Completion<'_>) -> bool {
    matches!(
        completion.new_state,
        JobState::Succeeded | JobState::Failed | JobState::DeadLetter
    )
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    async fn insert_tenant(&self, tenant: &TenantRow) -> StoreResult<()>;
    async fn list_tenants(&self) -> StoreResult<Vec<TenantRow>>;
    async fn get_tenant(&self, id: &TenantId) -> StoreResult<TenantRow>;
    async fn tenant_by_enrollment_hash(&self, hash: &str) -> StoreResult<TenantRow>;
    async fn tenant_by_client_id(&self, client_id: &str) -> StoreResult<TenantRow>;
    async fn set_tenant_import_key(
        &self,
        id: &TenantId,
        thumbprint: Option<&str>,
    ) -> StoreResult<()>;
    /// Removes the tenant and everything it owns. `NotFound` if there was none.
    async fn delete_tenant(&self, id: &TenantId) -> StoreResult<()>;

    /// Inserts a connector unless its tenant already has `limit` connectors (`LimitReached`) or
    /// the machine already has one (`MachineTaken`); both checks and the insert are one atomic step.
    async fn insert_connector(
        &self,
        connector: &ConnectorRow,
        first: &HistoryRow,
        limit: u32,
    ) -> StoreResult<()>;
    async fn connector_by_credential(&self, hash: &str) -> StoreResult<ConnectorRow>;
    async fn get_connector(
        &self,
        tenant_id: &TenantId,
        id: &ConnectorId,
    ) -> StoreResult<ConnectorRow>;
    async fn list_connectors(&self, tenant_id: &TenantId) -> StoreResult<Vec<ConnectorRow>>;
    /// The distinct versions of a tenant's connectors, in text order.
    async fn connector_versions(&self, tenant_id: &TenantId) -> StoreResult<Vec<String>>;
    async fn list_all_connectors(&self) -> StoreResult<Vec<ConnectorRow>>;
    /// Writes the mutable fields of a connector (everything but ids, tenant, credential, enrolled).
    async fn update_connector(&self, connector: &ConnectorRow) -> StoreResult<()>;
    async fn delete_connector(&self, tenant_id: &TenantId, id: &ConnectorId) -> StoreResult<()>;

    /// Keeps one health message (`at_ms` is unique per connector: a repeat replaces it) and drops
    /// the connector's messages older than `keep_from_ms`.
    async fn insert_health(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
        at_ms: i64,
        body: &str,
        keep_from_ms: i64,
    ) -> StoreResult<()>;
    /// The connector's health messages with `from_ms <= at_ms <= to_ms`, oldest first.
    async fn list_health(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<(i64, String)>>;

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
    ) -> StoreResult<()>;
    async fn list_history(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
    ) -> StoreResult<Vec<HistoryRow>>;

    async fn list_releases(&self) -> StoreResult<Vec<ReleaseRow>>;
    async fn insert_release(&self, release: &ReleaseRow) -> StoreResult<()>;

    /// Enqueues `jobs` in one transaction, in slice order (the order lists and leases follow); an
    /// id already used refuses the whole batch (`Conflict`).
    async fn insert_jobs(&self, jobs: &[JobRow]) -> StoreResult<()>;
    async fn get_job(&self, tenant_id: &TenantId, id: &JobId) -> StoreResult<JobRow>;
    /// Jobs of a tenant in enqueue order, optionally of one kind and state. A negative `limit`
    /// means no limit, a negative `offset` none.
    async fn list_jobs(
        &self,
        tenant_id: &TenantId,
        kind: Option<JobKind>,
        state: Option<JobState>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<JobRow>>;
    async fn count_jobs(
        &self,
        tenant_id: &TenantId,
        kind: Option<JobKind>,
        state: Option<JobState>,
    ) -> StoreResult<i64>;
    /// Whether the tenant has a job in state `queued` (ready, or waiting out a retry backoff):
    /// without one, no lease of the tenant's connectors can find work until something changes.
    async fn has_queued_jobs(&self, tenant_id: &TenantId) -> StoreResult<bool>;
    async fn job_attempts(&self, job_id: &JobId) -> StoreResult<Vec<AttemptRow>>;
    /// The attempt of `job_id` that lease token `token_hash` was issued for; `NotFound` if the
    /// token was issued for another job or never.
    async fn attempt_by_token(&self, job_id: &JobId, token_hash: &str) -> StoreResult<AttemptRow>;
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
    async fn next_job_deadline(&self, after_ms: i64) -> StoreResult<Option<i64>>;

    // ----- figures for /metrics -----
    /// Jobs of every tenant counted by kind and state, with the oldest one's creation instant;
    /// ordered by kind, then state.
    async fn job_stats(&self) -> StoreResult<Vec<JobStat>>;
    /// Ended attempts of every tenant counted by outcome (`expired`: a lease that ran out),
    /// ordered by outcome.
    async fn attempt_outcomes(&self) -> StoreResult<Vec<(AttemptOutcome, i64)>>;

    // ----- the virtual clock -----
    /// The stored virtual clock (epoch milliseconds), if one was ever stored.
    async fn clock_ms(&self) -> StoreResult<Option<i64>>;
    /// Stores the virtual clock: `ms`, or what is stored if that is later (unless `backwards`,
    /// for a reset). Answers the value stored now.
    async fn store_clock_ms(&self, ms: i64, backwards: bool) -> StoreResult<i64>;
    /// Whether other processes may work on this database at the same time (then each request
    /// first reads the clock from it).
    fn shared(&self) -> bool {
        false
    }

    /// Inserts or replaces (same tenant and id) an imported PFX.
    async fn upsert_user_pfx(&self, row: &UserPfxRow) -> StoreResult<()>;
    async fn get_user_pfx(&self, tenant_id: &TenantId, id: &str) -> StoreResult<UserPfxRow>;
    async fn list_user_pfx(&self, tenant_id: &TenantId) -> StoreResult<Vec<UserPfxRow>>;
    /// `NotFound` when there was none.
    async fn delete_user_pfx(&self, tenant_id: &TenantId, id: &str) -> StoreResult<()>;

    /// The tenant's SCEP challenge secret; `NotFound` until one is stored.
    async fn scep_secret(&self, tenant_id: &TenantId) -> StoreResult<String>;
    /// Stores `secret` unless the tenant already has one (the first one stays).
    async fn insert_scep_secret(&self, tenant_id: &TenantId, secret: &str) -> StoreResult<()>;
    async fn insert_scep_challenge(&self, row: &ScepChallengeRow) -> StoreResult<()>;
    async fn get_scep_challenge(
        &self,
        tenant_id: &TenantId,
        id: &str,
    ) -> StoreResult<ScepChallengeRow>;
    /// The latest validation under `transaction_id`: (challenge id, code).
    async fn scep_validation(
        &self,
        tenant_id: &TenantId,
        transaction_id: &str,
    ) -> StoreResult<(String, String)>;
    /// `NotFound` when there is none.
    async fn set_scep_targeted(
        &self,
        tenant_id: &TenantId,
        id: &str,
        targeted: bool,
    ) -> StoreResult<()>;
    /// Records the verdict on a request under `transaction_id` (replacing an earlier one of the
    /// same transaction) and on the challenge it named.
    async fn record_scep_validation(
        &self,
        tenant_id: &TenantId,
        id: &str,
        transaction_id: &str,
        code: &str,
        now_ms: i64,
    ) -> StoreResult<()>;
    async fn record_scep_notification(
        &self,
        tenant_id: &TenantId,
        id: &str,
        kind: &str,
        body: &str,
        now_ms: i64,
    ) -> StoreResult<()>;

    /// Stores a token and drops the ones no longer valid at `now_ms` (`expires_ms <= now_ms`).
    async fn insert_token(
        &self,
        token_hash: &str,
        tenant_id: &TenantId,
        now_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()>;
    /// The tenant a token belongs to, if the token exists and expires after `now_ms`.
    async fn token_tenant(&self, token_hash: &str, now_ms: i64) -> StoreResult<TenantId>;
}
