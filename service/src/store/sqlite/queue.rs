//! The SQLite store's queue: enqueue, lease, complete, expire, and the other writes to jobs.
//!
//! sqlx hands every command to its worker thread and every result row back, one at a time, so
//! these paths keep both few (each costs a hand-over, not SQL time): a lease or a batch read
//! answers its jobs as one JSON row (`json_group_array`), a lease sends `BEGIN` with its read and
//! `COMMIT` with its writes, a completion learns what it applied from the count of updated rows
//! (`SELECT changes()` in the same command as its `BEGIN`), and an enqueue is one
//! `BEGIN … COMMIT` text. A command that fails inside a transaction of its own making rolls the
//! transaction back ([`super::or_rolled_back`]). The texts of one command use plain `?`
//! parameters: in a multi-statement text sqlx binds a numbered one from the first parameter of
//! the whole text.
//!
//! Everything goes through sqlx: running these statements on SQLite's C API through sqlx's
//! `lock_handle` was measured faster, but it stalled a request until the client's timeout when
//! two scenarios shared a runtime.
//!
//! `jobs_ready` and `jobs_leased` are partial indexes of live jobs (migration 0011): a lease or a
//! completion moves a job's entry out of one small index instead of within two that grow with
//! every job ever queued. Statements that look for ready jobs name `jobs_ready` (`INDEXED BY`):
//! without statistics SQLite would pick `jobs_by_tenant` and walk the tenant's whole history.

use std::collections::HashSet;

use sqlx::{Connection, SqliteConnection};

use super::{execute_on, in_one_transaction, or_rolled_back, transaction_on, SqliteQuery};
use crate::domain::{ConnectorId, JobId, JobState, TenantId};
use crate::store::engine::{self, Statement};
use crate::store::rows::{
    first_per_job, Completion, DeviceKeyRow, EnqueueKeyRow, JobRow, LeaseJobs,
};
use crate::store::sql::{
    self, end_open_attempts, expire_job_set, job_columns, release_job_set, JOB_PARAMS,
};
use crate::store::{interpret, StoreError, StoreResult};

/// A job row as one JSON object (keys are [`JobRow`]'s fields), for `json_group_array`: a
/// statement that answers many jobs in one row instead of one row each. sqlx hands each row
/// from its worker thread to the caller on its own and copies every value of it; a lease or a
/// completion of 100 jobs made 200 such hand-offs.
const JOB_JSON: &str = "json_object('id', id, 'tenant_id', tenant_id, 'kind', kind, 'state', state, \
    'payload', payload, 'attempts', attempts, 'max_attempts', max_attempts, 'visible_ms', visible_ms, \
    'lease_token_hash', lease_token_hash, 'lease_connector_id', lease_connector_id, \
    'lease_expires_ms', lease_expires_ms, 'result', result, 'error_code', error_code, \
    'error_message', error_message, 'created_ms', created_ms, 'completed_ms', completed_ms)";

/// The rows of a `json_group_array` of [`JOB_JSON`] (each column parsed as `columns` parses it).
fn job_rows(json: &str) -> StoreResult<Vec<JobRow>> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("a job row: {e}")))
}

/// Whether a lease has run out by the parameter (one look at the oldest lease deadline, the
/// first entry of `jobs_leased`).
const LEASE_RAN_OUT: &str =
    "EXISTS (SELECT 1 FROM jobs WHERE state = 'leased' AND lease_expires_ms <= ?)";

/// Multi-row `INSERT`s (16 parameters a row, 500 rows a statement) between `BEGIN` and `COMMIT`,
/// as one text: one command to sqlx's worker thread.
/// The device keys the service made for them go in the same transaction.
pub(super) async fn insert_jobs(
    conn: &mut SqliteConnection,
    jobs: &[JobRow],
    device_keys: &[DeviceKeyRow],
) -> StoreResult<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let (inserts, params) = inserts(jobs, device_keys);
    let text = format!("BEGIN;{inserts} COMMIT");
    in_one_transaction(conn, engine::query(&text, params)).await
}

/// The `INSERT`s of `jobs` and then of their device keys (`sql::insert_device_keys`) as one text
/// with `?` parameters, and their parameters.
fn inserts<'q>(jobs: &'q [JobRow], keys: &'q [DeviceKeyRow]) -> (String, Vec<engine::Param<'q>>) {
    let mut text = job_inserts(jobs);
    let mut params: Vec<_> = jobs.iter().flat_map(sql::job_values).collect();
    for statement in sql::insert_device_keys(keys) {
        text.push(' ');
        engine::positional(&statement.text, &mut text);
        text.push(';');
        params.extend(statement.params);
    }
    (text, params)
}

/// The multi-row `INSERT`s of `jobs` (parameters by `sql::job_values`, job after job).
fn job_inserts(jobs: &[JobRow]) -> String {
    let row = format!("({})", vec!["?"; JOB_PARAMS].join(", "));
    let mut text = String::new();
    for chunk in jobs.chunks(500) {
        let values = vec![row.as_str(); chunk.len()].join(", ");
        text.push_str(&format!(
            " INSERT INTO jobs ({}) VALUES {values};",
            job_columns!()
        ));
    }
    text
}

/// [`insert_jobs`] under an idempotency key, in one transaction: `BEGIN`, the expired keys
/// forgotten and the key claimed in one command that answers whether the claim took; then the
/// jobs with `COMMIT`, or, when the tenant held the key already, `ROLLBACK` and the stored key.
pub(super) async fn insert_jobs_keyed(
    conn: &mut SqliteConnection,
    jobs: &[JobRow],
    device_keys: &[DeviceKeyRow],
    key: &EnqueueKeyRow,
    kept_from_ms: i64,
) -> StoreResult<Option<EnqueueKeyRow>> {
    let forget = sql::forget_enqueue_keys(kept_from_ms);
    let claim = sql::claim_enqueue_key(key);
    let mut text = String::from("BEGIN; ");
    engine::positional(&forget.text, &mut text);
    text.push_str("; ");
    engine::positional(&claim.text, &mut text);
    text.push_str("; SELECT changes()");
    let params = forget.params.into_iter().chain(claim.params).collect();
    let claimed = async {
        let row = engine::query(&text, params)
            .fetch_one(&mut *conn)
            .await
            .map_err(interpret)?;
        let (changed,): (i64,) = sqlx::FromRow::from_row(&row).map_err(interpret)?;
        Ok(changed == 1)
    }
    .await;
    if !or_rolled_back(conn, claimed).await? {
        sqlx::query("ROLLBACK")
            .execute(&mut *conn)
            .await
            .map_err(interpret)?;
        let read = sql::enqueue_key(&key.tenant_id, &key.key, i64::MIN);
        let row = engine::query(&read.text, read.params)
            .fetch_one(&mut *conn)
            .await
            .map_err(interpret)?;
        let stored = sqlx::FromRow::from_row(&row).map_err(interpret)?;
        return EnqueueKeyRow::from_columns(&key.tenant_id, &key.key, stored).map(Some);
    }
    let (inserts, params) = inserts(jobs, device_keys);
    let text = format!("{inserts} COMMIT");
    in_one_transaction(conn, engine::query(&text, params)).await?;
    Ok(None)
}

/// Whether a job of the tenant is queued (on `jobs_ready`: see the module's note).
pub(super) async fn has_queued_jobs(
    conn: &mut SqliteConnection,
    tenant_id: &TenantId,
) -> StoreResult<bool> {
    let (found,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_ready WHERE tenant_id = ? AND state = 'queued')",
    )
    .bind(tenant_id.as_str())
    .fetch_one(conn)
    .await
    .map_err(interpret)?;
    Ok(found)
}

/// Ends the leases (of one tenant, or all) that ran out by `now_ms`.
pub(super) async fn expire_leases(
    conn: &mut SqliteConnection,
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

/// The two updates of [`expire_leases`], once its probe found a lease that ran out, inside the
/// caller's transaction: the open attempts end as `expired`, their jobs are queued again or
/// dead-lettered.
async fn expire_due(
    tx: &mut SqliteConnection,
    tenant_id: Option<&TenantId>,
    now_ms: i64,
) -> StoreResult<u64> {
    let scope = if tenant_id.is_some() {
        " AND tenant_id = $2"
    } else {
        ""
    };
    let expired = format!("state = 'leased' AND lease_expires_ms <= $1{scope}");
    let attempts = format!(
        "{}IN (SELECT id FROM jobs WHERE {expired})",
        end_open_attempts!("expired")
    );
    let jobs = format!("{} WHERE {expired}", expire_job_set!());
    let mut changed = 0;
    for text in [attempts, jobs] {
        let mut statement = Statement::new(text).bind(now_ms);
        if let Some(t) = tenant_id {
            statement = statement.bind(t);
        }
        changed = execute_on(tx, statement).await?;
    }
    Ok(changed)
}

/// The statement that reads the jobs a lease takes, whole and in queue order, as one row: with
/// the probe for leases that ran out (see [`expire_leases`]) and the connection's count of
/// changed rows so far. Parameters by [`bind_ready`].
fn ready_jobs(lease: &LeaseJobs<'_>) -> String {
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
    format!(
        "SELECT total_changes(), {LEASE_RAN_OUT}, (SELECT json_group_array({JOB_JSON} ORDER BY seq) \
         FROM (SELECT {}, seq FROM jobs INDEXED BY jobs_ready \
         WHERE tenant_id = ? AND state = 'queued' AND visible_ms <= ? AND kind IN ({placeholders}){skip}{issuer} \
         ORDER BY seq LIMIT ?))",
        job_columns!()
    )
}

/// [`ready_jobs`] with its parameters; `probe`: look for leases that ran out.
fn bind_ready<'q>(
    text: &'q str,
    lease: &'q LeaseJobs<'q>,
    probe: bool,
) -> sqlx::query::QueryAs<'q, sqlx::Sqlite, (i64, bool, String), sqlx::sqlite::SqliteArguments<'q>>
{
    let mut q = sqlx::query_as(text)
        .bind(if probe { lease.now_ms } else { i64::MIN })
        .bind(lease.tenant_id.as_str())
        .bind(lease.now_ms);
    for kind in lease.kinds {
        q = q.bind(kind.as_str());
    }
    if lease.skip_missing_import_key {
        q = q.bind(lease.connector_id.as_str());
    }
    if let Some(issuer) = lease.issuer_name {
        q = q.bind(issuer);
    }
    q.bind(lease.token_hashes.len() as i64)
}

/// Expires the tenant's leases that ran out, then leases ready jobs, in one transaction of two
/// commands: `BEGIN` with the read ([`ready_jobs`]), then the writes with `COMMIT`. (When a lease
/// ran out, its job may be leased again now, so the leases are expired and the jobs read again
/// in between.)
pub(super) async fn lease_jobs(
    conn: &mut SqliteConnection,
    lease: &LeaseJobs<'_>,
) -> StoreResult<Vec<JobRow>> {
    if lease.kinds.is_empty() || lease.token_hashes.is_empty() {
        return Ok(vec![]);
    }
    let select = ready_jobs(lease);
    let begin_and_select = format!("BEGIN; {select}");
    let mut leased = Vec::new();
    let written = async {
        let (mut changes_before, ran_out, mut json) = bind_ready(&begin_and_select, lease, true)
            .fetch_one(&mut *conn)
            .await
            .map_err(interpret)?;
        if ran_out {
            expire_due(conn, Some(lease.tenant_id), lease.now_ms).await?;
            (changes_before, _, json) = bind_ready(&select, lease, false)
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
        let changes_after = write_lease(conn, lease, &mut leased).await?;
        Ok(changes_after - changes_before)
    }
    .await;
    let written = or_rolled_back(conn, written).await?;
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

/// The writes of a lease, as `leased` (read in seq order) becomes: the i-th job gets the i-th
/// token. One text, one command, updates them all, inserts their attempts (5 parameters a row, at
/// most 100 rows a lease), commits and answers the connection's count of changed rows. (Rows
/// joined from `FROM (VALUES …)`: the same join written as a CTE made SQLite 3.4x update 20
/// times slower.) The connection stays locked from the read to the commit and this process is
/// the database's only writer, so the rows read are the rows this updates.
async fn write_lease(
    conn: &mut SqliteConnection,
    lease: &LeaseJobs<'_>,
    leased: &mut [JobRow],
) -> StoreResult<i64> {
    let n = leased.len();
    let text = format!(
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
    let mut q = sqlx::query_as::<_, (i64,)>(&text)
        .bind(lease.connector_id.as_str())
        .bind(lease.lease_expires_ms);
    for row in leased.iter() {
        q = q.bind(row.id.as_str()).bind(&row.lease_token_hash);
    }
    for row in leased.iter() {
        q = q
            .bind(row.id.as_str())
            .bind(row.attempts)
            .bind(lease.connector_id.as_str())
            .bind(&row.lease_token_hash)
            .bind(lease.now_ms);
    }
    let (changes_after,) = q.fetch_one(&mut *conn).await.map_err(interpret)?;
    Ok(changes_after)
}

/// The compare-and-set of `n` completions (see [`complete_jobs`]; parameters by
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

fn bind_completions<'q>(text: &'q str, rows: &[&'q Completion<'q>]) -> SqliteQuery<'q> {
    let mut q = sqlx::query(text);
    for c in rows {
        q = q
            .bind(c.job_id.as_str())
            .bind(c.token_hash)
            .bind(c.new_state)
            .bind(c.visible_ms)
            .bind(c.result)
            .bind(c.error_code)
            .bind(c.error_message)
            .bind(c.finishes().then_some(c.now_ms));
    }
    q
}

/// Applies completions: the jobs' compare-and-set with `BEGIN` in one command, then their
/// attempts with `COMMIT` in another.
pub(super) async fn complete_jobs(
    conn: &mut SqliteConnection,
    completions: &[Completion<'_>],
) -> StoreResult<Vec<bool>> {
    let mut applied = vec![false; completions.len()];
    let chosen = first_per_job(completions);
    if chosen.is_empty() {
        return Ok(applied);
    }
    // Each completion is a compare-and-set on the token hash: a stale token matches no row.
    // Nearly always every one applies, which the count of updated rows shows (sent with the
    // transaction's `BEGIN` in one command); only when it does not is the statement run again
    // with `RETURNING id` to learn which did.
    let rows: Vec<&Completion<'_>> = chosen.iter().map(|&i| &completions[i]).collect();
    let text = format!(
        "BEGIN; {}; SELECT changes()",
        completion_update(rows.len(), false)
    );
    let done = async {
        let (updated,): (i64,) = sqlx::FromRow::from_row(
            &bind_completions(&text, &rows)
                .fetch_one(&mut *conn)
                .await
                .map_err(interpret)?,
        )
        .map_err(interpret)?;
        if updated == rows.len() as i64 {
            return Ok(rows.iter().map(|c| c.job_id.clone()).collect());
        }
        let text = format!("ROLLBACK; BEGIN; {}", completion_update(rows.len(), true));
        bind_completions(&text, &rows)
            .fetch_all(&mut *conn)
            .await
            .map_err(interpret)?
            .iter()
            .map(|row| sqlx::Row::try_get::<JobId, _>(row, 0).map_err(interpret))
            .collect()
    }
    .await;
    let done: HashSet<JobId> = or_rolled_back(conn, done).await?;
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
    in_one_transaction(conn, q).await?;
    Ok(applied)
}

/// The tenant's jobs among `ids`, as one JSON row.
pub(super) async fn get_jobs(
    conn: &mut SqliteConnection,
    tenant_id: &TenantId,
    ids: &[&JobId],
) -> StoreResult<Vec<JobRow>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    // By id alone (the unique index); with `tenant_id = ?` in the statement SQLite walked
    // the tenant's whole queue instead. The tenant is checked here.
    let placeholders = vec!["?"; ids.len()].join(", ");
    let text =
        format!("SELECT json_group_array({JOB_JSON}) FROM jobs WHERE id IN ({placeholders})");
    let mut q = sqlx::query_as::<_, (String,)>(&text);
    for id in ids {
        q = q.bind(id.as_str());
    }
    let (json,) = q.fetch_one(conn).await.map_err(interpret)?;
    let mut rows = job_rows(&json)?;
    rows.retain(|row| row.tenant_id == *tenant_id);
    Ok(rows)
}

/// The job's open attempt, then the job, if it is the tenant's and not finished.
pub(super) async fn cancel_job(
    conn: &mut SqliteConnection,
    tenant_id: &TenantId,
    id: &JobId,
    now_ms: i64,
) -> StoreResult<bool> {
    let statements = vec![
        sql::cancel_attempt(id, now_ms),
        sql::cancel_job(tenant_id, id, now_ms),
    ];
    Ok(transaction_on(conn, statements).await?[1] > 0)
}

/// The connector's open leases back in the queue, their attempts ended as `released`.
pub(super) async fn release_connector_leases(
    conn: &mut SqliteConnection,
    connector_id: &ConnectorId,
    now_ms: i64,
) -> StoreResult<u64> {
    let held = "state = 'leased' AND lease_connector_id = $2";
    let statements = vec![
        Statement::new(format!(
            "{}IN (SELECT id FROM jobs WHERE {held})",
            end_open_attempts!("released")
        ))
        .bind(now_ms)
        .bind(connector_id),
        Statement::new(format!("{} WHERE {held}", release_job_set!()))
            .bind(now_ms)
            .bind(connector_id),
    ];
    Ok(transaction_on(conn, statements).await?[1])
}
