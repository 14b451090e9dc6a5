//! The PostgreSQL store: for several service replicas behind a load balancer on one database
//! (DESIGN §6). It behaves exactly like `SqliteStore` (the store suite in `tests/it/store_suite.rs`
//! runs against both); what differs is how it stays atomic across processes.
//!
//! - **Leases** pick their jobs with `SELECT … FOR UPDATE SKIP LOCKED` inside the lease
//!   transaction: a job another transaction is leasing (or completing, expiring, cancelling) is
//!   passed over rather than waited for, and a job leased by a transaction that has committed no
//!   longer matches `state = 'queued'`. Two replicas therefore never hand one job to two
//!   connectors.
//! - **Registration** locks the tenant row (`FOR NO KEY UPDATE`) before counting the tenant's
//!   connectors and looking for the machine, so the 100-connector limit and one connector per
//!   machine hold across processes. That lock mode does not block the `FOR KEY SHARE` locks
//!   foreign keys take, so jobs, tokens and health messages of the tenant keep flowing meanwhile.
//! - **Lock order**: a transaction that locks several jobs and waits for them does so in `seq`
//!   order (`ORDER BY seq FOR UPDATE`), and always locks a job row before touching that job's
//!   attempt rows. Lease candidates never wait (`SKIP LOCKED`). Hence job transactions do not
//!   deadlock each other.
//!
//! Queries are checked at run time (`sqlx::query`), like the SQLite store's; instants are BIGINT
//! epoch milliseconds bound from the service clock (SQL never calls `now()`).

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};

use super::{
    interpret, AttemptOutcome, AttemptRow, Completion, ConnectorRow, HistoryRow, JobRow, JobStat,
    LeaseJobs, Reconciled, ReleaseRow, ScepChallengeRow, Store, StoreError, StoreResult, TenantRow,
    UserPfxRow,
};
use crate::domain::{ConnectorId, JobId, JobKind, JobState, TenantId};

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
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(StoreError::Migrate)?;
        Ok(PgStore { pool })
    }

    /// Closes the pool's connections (waiting for the ones in use). A test that drops its
    /// database afterwards needs this; a service simply drops the store.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

const CONNECTOR_COLUMNS: &str = "id, tenant_id, credential_hash, display_name, machine_name, machine_key, features, \
    version, product, service_account, proxy, import_key_thumbprint, auto_update, co_installed, enrolled_ms, \
    last_checkin_ms, reconciled_ms, last_status, last_reasons, seq, last_health_ms";

const JOB_COLUMNS: &str = "id, tenant_id, kind, state, payload, attempts, max_attempts, visible_ms, lease_token_hash, \
    lease_connector_id, lease_expires_ms, result, error_code, error_message, created_ms, completed_ms";

/// Ends the leases that expired by `now_ms` (of one tenant, or all): the job is queued again, or
/// dead-lettered once it has used all its attempts; its open attempt is marked `expired`.
///
/// The expired jobs are locked first, in `seq` order, and waited for: a job another transaction is
/// completing or re-leasing at this moment is re-checked once it commits, and dropped if its lease
/// is no longer the expired one.
async fn expire_in(
    tx: &mut PgConnection,
    tenant_id: Option<&TenantId>,
    now_ms: i64,
) -> StoreResult<u64> {
    let scope = if tenant_id.is_some() {
        " AND tenant_id = $2"
    } else {
        ""
    };
    let select = format!(
        "SELECT id FROM jobs WHERE state = 'leased' AND lease_expires_ms <= $1{scope} ORDER BY seq FOR UPDATE"
    );
    let mut q = sqlx::query_as::<_, (String,)>(&select).bind(now_ms);
    if let Some(t) = tenant_id {
        q = q.bind(t.as_str());
    }
    let ids: Vec<String> = q
        .fetch_all(&mut *tx)
        .await
        .map_err(interpret)?
        .into_iter()
        .map(|(id,)| id)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    sqlx::query(
        "UPDATE job_attempts SET outcome = 'expired', ended_ms = $1 WHERE outcome IS NULL AND job_id = ANY($2)",
    )
    .bind(now_ms)
    .bind(&ids)
    .execute(&mut *tx)
    .await
    .map_err(interpret)?;
    let done = sqlx::query(
        "UPDATE jobs SET \
           state = CASE WHEN attempts >= max_attempts THEN 'dead_letter' ELSE 'queued' END, \
           completed_ms = CASE WHEN attempts >= max_attempts THEN $1 ELSE NULL END, \
           visible_ms = $1, error_code = 'LeaseExpired', \
           error_message = 'the lease of attempt ' || attempts || ' expired before the job was completed', \
           lease_token_hash = NULL, lease_connector_id = NULL, lease_expires_ms = NULL \
         WHERE id = ANY($2)",
    )
    .bind(now_ms)
    .bind(&ids)
    .execute(&mut *tx)
    .await
    .map_err(interpret)?;
    Ok(done.rows_affected())
}

async fn insert_history(
    tx: &mut PgConnection,
    tenant_id: &TenantId,
    row: &HistoryRow,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO status_history (tenant_id, connector_id, seq, at_ms, status, reasons) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (connector_id, seq) DO NOTHING")
        .bind(tenant_id.as_str())
        .bind(row.connector_id.as_str())
        .bind(row.seq)
        .bind(row.at_ms)
        .bind(&row.status)
        .bind(super::columns::joined(&row.reasons))
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    async fn insert_tenant(&self, t: &TenantRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tenants (id, display_name, rollout_delay_days, enrollment_secret_hash, client_id, \
             client_secret_hash, import_key_thumbprint, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(t.id.as_str())
        .bind(&t.display_name)
        .bind(t.rollout_delay_days)
        .bind(&t.enrollment_secret_hash)
        .bind(&t.client_id)
        .bind(&t.client_secret_hash)
        .bind(&t.import_key_thumbprint)
        .bind(t.created_ms)
        .execute(&self.pool)
        .await
        .map_err(interpret)?;
        Ok(())
    }

    async fn list_tenants(&self) -> StoreResult<Vec<TenantRow>> {
        sqlx::query_as("SELECT * FROM tenants ORDER BY created_ms, id")
            .fetch_all(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn get_tenant(&self, id: &TenantId) -> StoreResult<TenantRow> {
        sqlx::query_as("SELECT * FROM tenants WHERE id = $1")
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn tenant_by_enrollment_hash(&self, hash: &str) -> StoreResult<TenantRow> {
        sqlx::query_as("SELECT * FROM tenants WHERE enrollment_secret_hash = $1")
            .bind(hash)
            .fetch_one(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn tenant_by_client_id(&self, client_id: &str) -> StoreResult<TenantRow> {
        sqlx::query_as("SELECT * FROM tenants WHERE client_id = $1")
            .bind(client_id)
            .fetch_one(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn set_tenant_import_key(
        &self,
        id: &TenantId,
        thumbprint: Option<&str>,
    ) -> StoreResult<()> {
        let done = sqlx::query("UPDATE tenants SET import_key_thumbprint = $1 WHERE id = $2")
            .bind(thumbprint)
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(interpret)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_tenant(&self, id: &TenantId) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        sqlx::query("DELETE FROM status_history WHERE tenant_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(interpret)?;
        // Connectors, jobs (and their attempts), tokens, PFXs, SCEP rows and health messages go
        // with the tenant (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
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
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        // Serialises registrations into one tenant across processes: a second transaction waits
        // here until the first commits, and its count below (a new snapshot, READ COMMITTED)
        // then includes the first one's connector. An unknown tenant locks nothing and the insert
        // fails on the foreign key, as with SQLite.
        sqlx::query("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE")
            .bind(c.tenant_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(interpret)?;
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM connectors WHERE tenant_id = $1")
                .bind(c.tenant_id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(interpret)?;
        if count >= i64::from(limit) {
            return Err(StoreError::LimitReached(count as u32));
        }
        let taken: Option<(String,)> = sqlx::query_as(
            "SELECT machine_name FROM connectors WHERE tenant_id = $1 AND machine_key = $2",
        )
        .bind(c.tenant_id.as_str())
        .bind(&c.machine_key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(interpret)?;
        if let Some((machine,)) = taken {
            return Err(StoreError::MachineTaken(machine));
        }
        let sql = format!(
            "INSERT INTO connectors ({CONNECTOR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
        );
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
        sqlx::query_as(&format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE credential_hash = $1"
        ))
        .bind(hash)
        .fetch_one(&self.pool)
        .await
        .map_err(interpret)
    }

    async fn get_connector(
        &self,
        tenant_id: &TenantId,
        id: &ConnectorId,
    ) -> StoreResult<ConnectorRow> {
        sqlx::query_as(&format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id.as_str())
        .bind(id.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(interpret)
    }

    async fn list_connectors(&self, tenant_id: &TenantId) -> StoreResult<Vec<ConnectorRow>> {
        sqlx::query_as(&format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE tenant_id = $1 ORDER BY enrolled_ms, id"
        ))
        .bind(tenant_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(interpret)
    }

    async fn connector_versions(&self, tenant_id: &TenantId) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT version FROM connectors WHERE tenant_id = $1 GROUP BY version ORDER BY version COLLATE \"C\"",
        )
        .bind(tenant_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(interpret)?;
        Ok(rows.into_iter().map(|(v,)| v).collect())
    }

    async fn list_all_connectors(&self) -> StoreResult<Vec<ConnectorRow>> {
        sqlx::query_as(&format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors ORDER BY tenant_id, enrolled_ms, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(interpret)
    }

    async fn update_connector(&self, c: &ConnectorRow) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE connectors SET display_name = $1, features = $2, version = $3, product = $4, \
             service_account = $5, proxy = $6, import_key_thumbprint = $7, auto_update = $8, co_installed = $9, \
             last_checkin_ms = $10, last_health_ms = $11 WHERE tenant_id = $12 AND id = $13",
        )
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
        .execute(&self.pool)
        .await
        .map_err(interpret)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
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
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        sqlx::query(
            "INSERT INTO health_messages (tenant_id, connector_id, at_ms, body) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (connector_id, at_ms) DO UPDATE SET tenant_id = excluded.tenant_id, body = excluded.body",
        )
        .bind(tenant_id.as_str())
        .bind(connector_id.as_str())
        .bind(at_ms)
        .bind(body)
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
        sqlx::query("DELETE FROM health_messages WHERE connector_id = $1 AND at_ms < $2")
            .bind(connector_id.as_str())
            .bind(keep_from_ms)
            .execute(&mut *tx)
            .await
            .map_err(interpret)?;
        tx.commit().await.map_err(interpret)
    }

    async fn list_health(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<(i64, String)>> {
        sqlx::query_as(
            "SELECT at_ms, body FROM health_messages WHERE tenant_id = $1 AND connector_id = $2 \
             AND at_ms >= $3 AND at_ms <= $4 ORDER BY at_ms",
        )
        .bind(tenant_id.as_str())
        .bind(connector_id.as_str())
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(interpret)
    }

    async fn delete_connector(&self, tenant_id: &TenantId, id: &ConnectorId) -> StoreResult<()> {
        sqlx::query("DELETE FROM health_messages WHERE tenant_id = $1 AND connector_id = $2")
            .bind(tenant_id.as_str())
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(interpret)?;
        let done = sqlx::query("DELETE FROM connectors WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id.as_str())
            .bind(id.as_str())
            .execute(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        for r in reconciled {
            for entry in &r.entries {
                insert_history(&mut tx, tenant_id, entry).await?;
            }
            sqlx::query(
                "UPDATE connectors SET reconciled_ms = $1, last_status = $2, last_reasons = $3, seq = $4 \
                 WHERE tenant_id = $5 AND id = $6 AND (seq < $4 OR (seq = $4 AND reconciled_ms <= $1))",
            )
            .bind(r.reconciled_ms)
            .bind(&r.last_status)
            .bind(super::columns::joined(&r.last_reasons))
            .bind(r.seq)
            .bind(tenant_id.as_str())
            .bind(r.connector_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(interpret)?;
        }
        tx.commit().await.map_err(interpret)?;
        Ok(())
    }

    async fn list_history(
        &self,
        tenant_id: &TenantId,
        connector_id: &ConnectorId,
    ) -> StoreResult<Vec<HistoryRow>> {
        sqlx::query_as(
            "SELECT connector_id, seq, at_ms, status, reasons FROM status_history \
             WHERE tenant_id = $1 AND connector_id = $2 ORDER BY seq",
        )
        .bind(tenant_id.as_str())
        .bind(connector_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(interpret)
    }

    async fn list_releases(&self) -> StoreResult<Vec<ReleaseRow>> {
        sqlx::query_as(
            "SELECT version, released_ms, published_ms FROM releases ORDER BY released_ms, version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(interpret)
    }

    async fn insert_release(&self, r: &ReleaseRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO releases (version, released_ms, published_ms) VALUES ($1, $2, $3)",
        )
        .bind(&r.version)
        .bind(r.released_ms)
        .bind(r.published_ms)
        .execute(&self.pool)
        .await
        .map_err(interpret)?;
        Ok(())
    }

    async fn upsert_user_pfx(&self, row: &UserPfxRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO user_pfx_certificates (tenant_id, id, user_principal_name, thumbprint, intended_purpose, \
             padding_scheme, provider_name, key_name, encrypted_pfx_blob, encrypted_pfx_password, start_ms, \
             expiration_ms, created_ms, modified_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
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
        .execute(&self.pool)
        .await
        .map_err(interpret)?;
        Ok(())
    }

    async fn get_user_pfx(&self, tenant_id: &TenantId, id: &str) -> StoreResult<UserPfxRow> {
        sqlx::query_as("SELECT * FROM user_pfx_certificates WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id.as_str())
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn list_user_pfx(&self, tenant_id: &TenantId) -> StoreResult<Vec<UserPfxRow>> {
        sqlx::query_as("SELECT * FROM user_pfx_certificates WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn delete_user_pfx(&self, tenant_id: &TenantId, id: &str) -> StoreResult<()> {
        let done =
            sqlx::query("DELETE FROM user_pfx_certificates WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id.as_str())
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(interpret)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn scep_secret(&self, tenant_id: &TenantId) -> StoreResult<String> {
        let (secret,): (String,) =
            sqlx::query_as("SELECT secret FROM scep_keys WHERE tenant_id = $1")
                .bind(tenant_id.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(interpret)?;
        Ok(secret)
    }

    async fn insert_scep_secret(&self, tenant_id: &TenantId, secret: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO scep_keys (tenant_id, secret) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(tenant_id.as_str())
        .bind(secret)
        .execute(&self.pool)
        .await
        .map_err(interpret)?;
        Ok(())
    }

    async fn insert_scep_challenge(&self, row: &ScepChallengeRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO scep_challenges (tenant_id, id, device_id, user_id, subject, subject_alt_names, key_usage, \
             key_size, extended_key_usage, issued_ms, expires_ms, targeted) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
        .execute(&self.pool)
        .await
        .map_err(interpret)?;
        Ok(())
    }

    async fn get_scep_challenge(
        &self,
        tenant_id: &TenantId,
        id: &str,
    ) -> StoreResult<ScepChallengeRow> {
        sqlx::query_as("SELECT * FROM scep_challenges WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id.as_str())
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn scep_validation(
        &self,
        tenant_id: &TenantId,
        transaction_id: &str,
    ) -> StoreResult<(String, String)> {
        sqlx::query_as(
            "SELECT challenge_id, code FROM scep_validations WHERE tenant_id = $1 AND transaction_id = $2",
        )
        .bind(tenant_id.as_str())
        .bind(transaction_id)
        .fetch_one(&self.pool)
        .await
        .map_err(interpret)
    }

    async fn set_scep_targeted(
        &self,
        tenant_id: &TenantId,
        id: &str,
        targeted: bool,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE scep_challenges SET targeted = $1 WHERE tenant_id = $2 AND id = $3",
        )
        .bind(targeted)
        .bind(tenant_id.as_str())
        .bind(id)
        .execute(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        sqlx::query(
            "INSERT INTO scep_validations (tenant_id, transaction_id, challenge_id, code, validated_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, transaction_id) DO UPDATE SET \
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
            "UPDATE scep_challenges SET transaction_id = $1, last_code = $2 WHERE tenant_id = $3 AND id = $4",
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
            "UPDATE scep_challenges SET notification_kind = $1, notification = $2, notified_ms = $3 \
             WHERE tenant_id = $4 AND id = $5",
        )
        .bind(kind)
        .bind(body)
        .bind(now_ms)
        .bind(tenant_id.as_str())
        .bind(id)
        .execute(&self.pool)
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
        sqlx::query("DELETE FROM tokens WHERE expires_ms <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .map_err(interpret)?;
        sqlx::query("INSERT INTO tokens (token_hash, tenant_id, expires_ms) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(tenant_id.as_str())
            .bind(expires_ms)
            .execute(&self.pool)
            .await
            .map_err(interpret)?;
        Ok(())
    }

    async fn token_tenant(&self, token_hash: &str, now_ms: i64) -> StoreResult<TenantId> {
        let row: (TenantId,) = sqlx::query_as(
            "SELECT tenant_id FROM tokens WHERE token_hash = $1 AND expires_ms > $2",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(interpret)?;
        Ok(row.0)
    }

    async fn insert_jobs(&self, jobs: &[JobRow]) -> StoreResult<()> {
        // Multi-row VALUES (16 parameters a row, 500 rows a statement): the rows are inserted in
        // list order, so `seq` (the enqueue order) follows the slice.
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        for chunk in jobs.chunks(500) {
            let values: Vec<String> = (0..chunk.len())
                .map(|row| {
                    let cells: Vec<String> =
                        (1..=16).map(|col| format!("${}", row * 16 + col)).collect();
                    format!("({})", cells.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO jobs ({JOB_COLUMNS}) VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for j in chunk {
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
            q.execute(&mut *tx).await.map_err(interpret)?;
        }
        tx.commit().await.map_err(interpret)?;
        Ok(())
    }

    async fn get_job(&self, tenant_id: &TenantId, id: &JobId) -> StoreResult<JobRow> {
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id.as_str())
        .bind(id.as_str())
        .fetch_one(&self.pool)
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
        // As in SQLite: a negative limit means no limit, a negative offset means none. PostgreSQL
        // refuses negative values, and reads `LIMIT NULL` as no limit.
        let limit = (limit >= 0).then_some(limit);
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 AND ($2::text IS NULL OR kind = $2) \
             AND ($3::text IS NULL OR state = $3) ORDER BY seq LIMIT $4 OFFSET $5"
        ))
        .bind(tenant_id.as_str())
        .bind(kind)
        .bind(state)
        .bind(limit)
        .bind(offset.max(0))
        .fetch_all(&self.pool)
        .await
        .map_err(interpret)
    }

    async fn count_jobs(
        &self,
        tenant_id: &TenantId,
        kind: Option<JobKind>,
        state: Option<JobState>,
    ) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM jobs WHERE tenant_id = $1 AND ($2::text IS NULL OR kind = $2) \
             AND ($3::text IS NULL OR state = $3)",
        )
        .bind(tenant_id.as_str())
        .bind(kind)
        .bind(state)
        .fetch_one(&self.pool)
        .await
        .map_err(interpret)?;
        Ok(n)
    }

    async fn has_queued_jobs(&self, tenant_id: &TenantId) -> StoreResult<bool> {
        let (found,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE tenant_id = $1 AND state = 'queued')",
        )
        .bind(tenant_id.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(interpret)?;
        Ok(found)
    }

    async fn job_attempts(&self, job_id: &JobId) -> StoreResult<Vec<AttemptRow>> {
        sqlx::query_as("SELECT * FROM job_attempts WHERE job_id = $1 ORDER BY attempt")
            .bind(job_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn attempt_by_token(&self, job_id: &JobId, token_hash: &str) -> StoreResult<AttemptRow> {
        sqlx::query_as("SELECT * FROM job_attempts WHERE job_id = $1 AND lease_token_hash = $2")
            .bind(job_id.as_str())
            .bind(token_hash)
            .fetch_one(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn expire_leases(&self, tenant_id: Option<&TenantId>, now_ms: i64) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        let n = expire_in(&mut tx, tenant_id, now_ms).await?;
        tx.commit().await.map_err(interpret)?;
        Ok(n)
    }

    async fn lease_jobs(&self, lease: &LeaseJobs<'_>) -> StoreResult<Vec<JobRow>> {
        if lease.kinds.is_empty() || lease.token_hashes.is_empty() {
            return Ok(vec![]);
        }
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        expire_in(&mut tx, Some(lease.tenant_id), lease.now_ms).await?;
        let mut n_params = 3;
        // A job this connector handed back for lack of the import key goes to the others.
        let skip = if lease.skip_missing_import_key {
            n_params += 1;
            format!(
                " AND NOT EXISTS (SELECT 1 FROM job_attempts a WHERE a.job_id = jobs.id AND a.connector_id = ${n_params} \
                 AND a.error_code = 'MissingImportKey')"
            )
        } else {
            String::new()
        };
        let issuer = if lease.issuer_name.is_some() {
            n_params += 1;
            format!(" AND lower(payload::jsonb ->> 'issuerName') = lower(${n_params})")
        } else {
            String::new()
        };
        let limit_param = n_params + 1;
        // SKIP LOCKED: a queued job another transaction has locked (it is leasing it right now) is
        // passed over, not waited for; one it has already leased and committed no longer matches
        // `state = 'queued'` when the row is re-checked. So no job is leased twice.
        let kinds: Vec<&str> = lease.kinds.iter().map(JobKind::as_str).collect();
        let select = format!(
            "SELECT id FROM jobs WHERE tenant_id = $1 AND state = 'queued' AND visible_ms <= $2 AND kind = ANY($3)\
             {skip}{issuer} ORDER BY seq LIMIT ${limit_param} FOR UPDATE SKIP LOCKED"
        );
        let mut q = sqlx::query_as::<_, (String,)>(&select)
            .bind(lease.tenant_id.as_str())
            .bind(lease.now_ms)
            .bind(kinds);
        if lease.skip_missing_import_key {
            q = q.bind(lease.connector_id.as_str());
        }
        if let Some(issuer) = lease.issuer_name {
            q = q.bind(issuer);
        }
        let ids: Vec<String> = q
            .bind(lease.token_hashes.len() as i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(interpret)?
            .into_iter()
            .map(|(id,)| id)
            .collect();
        if ids.is_empty() {
            tx.commit().await.map_err(interpret)?;
            return Ok(vec![]);
        }
        // The i-th job (in seq order) gets the i-th token.
        let tokens = &lease.token_hashes[..ids.len()];
        let update = format!(
            "UPDATE jobs SET state = 'leased', attempts = attempts + 1, lease_token_hash = l.lease_token, \
             lease_connector_id = $3, lease_expires_ms = $4 \
             FROM UNNEST($1::text[], $2::text[]) AS l(lease_job_id, lease_token) \
             WHERE jobs.id = l.lease_job_id RETURNING {JOB_COLUMNS}"
        );
        let rows: Vec<JobRow> = sqlx::query_as(&update)
            .bind(&ids)
            .bind(tokens)
            .bind(lease.connector_id.as_str())
            .bind(lease.lease_expires_ms)
            .fetch_all(&mut *tx)
            .await
            .map_err(interpret)?;
        sqlx::query(
            "INSERT INTO job_attempts (job_id, attempt, connector_id, lease_token_hash, leased_ms) \
             SELECT id, attempts, $2, lease_token_hash, $3 FROM jobs WHERE id = ANY($1)",
        )
        .bind(&ids)
        .bind(lease.connector_id.as_str())
        .bind(lease.now_ms)
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
        tx.commit().await.map_err(interpret)?;
        let mut leased = rows;
        let order: Vec<&str> = ids.iter().map(String::as_str).collect();
        super::in_lease_order(&mut leased, &order);
        Ok(leased)
    }

    async fn complete_jobs(&self, completions: &[Completion<'_>]) -> StoreResult<Vec<bool>> {
        if completions.is_empty() {
            return Ok(vec![]);
        }
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        // Each completion is a compare-and-set on the token hash: a stale token matches no row,
        // and a concurrent expiry or re-lease of the job is waited for and re-checked. A batch
        // whose completions name distinct jobs is one statement per table; a job named twice
        // is applied at most once, by its first completion (the others find the lease gone).
        let mut applied = vec![false; completions.len()];
        let chosen = super::first_per_job(completions);
        let first: HashMap<&str, usize> = chosen
            .iter()
            .map(|&i| (completions[i].job_id.as_str(), i))
            .collect();
        // One array per UNNEST column, over the completions at `at`.
        fn column<'a, T>(
            completions: &'a [Completion<'a>],
            at: &[usize],
            field: impl Fn(&'a Completion<'a>) -> T,
        ) -> Vec<T> {
            at.iter().map(|&i| field(&completions[i])).collect()
        }
        let done: Vec<(String,)> = sqlx::query_as(
            "UPDATE jobs SET state = c.new_state, visible_ms = c.visible_ms, result = COALESCE(c.result, jobs.result), \
             error_code = c.error_code, error_message = c.error_message, completed_ms = c.completed_ms, \
             lease_token_hash = NULL, lease_connector_id = NULL, lease_expires_ms = NULL \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[]) \
               AS c(job_id, token_hash, new_state, visible_ms, result, error_code, error_message, completed_ms) \
             WHERE jobs.id = c.job_id AND jobs.state = 'leased' AND jobs.lease_token_hash = c.token_hash \
             RETURNING jobs.id",
        )
        .bind(column(completions, &chosen, |c| c.job_id.as_str()))
        .bind(column(completions, &chosen, |c| c.token_hash))
        .bind(column(completions, &chosen, |c| c.new_state.as_str()))
        .bind(column(completions, &chosen, |c| c.visible_ms))
        .bind(column(completions, &chosen, |c| c.result))
        .bind(column(completions, &chosen, |c| c.error_code))
        .bind(column(completions, &chosen, |c| c.error_message))
        .bind(column(completions, &chosen, |c| {
            super::finishes(c).then_some(c.now_ms)
        }))
        .fetch_all(&mut *tx)
        .await
        .map_err(interpret)?;
        if !done.is_empty() {
            let hit: Vec<usize> = done
                .iter()
                .filter_map(|(id,)| first.get(id.as_str()).copied())
                .collect();
            sqlx::query(
                "UPDATE job_attempts SET outcome = c.outcome, error_code = c.error_code, ended_ms = c.ended_ms \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) \
                   AS c(job_id, token_hash, outcome, error_code, ended_ms) \
                 WHERE job_attempts.job_id = c.job_id AND job_attempts.lease_token_hash = c.token_hash",
            )
            .bind(column(completions, &hit, |c| c.job_id.as_str()))
            .bind(column(completions, &hit, |c| c.token_hash))
            .bind(column(completions, &hit, |c| c.attempt_outcome.as_str()))
            .bind(column(completions, &hit, |c| c.error_code))
            .bind(column(completions, &hit, |c| c.now_ms))
            .execute(&mut *tx)
            .await
            .map_err(interpret)?;
            for i in hit {
                applied[i] = true;
            }
        }
        tx.commit().await.map_err(interpret)?;
        Ok(applied)
    }

    async fn get_jobs(&self, tenant_id: &TenantId, ids: &[&JobId]) -> StoreResult<Vec<JobRow>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 AND id = ANY($2)"
        ))
        .bind(tenant_id.as_str())
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(interpret)
    }

    async fn cancel_job(&self, tenant_id: &TenantId, id: &JobId, now_ms: i64) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        // Job row first, then its attempts (the lock order). Only a job of this tenant that is
        // not finished is touched.
        let open: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM jobs WHERE tenant_id = $1 AND id = $2 AND state IN ('queued', 'leased') FOR UPDATE",
        )
        .bind(tenant_id.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(interpret)?;
        if open.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE job_attempts SET outcome = 'cancelled', ended_ms = $1 WHERE job_id = $2 AND outcome IS NULL",
        )
        .bind(now_ms)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
        let done = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', completed_ms = $1, lease_token_hash = NULL, \
             lease_connector_id = NULL, lease_expires_ms = NULL WHERE tenant_id = $2 AND id = $3",
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
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        let ids: Vec<String> = sqlx::query_as::<_, (String,)>(
            "SELECT id FROM jobs WHERE state = 'leased' AND lease_connector_id = $1 ORDER BY seq FOR UPDATE",
        )
        .bind(connector_id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(interpret)?
        .into_iter()
        .map(|(id,)| id)
        .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        sqlx::query(
            "UPDATE job_attempts SET outcome = 'released', ended_ms = $1 WHERE outcome IS NULL AND job_id = ANY($2)",
        )
        .bind(now_ms)
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
        // The attempt stays counted (it happened); the job is visible again at once.
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', visible_ms = $1, lease_token_hash = NULL, \
             lease_connector_id = NULL, lease_expires_ms = NULL WHERE id = ANY($2)",
        )
        .bind(now_ms)
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
        tx.commit().await.map_err(interpret)?;
        Ok(done.rows_affected())
    }

    async fn next_job_deadline(&self, after_ms: i64) -> StoreResult<Option<i64>> {
        let (deadline,): (Option<i64>,) = sqlx::query_as(
            "SELECT LEAST(\
               (SELECT MIN(lease_expires_ms) FROM jobs WHERE state = 'leased' AND lease_expires_ms > $1), \
               (SELECT MIN(visible_ms) FROM jobs WHERE state = 'queued' AND visible_ms > $1))",
        )
        .bind(after_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(interpret)?;
        Ok(deadline)
    }

    async fn clock_ms(&self) -> StoreResult<Option<i64>> {
        sqlx::query_scalar("SELECT now_ms FROM virtual_clock WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn store_clock_ms(&self, ms: i64, backwards: bool) -> StoreResult<i64> {
        sqlx::query_scalar(
            "INSERT INTO virtual_clock (id, now_ms) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET now_ms = \
             CASE WHEN $2 THEN EXCLUDED.now_ms ELSE GREATEST(virtual_clock.now_ms, EXCLUDED.now_ms) END \
             RETURNING now_ms",
        )
        .bind(ms)
        .bind(backwards)
        .fetch_one(&self.pool)
        .await
        .map_err(interpret)
    }

    fn shared(&self) -> bool {
        true
    }

    async fn job_stats(&self) -> StoreResult<Vec<JobStat>> {
        sqlx::query_as(
            "SELECT kind, state, COUNT(*) AS count, MIN(created_ms) AS oldest_created_ms \
             FROM jobs GROUP BY kind, state ORDER BY kind, state",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(interpret)
    }

    async fn attempt_outcomes(&self) -> StoreResult<Vec<(AttemptOutcome, i64)>> {
        sqlx::query_as(
            "SELECT outcome, COUNT(*) FROM job_attempts WHERE outcome IS NOT NULL \
             GROUP BY outcome ORDER BY outcome",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(interpret)
    }
}
