//! The queue's hot statements (enqueue, lease, batch completion, lease expiry), run with the
//! SQLite C API on the store's own sqlx connection.
//!
//! sqlx runs each SQLite connection on a worker thread and hands every statement to it, and
//! every row back from it, through a channel. A lease of 100 jobs was about 400 such hand-offs,
//! each a thread wake-up; profiles of the queue benchmark and of the 18-month scenario spent
//! most of their time in the kernel's futex and scheduler code. Here a whole operation runs as
//! one transaction on the calling thread while sqlx's worker is parked: sqlx's
//! `lock_handle` takes the connection away from the worker, and rusqlite (built on the same
//! `libsqlite3-sys` as sqlx) drives the raw handle. Everything else in the store stays on sqlx.

use rusqlite::types::ToSql;
pub(super) use rusqlite::TransactionBehavior;
use rusqlite::{params_from_iter, Connection};
use sqlx::sqlite::LockedSqliteHandle;

use crate::store::{
    finishes, first_per_job, in_lease_order, Completion, ConnectorRow, JobRow, LeaseJobs,
    Reconciled, ReleaseRow, StoreError, StoreResult, TenantRow,
};

use super::{CONNECTOR_COLUMNS, INSERT_HISTORY, JOB_COLUMNS};

fn interpret(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(e, message)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict(message.clone().unwrap_or_else(|| e.to_string()))
        }
        _ => StoreError::Sqlite(error),
    }
}

/// Runs `work` in one transaction (`Immediate` for writes, `Deferred` for reads), committed if
/// `work` returns `Ok` and rolled back otherwise, on the connection that `handle` holds away from
/// sqlx's worker thread (`SqliteConnection::lock_handle`).
///
/// Synchronous on purpose: the caller takes the handle, then calls this with no `.await` in
/// between, so no future holds the closure (or the raw handle) across a suspension point.
pub(super) fn run<T>(
    handle: &mut LockedSqliteHandle<'_>,
    behavior: TransactionBehavior,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> StoreResult<T> {
    let raw = handle.as_raw_handle().as_ptr();
    let run = move || -> rusqlite::Result<T> {
        // SAFETY: `raw` is the open connection that `handle` holds; sqlx's worker thread stays
        // off it until `handle` is dropped, which the borrow above outlives. The rusqlite
        // `Connection` does not own the handle (`from_handle` never closes it) and is dropped at
        // the end of this closure, finalising the statements it prepared. The two libraries
        // share one libsqlite3-sys, so the handle and the API calls come from the same SQLite.
        #[allow(unsafe_code)]
        let mut db = unsafe { Connection::from_handle(raw) }?;
        let tx = db.transaction_with_behavior(behavior)?;
        let out = work(&tx)?;
        tx.commit()?;
        Ok(out)
    };
    run().map_err(interpret)
}

const TENANT_COLUMNS: &str =
    "id, display_name, rollout_delay_days, enrollment_secret_hash, client_id, \
    client_secret_hash, import_key_thumbprint, created_ms";

fn tenant_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TenantRow> {
    Ok(TenantRow {
        id: row.get(0)?,
        display_name: row.get(1)?,
        rollout_delay_days: row.get(2)?,
        enrollment_secret_hash: row.get(3)?,
        client_id: row.get(4)?,
        client_secret_hash: row.get(5)?,
        import_key_thumbprint: row.get(6)?,
        created_ms: row.get(7)?,
    })
}

/// A connector row in the order of `CONNECTOR_COLUMNS`.
fn connector_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConnectorRow> {
    Ok(ConnectorRow {
        id: row.get(0)?,
        tenant_id: row.get(1)?,
        credential_hash: row.get(2)?,
        display_name: row.get(3)?,
        machine_name: row.get(4)?,
        machine_key: row.get(5)?,
        features: row.get(6)?,
        version: row.get(7)?,
        product: row.get(8)?,
        service_account: row.get(9)?,
        proxy: row.get(10)?,
        import_key_thumbprint: row.get(11)?,
        auto_update: row.get(12)?,
        co_installed: row.get(13)?,
        enrolled_ms: row.get(14)?,
        last_checkin_ms: row.get(15)?,
        reconciled_ms: row.get(16)?,
        last_status: row.get(17)?,
        last_reasons: row.get(18)?,
        seq: row.get(19)?,
        last_health_ms: row.get(20)?,
    })
}

pub(super) fn get_tenant(db: &Connection, id: &str) -> rusqlite::Result<TenantRow> {
    db.prepare(&format!(
        "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?"
    ))?
    .query_row([id], tenant_row)
}

pub(super) fn connector_by_credential(
    db: &Connection,
    hash: &str,
) -> rusqlite::Result<ConnectorRow> {
    db.prepare(&format!(
        "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE credential_hash = ?"
    ))?
    .query_row([hash], connector_row)
}

pub(super) fn get_connector(
    db: &Connection,
    tenant_id: &str,
    id: &str,
) -> rusqlite::Result<ConnectorRow> {
    db.prepare(&format!(
        "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE tenant_id = ? AND id = ?"
    ))?
    .query_row([tenant_id, id], connector_row)
}

pub(super) fn list_connectors(
    db: &Connection,
    tenant_id: &str,
) -> rusqlite::Result<Vec<ConnectorRow>> {
    db.prepare(&format!(
        "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE tenant_id = ? ORDER BY enrolled_ms, id"
    ))?
    .query_map([tenant_id], connector_row)?
    .collect()
}

/// The distinct versions of a tenant's connectors.
pub(super) fn connector_versions(
    db: &Connection,
    tenant_id: &str,
) -> rusqlite::Result<Vec<String>> {
    db.prepare("SELECT DISTINCT version FROM connectors WHERE tenant_id = ? ORDER BY version")?
        .query_map([tenant_id], |row| row.get(0))?
        .collect()
}

/// Writes the mutable fields of a connector; `false` if there is no such connector.
pub(super) fn update_connector(db: &Connection, c: &ConnectorRow) -> rusqlite::Result<bool> {
    let changed = db
        .prepare(
            "UPDATE connectors SET display_name = ?, features = ?, version = ?, product = ?, service_account = ?, \
             proxy = ?, import_key_thumbprint = ?, auto_update = ?, co_installed = ?, last_checkin_ms = ?, \
             last_health_ms = ? WHERE tenant_id = ? AND id = ?",
        )?
        .execute(rusqlite::params![
            c.display_name,
            c.features,
            c.version,
            c.product,
            c.service_account,
            c.proxy,
            c.import_key_thumbprint,
            c.auto_update,
            c.co_installed,
            c.last_checkin_ms,
            c.last_health_ms,
            c.tenant_id,
            c.id,
        ])?;
    Ok(changed > 0)
}

/// Appends history entries and moves each connector's reconciliation mark forward (never back:
/// a concurrent, later reconciliation wins).
pub(super) fn record_reconciled(
    db: &Connection,
    tenant_id: &str,
    reconciled: &[Reconciled],
) -> rusqlite::Result<()> {
    let mut history = db.prepare(INSERT_HISTORY)?;
    let mut mark = db.prepare(
        "UPDATE connectors SET reconciled_ms = ?1, last_status = ?2, last_reasons = ?3, seq = ?4 \
         WHERE tenant_id = ?5 AND id = ?6 AND (seq < ?4 OR (seq = ?4 AND reconciled_ms <= ?1))",
    )?;
    for r in reconciled {
        for e in &r.entries {
            history.execute(rusqlite::params![
                tenant_id,
                e.connector_id,
                e.seq,
                e.at_ms,
                e.status,
                e.reasons
            ])?;
        }
        mark.execute(rusqlite::params![
            r.reconciled_ms,
            r.last_status,
            r.last_reasons,
            r.seq,
            tenant_id,
            r.connector_id
        ])?;
    }
    Ok(())
}

/// Stores a health message (one per connector and instant) and drops the connector's messages
/// older than `keep_from_ms`.
pub(super) fn insert_health(
    db: &Connection,
    tenant_id: &str,
    connector_id: &str,
    at_ms: i64,
    body: &str,
    keep_from_ms: i64,
) -> rusqlite::Result<()> {
    db.prepare(
        "INSERT OR REPLACE INTO health_messages (tenant_id, connector_id, at_ms, body) VALUES (?, ?, ?, ?)",
    )?
    .execute(rusqlite::params![tenant_id, connector_id, at_ms, body])?;
    // With the tenant, the index `(tenant_id, connector_id, at_ms)` finds the old messages.
    db.prepare(
        "DELETE FROM health_messages WHERE tenant_id = ? AND connector_id = ? AND at_ms < ?",
    )?
    .execute(rusqlite::params![tenant_id, connector_id, keep_from_ms])?;
    Ok(())
}

pub(super) fn list_releases(db: &Connection) -> rusqlite::Result<Vec<ReleaseRow>> {
    db.prepare(
        "SELECT version, released_ms, published_ms FROM releases ORDER BY released_ms, version",
    )?
    .query_map([], |row| {
        Ok(ReleaseRow {
            version: row.get(0)?,
            released_ms: row.get(1)?,
            published_ms: row.get(2)?,
        })
    })?
    .collect()
}

fn job_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: row.get(0)?,
        tenant_id: row.get(1)?,
        kind: row.get(2)?,
        state: row.get(3)?,
        payload: row.get(4)?,
        attempts: row.get(5)?,
        max_attempts: row.get(6)?,
        visible_ms: row.get(7)?,
        lease_token_hash: row.get(8)?,
        lease_connector_id: row.get(9)?,
        lease_expires_ms: row.get(10)?,
        result: row.get(11)?,
        error_code: row.get(12)?,
        error_message: row.get(13)?,
        created_ms: row.get(14)?,
        completed_ms: row.get(15)?,
    })
}

/// `(?, ?, …)` rows of `width` parameters, `rows` times, comma-separated.
fn value_rows(width: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; width].join(", "));
    vec![row.as_str(); rows].join(", ")
}

pub(super) fn insert_jobs(db: &Connection, jobs: &[JobRow]) -> rusqlite::Result<()> {
    // Multi-row statements: 16 parameters a row, 500 rows a statement.
    for chunk in jobs.chunks(500) {
        let sql = format!(
            "INSERT INTO jobs ({JOB_COLUMNS}) VALUES {}",
            value_rows(16, chunk.len())
        );
        let mut params: Vec<&dyn ToSql> = Vec::with_capacity(16 * chunk.len());
        for j in chunk {
            params.extend_from_slice(&[
                &j.id,
                &j.tenant_id,
                &j.kind,
                &j.state,
                &j.payload,
                &j.attempts,
                &j.max_attempts,
                &j.visible_ms,
                &j.lease_token_hash,
                &j.lease_connector_id,
                &j.lease_expires_ms,
                &j.result,
                &j.error_code,
                &j.error_message,
                &j.created_ms,
                &j.completed_ms,
            ]);
        }
        db.prepare(&sql)?.execute(params_from_iter(params))?;
    }
    Ok(())
}

/// Ends every lease (of `tenant_id`, or of all tenants) that has run out at `now_ms`: the
/// attempt is `expired` and the job is queued again, or dead-lettered after its last attempt.
pub(super) fn expire(
    db: &Connection,
    tenant_id: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<u64> {
    let scope = if tenant_id.is_some() {
        " AND tenant_id = ?"
    } else {
        ""
    };
    let attempts_sql = format!(
        "UPDATE job_attempts SET outcome = 'expired', ended_ms = ? WHERE outcome IS NULL AND job_id IN \
         (SELECT id FROM jobs WHERE state = 'leased' AND lease_expires_ms <= ?{scope})"
    );
    let jobs_sql = format!(
        "UPDATE jobs SET \
           state = CASE WHEN attempts >= max_attempts THEN 'dead_letter' ELSE 'queued' END, \
           completed_ms = CASE WHEN attempts >= max_attempts THEN ? ELSE NULL END, \
           visible_ms = ?, error_code = 'LeaseExpired', \
           error_message = 'the lease of attempt ' || attempts || ' expired before the job was completed', \
           lease_token_hash = NULL, lease_connector_id = NULL, lease_expires_ms = NULL \
         WHERE state = 'leased' AND lease_expires_ms <= ?{scope}"
    );
    let mut attempts: Vec<&dyn ToSql> = vec![&now_ms, &now_ms];
    let mut jobs: Vec<&dyn ToSql> = vec![&now_ms, &now_ms, &now_ms];
    if let Some(t) = &tenant_id {
        attempts.push(t);
        jobs.push(t);
    }
    db.prepare(&attempts_sql)?
        .execute(params_from_iter(attempts))?;
    Ok(db.prepare(&jobs_sql)?.execute(params_from_iter(jobs))? as u64)
}

pub(super) fn lease_jobs(db: &Connection, lease: &LeaseJobs<'_>) -> rusqlite::Result<Vec<JobRow>> {
    // Most leases find nothing to expire: one look at the oldest lease deadline (the first entry
    // of `jobs_leased`) spares them the two updates.
    let due: bool = db
        .prepare(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'leased' AND lease_expires_ms <= ?)",
        )?
        .query_row([lease.now_ms], |row| row.get(0))?;
    if due {
        expire(db, Some(lease.tenant_id), lease.now_ms)?;
    }
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
    let select = format!(
        "SELECT id FROM jobs WHERE tenant_id = ? AND state = 'queued' AND visible_ms <= ? AND kind IN ({placeholders}){skip}{issuer} ORDER BY seq LIMIT ?"
    );
    let limit = lease.token_hashes.len() as i64;
    let mut params: Vec<&dyn ToSql> = vec![&lease.tenant_id, &lease.now_ms];
    for kind in lease.kinds {
        params.push(kind);
    }
    if lease.skip_missing_import_key {
        params.push(&lease.connector_id);
    }
    if let Some(issuer) = &lease.issuer_name {
        params.push(issuer);
    }
    params.push(&limit);
    let ids: Vec<String> = db
        .prepare(&select)?
        .query_map(params_from_iter(params), |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if ids.is_empty() {
        return Ok(vec![]);
    }
    // The i-th job (in seq order) gets the i-th token; one statement leases them all. (Rows
    // joined from `FROM (VALUES …)`: the same join written as a CTE made SQLite 3.4x update
    // 20 times slower.)
    let update = format!(
        "UPDATE jobs SET state = 'leased', attempts = attempts + 1, lease_token_hash = l.column2, \
         lease_connector_id = ?, lease_expires_ms = ? FROM (VALUES {}) AS l WHERE jobs.id = l.column1 \
         RETURNING {JOB_COLUMNS}",
        value_rows(2, ids.len())
    );
    let mut params: Vec<&dyn ToSql> = vec![&lease.connector_id, &lease.lease_expires_ms];
    for (id, token_hash) in ids.iter().zip(lease.token_hashes) {
        params.push(id);
        params.push(token_hash);
    }
    let mut leased: Vec<JobRow> = db
        .prepare(&update)?
        .query_map(params_from_iter(params), job_row)?
        .collect::<rusqlite::Result<_>>()?;
    let order: Vec<&str> = ids.iter().map(String::as_str).collect();
    in_lease_order(&mut leased, &order);
    // One statement records every attempt (5 parameters a row, at most 100 rows a lease).
    let insert = format!(
        "INSERT INTO job_attempts (job_id, attempt, connector_id, lease_token_hash, leased_ms) VALUES {}",
        value_rows(5, leased.len())
    );
    let mut params: Vec<&dyn ToSql> = Vec::with_capacity(5 * leased.len());
    for row in &leased {
        params.extend_from_slice(&[
            &row.id,
            &row.attempts,
            &lease.connector_id,
            &row.lease_token_hash,
            &lease.now_ms,
        ]);
    }
    db.prepare(&insert)?.execute(params_from_iter(params))?;
    Ok(leased)
}

pub(super) fn complete_jobs(
    db: &Connection,
    completions: &[Completion<'_>],
) -> rusqlite::Result<Vec<bool>> {
    let mut applied = vec![false; completions.len()];
    let chosen = first_per_job(completions);
    if chosen.is_empty() {
        return Ok(applied);
    }
    // Each completion is a compare-and-set on the token hash: a stale token matches no row.
    // Columns of `c`: job id, token hash, new state, visible, result, error code, error
    // message, completed (8 parameters a row; a batch holds at most 100 completions).
    let update = format!(
        "UPDATE jobs SET state = c.column3, visible_ms = c.column4, result = COALESCE(c.column5, jobs.result), \
         error_code = c.column6, error_message = c.column7, completed_ms = c.column8, \
         lease_token_hash = NULL, lease_connector_id = NULL, lease_expires_ms = NULL \
         FROM (VALUES {}) AS c \
         WHERE jobs.id = c.column1 AND jobs.state = 'leased' AND jobs.lease_token_hash = c.column2 \
         RETURNING id",
        value_rows(8, chosen.len())
    );
    let completed: Vec<Option<i64>> = chosen
        .iter()
        .map(|&i| finishes(&completions[i]).then_some(completions[i].now_ms))
        .collect();
    let mut params: Vec<&dyn ToSql> = Vec::with_capacity(8 * chosen.len());
    for (&i, completed) in chosen.iter().zip(&completed) {
        let c = &completions[i];
        params.extend_from_slice(&[
            &c.job_id,
            &c.token_hash,
            &c.new_state,
            &c.visible_ms,
            &c.result,
            &c.error_code,
            &c.error_message,
            completed,
        ]);
    }
    let done: std::collections::HashSet<String> = db
        .prepare(&update)?
        .query_map(params_from_iter(params), |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let hit: Vec<usize> = chosen
        .into_iter()
        .filter(|&i| done.contains(completions[i].job_id))
        .collect();
    if hit.is_empty() {
        return Ok(applied);
    }
    let update = format!(
        "UPDATE job_attempts SET outcome = c.column3, error_code = c.column4, ended_ms = c.column5 \
         FROM (VALUES {}) AS c \
         WHERE job_attempts.job_id = c.column1 AND job_attempts.lease_token_hash = c.column2",
        value_rows(5, hit.len())
    );
    let mut params: Vec<&dyn ToSql> = Vec::with_capacity(5 * hit.len());
    for &i in &hit {
        let c = &completions[i];
        params.extend_from_slice(&[
            &c.job_id,
            &c.token_hash,
            &c.attempt_outcome,
            &c.error_code,
            &c.now_ms,
        ]);
        applied[i] = true;
    }
    db.prepare(&update)?.execute(params_from_iter(params))?;
    Ok(applied)
}

/// The jobs of `tenant_id` among `ids`, read by id alone (the unique index); with
/// `tenant_id = ?` in the statement SQLite walked the tenant's whole queue instead.
pub(super) fn get_jobs(
    db: &Connection,
    tenant_id: &str,
    ids: &[&str],
) -> rusqlite::Result<Vec<JobRow>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ({})",
        vec!["?"; ids.len()].join(", ")
    );
    let mut rows: Vec<JobRow> = db
        .prepare(&sql)?
        .query_map(params_from_iter(ids), job_row)?
        .collect::<rusqlite::Result<_>>()?;
    rows.retain(|row| row.tenant_id == tenant_id);
    Ok(rows)
}
