//! The statements both backends run alike: one text each, with `$1, $2, …` parameters (SQLite
//! reads them as PostgreSQL does), and its parameters in order. The `Store` trait's provided
//! methods run them through `engine::Engine`; a backend overrides a method only where it does
//! something else (its queue's hot paths, SQLite's cache, PostgreSQL's row locks), and then
//! still builds on these texts where it can.

use super::engine::{Param, Statement};
use super::rows::{
    ConnectorRow, DeviceKeyRow, EnqueueKeyRow, HistoryRow, JobRow, Reconciled, ReleaseRow,
    ScepChallengeRow, SigningKeyRow, TenantRow, UserPfxRow,
};
use super::{StoreError, StoreResult};
use crate::domain::{ConnectorId, JobId, JobKind, JobState, TenantId};

// ----- tenants ------------------------------------------------------------------------------

pub fn insert_tenant(t: &TenantRow) -> Statement<'_> {
    Statement::new(
        "INSERT INTO tenants (id, display_name, rollout_delay_days, enrollment_secret_hash, client_id, \
         client_secret_hash, import_key_thumbprint, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&t.id)
    .bind(&t.display_name)
    .bind(t.rollout_delay_days)
    .bind(&t.enrollment_secret_hash)
    .bind(&t.client_id)
    .bind(&t.client_secret_hash)
    .bind(&t.import_key_thumbprint)
    .bind(t.created_ms)
}

/// Ties on the instant go by id in byte order (PostgreSQL's ids are `COLLATE "C"`, as SQLite
/// compares).
pub fn list_tenants() -> Statement<'static> {
    Statement::new("SELECT * FROM tenants ORDER BY created_ms, id")
}

pub fn get_tenant(id: &TenantId) -> Statement<'_> {
    Statement::new("SELECT * FROM tenants WHERE id = $1").bind(id)
}

pub fn tenant_by_enrollment_hash(hash: &str) -> Statement<'_> {
    Statement::new("SELECT * FROM tenants WHERE enrollment_secret_hash = $1").bind(hash)
}

pub fn tenant_by_client_id(client_id: &str) -> Statement<'_> {
    Statement::new("SELECT * FROM tenants WHERE client_id = $1").bind(client_id)
}

pub fn set_tenant_import_key<'q>(id: &'q TenantId, thumbprint: Option<&'q str>) -> Statement<'q> {
    Statement::new("UPDATE tenants SET import_key_thumbprint = $1 WHERE id = $2")
        .bind(thumbprint)
        .bind(id)
}

/// The tenant's history (which outlives its connectors, so no foreign key takes it), then the
/// tenant: its connectors, jobs (and their attempts), tokens, PFXs, SCEP rows and health
/// messages go with it (`ON DELETE CASCADE`). The second count says whether it was there.
pub fn delete_tenant(id: &TenantId) -> Vec<Statement<'_>> {
    vec![
        Statement::new("DELETE FROM status_history WHERE tenant_id = $1").bind(id),
        Statement::new("DELETE FROM tenants WHERE id = $1").bind(id),
    ]
}

// ----- connectors -----------------------------------------------------------------------------

macro_rules! connector_columns {
    () => {
        "id, tenant_id, credential_hash, display_name, machine_name, machine_key, features, \
         version, product, service_account, proxy, import_key_thumbprint, auto_update, co_installed, \
         enrolled_ms, last_checkin_ms, reconciled_ms, last_status, last_reasons, seq, last_health_ms"
    };
}

const SELECT_CONNECTORS: &str = concat!("SELECT ", connector_columns!(), " FROM connectors");

pub fn count_connectors(tenant_id: &TenantId) -> Statement<'_> {
    Statement::new("SELECT COUNT(*) FROM connectors WHERE tenant_id = $1").bind(tenant_id)
}

/// The machine name of the tenant's connector on `machine_key`, if there is one.
pub fn machine_taken<'q>(tenant_id: &'q TenantId, machine_key: &'q str) -> Statement<'q> {
    Statement::new("SELECT machine_name FROM connectors WHERE tenant_id = $1 AND machine_key = $2")
        .bind(tenant_id)
        .bind(machine_key)
}

/// Refuses a registration the tenant has no room for (`count` connectors of at most `limit`), or
/// whose machine already has a connector (`taken`: its name).
pub fn check_room(count: i64, limit: u32, taken: Option<(String,)>) -> StoreResult<()> {
    if count >= i64::from(limit) {
        return Err(StoreError::LimitReached(count as u32));
    }
    if let Some((machine,)) = taken {
        return Err(StoreError::MachineTaken(machine));
    }
    Ok(())
}

/// The columns a connector write sets: everything but ids, tenant, credential, machine,
/// enrolment and the reconciliation's bookkeeping (in [`written_columns`]'s order).
macro_rules! connector_writes {
    () => {
        "display_name, features, version, product, service_account, proxy, import_key_thumbprint, \
         auto_update, co_installed, last_checkin_ms, last_health_ms"
    };
}

pub fn insert_connector(c: &ConnectorRow) -> Statement<'_> {
    let text = concat!(
        "INSERT INTO connectors (",
        connector_writes!(),
        ", id, tenant_id, credential_hash, machine_name, machine_key, enrolled_ms, reconciled_ms, \
         last_status, last_reasons, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15, $16, $17, $18, $19, $20, $21)"
    );
    written_columns(Statement::new(text), c)
        .bind(&c.id)
        .bind(&c.tenant_id)
        .bind(&c.credential_hash)
        .bind(&c.machine_name)
        .bind(&c.machine_key)
        .bind(c.enrolled_ms)
        .bind(c.reconciled_ms)
        .bind(&c.last_status)
        .bind(&c.last_reasons)
        .bind(c.seq)
}

pub fn connector_by_credential(hash: &str) -> Statement<'_> {
    Statement::new(concat!(
        "SELECT ",
        connector_columns!(),
        " FROM connectors WHERE credential_hash = $1"
    ))
    .bind(hash)
}

pub fn get_connector<'q>(tenant_id: &'q TenantId, id: &'q ConnectorId) -> Statement<'q> {
    Statement::new(concat!(
        "SELECT ",
        connector_columns!(),
        " FROM connectors WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
}

pub fn list_connectors(tenant_id: &TenantId) -> Statement<'_> {
    Statement::new(concat!(
        "SELECT ",
        connector_columns!(),
        " FROM connectors WHERE tenant_id = $1 ORDER BY enrolled_ms, id"
    ))
    .bind(tenant_id)
}

pub fn list_all_connectors() -> Statement<'static> {
    Statement::new(format!(
        "{SELECT_CONNECTORS} ORDER BY tenant_id, enrolled_ms, id"
    ))
}

/// The distinct versions of the tenant's connectors; [`in_text_order`] sorts them (in byte
/// order, as neither database's collation is trusted to).
pub fn connector_versions(tenant_id: &TenantId) -> Statement<'_> {
    Statement::new("SELECT DISTINCT version FROM connectors WHERE tenant_id = $1").bind(tenant_id)
}

pub fn in_text_order(rows: Vec<(String,)>) -> Vec<String> {
    let mut versions: Vec<String> = rows.into_iter().map(|(v,)| v).collect();
    versions.sort_unstable();
    versions
}

/// `statement` with the values of the columns a connector write sets bound next.
fn written_columns<'q>(statement: Statement<'q>, c: &'q ConnectorRow) -> Statement<'q> {
    statement
        .bind(&c.display_name)
        .bind(&c.features)
        .bind(&c.version)
        .bind(&c.product)
        .bind(&c.service_account)
        .bind(&c.proxy)
        .bind(&c.import_key_thumbprint)
        .bind(c.auto_update)
        .bind(&c.co_installed)
        .bind(c.last_checkin_ms)
        .bind(c.last_health_ms)
}

/// Writes the columns of `connector_writes!` (as the SQLite store's cache applies them to its
/// row).
pub fn update_connector(c: &ConnectorRow) -> Statement<'_> {
    let text =
        "UPDATE connectors SET display_name = $1, features = $2, version = $3, product = $4, \
         service_account = $5, proxy = $6, import_key_thumbprint = $7, auto_update = $8, \
         co_installed = $9, last_checkin_ms = $10, last_health_ms = $11 \
         WHERE tenant_id = $12 AND id = $13";
    written_columns(Statement::new(text), c)
        .bind(&c.tenant_id)
        .bind(&c.id)
}

/// The connector's health messages, then the connector (its history stays); the second count
/// says whether it was there.
pub fn delete_connector<'q>(tenant_id: &'q TenantId, id: &'q ConnectorId) -> Vec<Statement<'q>> {
    vec![
        Statement::new("DELETE FROM health_messages WHERE tenant_id = $1 AND connector_id = $2")
            .bind(tenant_id)
            .bind(id),
        Statement::new("DELETE FROM connectors WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id),
    ]
}

// ----- health messages ------------------------------------------------------------------------

/// Keeps a health message (a repeat at the same instant replaces it), then drops the connector's
/// messages older than `keep_from_ms`; with the tenant, the index `(tenant_id, connector_id,
/// at_ms)` finds them.
pub fn keep_health<'q>(
    tenant_id: &'q TenantId,
    connector_id: &'q ConnectorId,
    at_ms: i64,
    body: &'q str,
    keep_from_ms: i64,
) -> [Statement<'q>; 2] {
    [
        Statement::new(
            "INSERT INTO health_messages (tenant_id, connector_id, at_ms, body) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (connector_id, at_ms) DO UPDATE SET tenant_id = excluded.tenant_id, body = excluded.body",
        )
        .bind(tenant_id)
        .bind(connector_id)
        .bind(at_ms)
        .bind(body),
        Statement::new(
            "DELETE FROM health_messages WHERE tenant_id = $1 AND connector_id = $2 AND at_ms < $3",
        )
        .bind(tenant_id)
        .bind(connector_id)
        .bind(keep_from_ms),
    ]
}

pub fn list_health<'q>(
    tenant_id: &'q TenantId,
    connector_id: &'q ConnectorId,
    from_ms: i64,
    to_ms: i64,
) -> Statement<'q> {
    Statement::new(
        "SELECT at_ms, body FROM health_messages WHERE tenant_id = $1 AND connector_id = $2 \
         AND at_ms >= $3 AND at_ms <= $4 ORDER BY at_ms",
    )
    .bind(tenant_id)
    .bind(connector_id)
    .bind(from_ms)
    .bind(to_ms)
}

// ----- status history -------------------------------------------------------------------------

/// An entry already recorded (same connector and seq: another replica reconciled the same span)
/// is kept as it is.
pub fn insert_history<'q>(tenant_id: &'q TenantId, row: &'q HistoryRow) -> Statement<'q> {
    Statement::new(
        "INSERT INTO status_history (tenant_id, connector_id, seq, at_ms, status, reasons) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (connector_id, seq) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(&row.connector_id)
    .bind(row.seq)
    .bind(row.at_ms)
    .bind(&row.status)
    .bind(&row.reasons)
}

/// Moves a connector's reconciliation mark, only forward (the condition
/// the SQLite store's cache applies to its rows as well).
fn mark<'q>(tenant_id: &'q TenantId, r: &'q Reconciled) -> Statement<'q> {
    Statement::new(
        "UPDATE connectors SET reconciled_ms = $1, last_status = $2, last_reasons = $3, seq = $4 \
         WHERE tenant_id = $5 AND id = $6 AND (seq < $7 OR (seq = $8 AND reconciled_ms <= $9))",
    )
    .bind(r.reconciled_ms)
    .bind(&r.last_status)
    .bind(&r.last_reasons)
    .bind(r.seq)
    .bind(tenant_id)
    .bind(&r.connector_id)
    .bind(r.seq)
    .bind(r.seq)
    .bind(r.reconciled_ms)
}

/// The writes of a reconciliation: each connector's history rows, then its mark.
pub fn reconciled<'q>(tenant_id: &'q TenantId, reconciled: &'q [Reconciled]) -> Vec<Statement<'q>> {
    let mut out = Vec::new();
    for r in reconciled {
        out.extend(r.entries.iter().map(|e| insert_history(tenant_id, e)));
        out.push(mark(tenant_id, r));
    }
    out
}

pub fn list_history<'q>(tenant_id: &'q TenantId, connector_id: &'q ConnectorId) -> Statement<'q> {
    Statement::new(
        "SELECT connector_id, seq, at_ms, status, reasons FROM status_history \
         WHERE tenant_id = $1 AND connector_id = $2 ORDER BY seq",
    )
    .bind(tenant_id)
    .bind(connector_id)
}

// ----- releases -------------------------------------------------------------------------------

pub fn list_releases() -> Statement<'static> {
    Statement::new(
        "SELECT version, released_ms, published_ms FROM releases ORDER BY released_ms, version",
    )
}

pub fn insert_release(r: &ReleaseRow) -> Statement<'_> {
    Statement::new("INSERT INTO releases (version, released_ms, published_ms) VALUES ($1, $2, $3)")
        .bind(&r.version)
        .bind(r.released_ms)
        .bind(r.published_ms)
}

// ----- jobs -----------------------------------------------------------------------------------

macro_rules! job_columns {
    () => {
        "id, tenant_id, kind, state, payload, attempts, max_attempts, visible_ms, lease_token_hash, \
         lease_connector_id, lease_expires_ms, result, error_code, error_message, created_ms, completed_ms"
    };
}
pub(crate) use job_columns;

/// Parameters a job row binds (its `job_columns!()`).
pub const JOB_PARAMS: usize = 16;

/// The values of a job row, in `job_columns!()` order.
pub fn job_values(j: &JobRow) -> [Param<'_>; JOB_PARAMS] {
    [
        (&j.id).into(),
        (&j.tenant_id).into(),
        j.kind.into(),
        j.state.into(),
        (&j.payload).into(),
        j.attempts.into(),
        j.max_attempts.into(),
        j.visible_ms.into(),
        (&j.lease_token_hash).into(),
        (&j.lease_connector_id).into(),
        j.lease_expires_ms.into(),
        (&j.result).into(),
        (&j.error_code).into(),
        (&j.error_message).into(),
        j.created_ms.into(),
        j.completed_ms.into(),
    ]
}

pub fn get_job<'q>(tenant_id: &'q TenantId, id: &'q JobId) -> Statement<'q> {
    Statement::new(concat!(
        "SELECT ",
        job_columns!(),
        " FROM jobs WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
}

/// The filter of [`list_jobs`] and [`count_jobs`]: a kind and a state, each optional.
/// (`CAST(… AS TEXT)` gives PostgreSQL the parameter's type when it is NULL.)
macro_rules! job_filter {
    () => {
        "tenant_id = $1 AND (CAST($2 AS TEXT) IS NULL OR kind = $2) \
         AND (CAST($3 AS TEXT) IS NULL OR state = $3)"
    };
}

/// A negative `limit` means no limit, a negative `offset` none (as SQLite reads them;
/// PostgreSQL refuses both, and SQLite refuses `LIMIT NULL`, so they are made so here).
pub fn list_jobs(
    tenant_id: &TenantId,
    kind: Option<JobKind>,
    state: Option<JobState>,
    limit: i64,
    offset: i64,
) -> Statement<'_> {
    Statement::new(concat!(
        "SELECT ",
        job_columns!(),
        " FROM jobs WHERE ",
        job_filter!(),
        " ORDER BY seq LIMIT $4 OFFSET $5"
    ))
    .bind(tenant_id)
    .bind(kind.map(|k| k.as_str()))
    .bind(state.map(|s| s.as_str()))
    .bind(if limit < 0 { i64::MAX } else { limit })
    .bind(offset.max(0))
}

pub fn count_jobs(
    tenant_id: &TenantId,
    kind: Option<JobKind>,
    state: Option<JobState>,
) -> Statement<'_> {
    Statement::new(concat!("SELECT COUNT(*) FROM jobs WHERE ", job_filter!()))
        .bind(tenant_id)
        .bind(kind.map(|k| k.as_str()))
        .bind(state.map(|s| s.as_str()))
}

pub fn job_attempts(job_id: &JobId) -> Statement<'_> {
    Statement::new("SELECT * FROM job_attempts WHERE job_id = $1 ORDER BY attempt").bind(job_id)
}

pub fn attempt_by_token<'q>(job_id: &'q JobId, token_hash: &'q str) -> Statement<'q> {
    Statement::new("SELECT * FROM job_attempts WHERE job_id = $1 AND lease_token_hash = $2")
        .bind(job_id)
        .bind(token_hash)
}

/// Cancels the job's open attempt. (Run after [`cancel_job`] where rows are locked: a job row
/// before its attempts.)
pub fn cancel_attempt(id: &JobId, now_ms: i64) -> Statement<'_> {
    Statement::new(
        "UPDATE job_attempts SET outcome = 'cancelled', ended_ms = $1 WHERE job_id = $2 AND outcome IS NULL",
    )
    .bind(now_ms)
    .bind(id)
}

/// Cancels the job, if it is the tenant's and not finished.
pub fn cancel_job<'q>(tenant_id: &'q TenantId, id: &'q JobId, now_ms: i64) -> Statement<'q> {
    Statement::new(
        "UPDATE jobs SET state = 'cancelled', completed_ms = $1, lease_token_hash = NULL, \
         lease_connector_id = NULL, lease_expires_ms = NULL \
         WHERE tenant_id = $2 AND id = $3 AND state IN ('queued', 'leased')",
    )
    .bind(now_ms)
    .bind(tenant_id)
    .bind(id)
}

/// What ending an expired lease writes to its job (`$1`: now): queued again, or dead-lettered
/// once it has used all its attempts. The backends choose the jobs.
macro_rules! expire_job_set {
    () => {
        "UPDATE jobs SET \
           state = CASE WHEN attempts >= max_attempts THEN 'dead_letter' ELSE 'queued' END, \
           completed_ms = CASE WHEN attempts >= max_attempts THEN $1 ELSE NULL END, \
           visible_ms = $1, error_code = 'LeaseExpired', \
           error_message = 'the lease of attempt ' || attempts || ' expired before the job was completed', \
           lease_token_hash = NULL, lease_connector_id = NULL, lease_expires_ms = NULL"
    };
}
pub(crate) use expire_job_set;

/// What releasing a lease (its holder was uninstalled) writes to its job (`$1`: now): the
/// attempt stays counted (it happened), and the job is visible again at once.
macro_rules! release_job_set {
    () => {
        "UPDATE jobs SET state = 'queued', visible_ms = $1, lease_token_hash = NULL, \
         lease_connector_id = NULL, lease_expires_ms = NULL"
    };
}
pub(crate) use release_job_set;

/// Ends the open attempts of some jobs (`$1`: now) as `$outcome`; the backends choose the jobs.
macro_rules! end_open_attempts {
    ($outcome:literal) => {
        concat!(
            "UPDATE job_attempts SET outcome = '",
            $outcome,
            "', ended_ms = $1 WHERE outcome IS NULL AND job_id "
        )
    };
}
pub(crate) use end_open_attempts;

/// The earliest instant after `after_ms` at which a lease expires or a backoff ends: the first
/// entry past it of `jobs_leased` and of the ready jobs.
pub fn next_job_deadline(after_ms: i64) -> Statement<'static> {
    Statement::new(
        "SELECT MIN(d) FROM (\
           SELECT MIN(lease_expires_ms) AS d FROM jobs WHERE state = 'leased' AND lease_expires_ms > $1 \
           UNION ALL SELECT MIN(visible_ms) AS d FROM jobs WHERE state = 'queued' AND visible_ms > $1\
         ) AS deadlines",
    )
    .bind(after_ms)
}

pub fn job_stats() -> Statement<'static> {
    Statement::new(
        "SELECT kind, state, COUNT(*) AS count, MIN(created_ms) AS oldest_created_ms \
         FROM jobs GROUP BY kind, state ORDER BY kind, state",
    )
}

pub fn attempt_outcomes() -> Statement<'static> {
    Statement::new(
        "SELECT outcome, COUNT(*) FROM job_attempts WHERE outcome IS NOT NULL \
         GROUP BY outcome ORDER BY outcome",
    )
}

// ----- the virtual clock ----------------------------------------------------------------------

pub fn clock_ms() -> Statement<'static> {
    Statement::new("SELECT now_ms FROM virtual_clock WHERE id = 1")
}

/// Stores `ms`, or keeps what is stored when that is later (unless `backwards`); answers the
/// value stored now.
pub fn store_clock_ms(ms: i64, backwards: bool) -> Statement<'static> {
    Statement::new(
        "INSERT INTO virtual_clock (id, now_ms) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET now_ms = CASE \
           WHEN $2 OR excluded.now_ms > virtual_clock.now_ms THEN excluded.now_ms \
           ELSE virtual_clock.now_ms END \
         RETURNING now_ms",
    )
    .bind(ms)
    .bind(backwards)
}

// ----- idempotency keys of enqueues --------------------------------------------------------------

/// The key's fingerprint, job ids and creation instant, if it was stored at `kept_from_ms` or
/// later.
pub fn enqueue_key<'q>(tenant_id: &'q TenantId, key: &'q str, kept_from_ms: i64) -> Statement<'q> {
    Statement::new(
        "SELECT fingerprint, job_ids, created_ms FROM enqueue_keys \
         WHERE tenant_id = $1 AND idempotency_key = $2 AND created_ms >= $3",
    )
    .bind(tenant_id)
    .bind(key)
    .bind(kept_from_ms)
}

/// Forgets the keys stored before `kept_from_ms`.
pub fn forget_enqueue_keys(kept_from_ms: i64) -> Statement<'static> {
    Statement::new("DELETE FROM enqueue_keys WHERE created_ms < $1").bind(kept_from_ms)
}

/// Claims `key` (nothing happens when the tenant already has it): the row count says which.
pub fn claim_enqueue_key(key: &EnqueueKeyRow) -> Statement<'_> {
    Statement::new(
        "INSERT INTO enqueue_keys (tenant_id, idempotency_key, fingerprint, job_ids, created_ms) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
    )
    .bind(&key.tenant_id)
    .bind(key.key.as_str())
    .bind(key.fingerprint.as_str())
    .bind(Param::Owned(key.job_ids_json()))
    .bind(key.created_ms)
}

// ----- device keys of jobs enqueued by profile ------------------------------------------------

/// The multi-row `INSERT`s of `keys`, 500 rows a statement (3 parameters a row).
pub fn insert_device_keys(keys: &[DeviceKeyRow]) -> Vec<Statement<'_>> {
    keys.chunks(500)
        .map(|chunk| {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect();
            let mut statement = Statement::new(format!(
                "INSERT INTO job_device_keys (job_id, tenant_id, private_key_pem) VALUES {}",
                rows.join(", ")
            ));
            for key in chunk {
                statement = statement
                    .bind(&key.job_id)
                    .bind(&key.tenant_id)
                    .bind(key.private_key_pem.as_str());
            }
            statement
        })
        .collect()
}

/// The private key the service made for the tenant's job `id`.
pub fn device_key<'q>(tenant_id: &'q TenantId, id: &'q JobId) -> Statement<'q> {
    Statement::new(
        "SELECT private_key_pem FROM job_device_keys WHERE tenant_id = $1 AND job_id = $2",
    )
    .bind(tenant_id)
    .bind(id)
}

// ----- user PFX -------------------------------------------------------------------------------

pub fn upsert_user_pfx(row: &UserPfxRow) -> Statement<'_> {
    Statement::new(
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
    .bind(&row.tenant_id)
    .bind(&row.id)
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
}

pub fn get_user_pfx<'q>(tenant_id: &'q TenantId, id: &'q str) -> Statement<'q> {
    Statement::new("SELECT * FROM user_pfx_certificates WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
}

pub fn list_user_pfx(tenant_id: &TenantId) -> Statement<'_> {
    Statement::new("SELECT * FROM user_pfx_certificates WHERE tenant_id = $1 ORDER BY id")
        .bind(tenant_id)
}

pub fn delete_user_pfx<'q>(tenant_id: &'q TenantId, id: &'q str) -> Statement<'q> {
    Statement::new("DELETE FROM user_pfx_certificates WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
}

// ----- SCEP -----------------------------------------------------------------------------------

pub fn scep_secret(tenant_id: &TenantId) -> Statement<'_> {
    Statement::new("SELECT secret FROM scep_keys WHERE tenant_id = $1").bind(tenant_id)
}

/// The first secret stays.
pub fn insert_scep_secret<'q>(tenant_id: &'q TenantId, secret: &'q str) -> Statement<'q> {
    Statement::new(
        "INSERT INTO scep_keys (tenant_id, secret) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(secret)
}

pub fn insert_scep_challenge(row: &ScepChallengeRow) -> Statement<'_> {
    Statement::new(
        "INSERT INTO scep_challenges (tenant_id, id, device_id, user_id, subject, subject_alt_names, key_usage, \
         key_size, extended_key_usage, issued_ms, expires_ms, targeted) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&row.tenant_id)
    .bind(&row.id)
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
}

pub fn get_scep_challenge<'q>(tenant_id: &'q TenantId, id: &'q str) -> Statement<'q> {
    Statement::new("SELECT * FROM scep_challenges WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
}

pub fn scep_validation<'q>(tenant_id: &'q TenantId, transaction_id: &'q str) -> Statement<'q> {
    Statement::new(
        "SELECT challenge_id, code FROM scep_validations WHERE tenant_id = $1 AND transaction_id = $2",
    )
    .bind(tenant_id)
    .bind(transaction_id)
}

pub fn set_scep_targeted<'q>(
    tenant_id: &'q TenantId,
    id: &'q str,
    targeted: bool,
) -> Statement<'q> {
    Statement::new("UPDATE scep_challenges SET targeted = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(targeted)
        .bind(tenant_id)
        .bind(id)
}

/// The verdict under `transaction_id` (replacing an earlier one of the same transaction), then
/// on the challenge it named.
pub fn record_scep_validation<'q>(
    tenant_id: &'q TenantId,
    id: &'q str,
    transaction_id: &'q str,
    code: &'q str,
    now_ms: i64,
) -> Vec<Statement<'q>> {
    vec![
        Statement::new(
            "INSERT INTO scep_validations (tenant_id, transaction_id, challenge_id, code, validated_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, transaction_id) DO UPDATE SET \
             challenge_id = excluded.challenge_id, code = excluded.code, validated_ms = excluded.validated_ms",
        )
        .bind(tenant_id)
        .bind(transaction_id)
        .bind(id)
        .bind(code)
        .bind(now_ms),
        Statement::new(
            "UPDATE scep_challenges SET transaction_id = $1, last_code = $2 WHERE tenant_id = $3 AND id = $4",
        )
        .bind(transaction_id)
        .bind(code)
        .bind(tenant_id)
        .bind(id),
    ]
}

pub fn record_scep_notification<'q>(
    tenant_id: &'q TenantId,
    id: &'q str,
    kind: &'q str,
    body: &'q str,
    now_ms: i64,
) -> Statement<'q> {
    Statement::new(
        "UPDATE scep_challenges SET notification_kind = $1, notification = $2, notified_ms = $3 \
         WHERE tenant_id = $4 AND id = $5",
    )
    .bind(kind)
    .bind(body)
    .bind(now_ms)
    .bind(tenant_id)
    .bind(id)
}

// ----- tokens ---------------------------------------------------------------------------------

/// Drops the tokens no longer valid at `now_ms`, then stores the new one.
pub fn insert_token<'q>(
    token_hash: &'q str,
    tenant_id: &'q TenantId,
    now_ms: i64,
    expires_ms: i64,
) -> Vec<Statement<'q>> {
    vec![
        Statement::new("DELETE FROM tokens WHERE expires_ms <= $1").bind(now_ms),
        Statement::new(
            "INSERT INTO tokens (token_hash, tenant_id, expires_ms) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(tenant_id)
        .bind(expires_ms),
    ]
}

pub fn token_tenant(token_hash: &str, now_ms: i64) -> Statement<'_> {
    Statement::new("SELECT tenant_id FROM tokens WHERE token_hash = $1 AND expires_ms > $2")
        .bind(token_hash)
        .bind(now_ms)
}

/// The tenant's signing key.
pub fn signing_key(tenant_id: &TenantId) -> Statement<'_> {
    Statement::new(
        "SELECT tenant_id, kid, private_key_pem, certificate_pem, created_ms FROM signing_keys \
         WHERE tenant_id = $1",
    )
    .bind(tenant_id)
}

/// The first key stays: two replicas making a tenant's first key at once both read the one
/// that was stored first.
pub fn insert_signing_key(row: &SigningKeyRow) -> Statement<'_> {
    Statement::new(
        "INSERT INTO signing_keys (tenant_id, kid, private_key_pem, certificate_pem, created_ms) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(&row.tenant_id)
    .bind(&row.kid)
    .bind(&row.private_key_pem)
    .bind(&row.certificate_pem)
    .bind(row.created_ms)
}
