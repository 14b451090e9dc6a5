//! The PostgreSQL store's queue: enqueue, lease, complete, expire, and the other writes to jobs,
//! safe with several replicas working on one database.
//!
//! - **Leases** pick their jobs with `SELECT … FOR UPDATE SKIP LOCKED` inside the lease
//!   transaction: a job another transaction is leasing (or completing, expiring, cancelling) is
//!   passed over rather than waited for, and a job leased by a transaction that has committed no
//!   longer matches `state = 'queued'`. Two replicas therefore never hand one job to two
//!   connectors.
//! - **Lock order**: a transaction that locks several jobs and waits for them does so in `seq`
//!   order (`ORDER BY seq FOR UPDATE`), and always locks a job row before touching that job's
//!   attempt rows. Lease candidates never wait (`SKIP LOCKED`). Hence job transactions do not
//!   deadlock each other.
//!
//! Many rows go in one statement as arrays (`ANY($n)`, `UNNEST`), one round trip each.

use std::collections::HashMap;

use sqlx::PgConnection;

use super::PgStore;
use crate::domain::{ConnectorId, JobId, JobKind, TenantId};
use crate::store::engine;
use crate::store::rows::{
    first_per_job, in_lease_order, Completion, DeviceKeyRow, EnqueueKeyRow, JobRow, LeaseJobs,
};
use crate::store::sql::{
    self, end_open_attempts, expire_job_set, job_columns, release_job_set, JOB_PARAMS,
};
use crate::store::{interpret, StoreResult};

/// A query of job ids, as sqlx's PostgreSQL driver takes it.
type IdQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Postgres, (String,), sqlx::postgres::PgArguments>;

/// The ids `select` (its parameters bound by `bind`) answers: the jobs it locks.
async fn locked_ids<'q>(
    tx: &mut PgConnection,
    select: &'q str,
    bind: impl FnOnce(IdQuery<'q>) -> IdQuery<'q>,
) -> StoreResult<Vec<String>> {
    Ok(bind(sqlx::query_as(select))
        .fetch_all(&mut *tx)
        .await
        .map_err(interpret)?
        .into_iter()
        .map(|(id,)| id)
        .collect())
}

/// Ends the leases that expired by `now_ms` (of one tenant, or all): the job is queued again, or
/// dead-lettered once it has used all its attempts; its open attempt is marked `expired`.
///
/// The expired jobs are locked first, in `seq` order, and waited for: a job another transaction is
/// completing or re-leasing at this moment is re-checked once it commits, and dropped if its lease
/// is no longer the expired one.
pub(super) async fn expire_in(
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
    let ids = locked_ids(tx, &select, |q| {
        let q = q.bind(now_ms);
        match tenant_id {
            Some(t) => q.bind(t.as_str()),
            None => q,
        }
    })
    .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    end_locked(
        tx,
        &ids,
        now_ms,
        end_open_attempts!("expired"),
        expire_job_set!(),
    )
    .await
}

/// For the locked jobs `ids`: their open attempts end (`attempts`, then `= ANY($2)`), then the
/// jobs are written (`jobs`, then ` WHERE id = ANY($2)`). Answers how many jobs were.
async fn end_locked(
    tx: &mut PgConnection,
    ids: &[String],
    now_ms: i64,
    attempts: &str,
    jobs: &str,
) -> StoreResult<u64> {
    sqlx::query(&format!("{attempts}= ANY($2)"))
        .bind(now_ms)
        .bind(ids)
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
    let done = sqlx::query(&format!("{jobs} WHERE id = ANY($2)"))
        .bind(now_ms)
        .bind(ids)
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
    Ok(done.rows_affected())
}

/// Multi-row `VALUES` (16 parameters a row, 500 rows a statement): the rows are inserted in list
/// order, so `seq` (the enqueue order) follows the slice.
/// The device keys the service made for them go in the same transaction.
pub(super) async fn insert_jobs(
    store: &PgStore,
    jobs: &[JobRow],
    device_keys: &[DeviceKeyRow],
) -> StoreResult<()> {
    let mut tx = store.pool.begin().await.map_err(interpret)?;
    insert_job_rows(&mut tx, jobs, device_keys).await?;
    tx.commit().await.map_err(interpret)
}

/// The multi-row `INSERT`s of `jobs`, 500 rows a statement, then of their device keys, inside
/// `tx`.
async fn insert_job_rows(
    tx: &mut PgConnection,
    jobs: &[JobRow],
    device_keys: &[DeviceKeyRow],
) -> StoreResult<()> {
    for chunk in jobs.chunks(500) {
        let values: Vec<String> = (0..chunk.len())
            .map(|row| {
                let cells: Vec<String> = (1..=JOB_PARAMS)
                    .map(|col| format!("${}", row * JOB_PARAMS + col))
                    .collect();
                format!("({})", cells.join(", "))
            })
            .collect();
        let text = format!(
            "INSERT INTO jobs ({}) VALUES {}",
            job_columns!(),
            values.join(", ")
        );
        let params = chunk.iter().flat_map(sql::job_values).collect();
        engine::query(&text, params)
            .execute(&mut *tx)
            .await
            .map_err(interpret)?;
    }
    for statement in sql::insert_device_keys(device_keys) {
        engine::query(&statement.text, statement.params)
            .execute(&mut *tx)
            .await
            .map_err(interpret)?;
    }
    Ok(())
}

/// [`insert_jobs`] under an idempotency key (see `Store::insert_jobs_keyed`). The expired keys
/// are forgotten in a statement of their own: two transactions deleting the same old rows in
/// different orders could deadlock. A concurrent claim of the same key waits for this
/// transaction's end, then finds the key and answers it.
pub(super) async fn insert_jobs_keyed(
    store: &PgStore,
    jobs: &[JobRow],
    device_keys: &[DeviceKeyRow],
    key: &EnqueueKeyRow,
    kept_from_ms: i64,
) -> StoreResult<Option<EnqueueKeyRow>> {
    let forget = sql::forget_enqueue_keys(kept_from_ms);
    engine::query(&forget.text, forget.params)
        .execute(&store.pool)
        .await
        .map_err(interpret)?;
    let mut tx = store.pool.begin().await.map_err(interpret)?;
    let claim = sql::claim_enqueue_key(key);
    let claimed = engine::query(&claim.text, claim.params)
        .execute(&mut *tx)
        .await
        .map_err(interpret)?
        .rows_affected();
    if claimed == 0 {
        tx.rollback().await.map_err(interpret)?;
        let read = sql::enqueue_key(&key.tenant_id, &key.key, i64::MIN);
        let row = engine::query(&read.text, read.params)
            .fetch_one(&store.pool)
            .await
            .map_err(interpret)?;
        let stored = sqlx::FromRow::from_row(&row).map_err(interpret)?;
        return EnqueueKeyRow::from_columns(&key.tenant_id, &key.key, stored).map(Some);
    }
    insert_job_rows(&mut tx, jobs, device_keys).await?;
    tx.commit().await.map_err(interpret)?;
    Ok(None)
}

pub(super) async fn has_queued_jobs(store: &PgStore, tenant_id: &TenantId) -> StoreResult<bool> {
    let (found,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE tenant_id = $1 AND state = 'queued')",
    )
    .bind(tenant_id.as_str())
    .fetch_one(&store.pool)
    .await
    .map_err(interpret)?;
    Ok(found)
}

pub(super) async fn expire_leases(
    store: &PgStore,
    tenant_id: Option<&TenantId>,
    now_ms: i64,
) -> StoreResult<u64> {
    let mut tx = store.pool.begin().await.map_err(interpret)?;
    let n = expire_in(&mut tx, tenant_id, now_ms).await?;
    tx.commit().await.map_err(interpret)?;
    Ok(n)
}

/// The jobs a lease takes, locked (`SKIP LOCKED`), oldest first.
async fn lease_candidates(
    tx: &mut PgConnection,
    lease: &LeaseJobs<'_>,
) -> StoreResult<Vec<String>> {
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
    locked_ids(tx, &select, |q| {
        let mut q = q
            .bind(lease.tenant_id.as_str())
            .bind(lease.now_ms)
            .bind(kinds);
        if lease.skip_missing_import_key {
            q = q.bind(lease.connector_id.as_str());
        }
        if let Some(issuer) = lease.issuer_name {
            q = q.bind(issuer);
        }
        q.bind(lease.token_hashes.len() as i64)
    })
    .await
}

/// Expires the tenant's leases that ran out, then leases ready jobs, in one transaction.
pub(super) async fn lease_jobs(store: &PgStore, lease: &LeaseJobs<'_>) -> StoreResult<Vec<JobRow>> {
    if lease.kinds.is_empty() || lease.token_hashes.is_empty() {
        return Ok(vec![]);
    }
    let mut tx = store.pool.begin().await.map_err(interpret)?;
    expire_in(&mut tx, Some(lease.tenant_id), lease.now_ms).await?;
    let ids = lease_candidates(&mut tx, lease).await?;
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
         WHERE jobs.id = l.lease_job_id RETURNING {}",
        job_columns!()
    );
    let mut leased: Vec<JobRow> = sqlx::query_as(&update)
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
    let order: Vec<&str> = ids.iter().map(String::as_str).collect();
    in_lease_order(&mut leased, &order);
    Ok(leased)
}

/// One array per `UNNEST` column, over the completions at `at`.
fn column<'a, T>(
    completions: &'a [Completion<'a>],
    at: &[usize],
    field: impl Fn(&'a Completion<'a>) -> T,
) -> Vec<T> {
    at.iter().map(|&i| field(&completions[i])).collect()
}

/// Applies completions in one transaction: one statement for the jobs, one for their attempts.
pub(super) async fn complete_jobs(
    store: &PgStore,
    completions: &[Completion<'_>],
) -> StoreResult<Vec<bool>> {
    if completions.is_empty() {
        return Ok(vec![]);
    }
    let mut tx = store.pool.begin().await.map_err(interpret)?;
    // Each completion is a compare-and-set on the token hash: a stale token matches no row,
    // and a concurrent expiry or re-lease of the job is waited for and re-checked. A batch
    // whose completions name distinct jobs is one statement per table; a job named twice
    // is applied at most once, by its first completion (the others find the lease gone).
    let mut applied = vec![false; completions.len()];
    let chosen = first_per_job(completions);
    let first: HashMap<&str, usize> = chosen
        .iter()
        .map(|&i| (completions[i].job_id.as_str(), i))
        .collect();
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
    .bind(column(completions, &chosen, |c| c.finishes().then_some(c.now_ms)))
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

pub(super) async fn get_jobs(
    store: &PgStore,
    tenant_id: &TenantId,
    ids: &[&JobId],
) -> StoreResult<Vec<JobRow>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
    sqlx::query_as(&format!(
        "SELECT {} FROM jobs WHERE tenant_id = $1 AND id = ANY($2)",
        job_columns!()
    ))
    .bind(tenant_id.as_str())
    .bind(&ids)
    .fetch_all(&store.pool)
    .await
    .map_err(interpret)
}

/// Locks the job first, then writes its attempts and itself (the lock order). Only a job of this
/// tenant that is not finished is touched.
pub(super) async fn cancel_job(
    store: &PgStore,
    tenant_id: &TenantId,
    id: &JobId,
    now_ms: i64,
) -> StoreResult<bool> {
    let mut tx = store.pool.begin().await.map_err(interpret)?;
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
    let mut cancelled = 0;
    for statement in [
        sql::cancel_attempt(id, now_ms),
        sql::cancel_job(tenant_id, id, now_ms),
    ] {
        let engine::Statement { text, params } = statement;
        cancelled = engine::query(&text, params)
            .execute(&mut *tx)
            .await
            .map_err(interpret)?
            .rows_affected();
    }
    tx.commit().await.map_err(interpret)?;
    Ok(cancelled > 0)
}

/// Locks the connector's leased jobs in `seq` order, then puts them back in the queue.
pub(super) async fn release_connector_leases(
    store: &PgStore,
    connector_id: &ConnectorId,
    now_ms: i64,
) -> StoreResult<u64> {
    let mut tx = store.pool.begin().await.map_err(interpret)?;
    let select =
        "SELECT id FROM jobs WHERE state = 'leased' AND lease_connector_id = $1 ORDER BY seq FOR UPDATE";
    let ids = locked_ids(&mut tx, select, |q| q.bind(connector_id.as_str())).await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let released = end_locked(
        &mut tx,
        &ids,
        now_ms,
        end_open_attempts!("released"),
        release_job_set!(),
    )
    .await?;
    tx.commit().await.map_err(interpret)?;
    Ok(released)
}
