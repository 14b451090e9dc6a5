//! The `queue` figures: jobs/s through enqueue → lease → complete over loopback HTTP, next to the
//! same row writes done directly on the database (the best honest version of the same work),
//! measured in interleaved rounds (service, sqlx, C API, service, sqlx, C API, …) so that a
//! slow phase of the shared machine hits every side alike. Each figure is the median of the
//! rounds, with their range; each ratio is the median of the round-by-round ratios.

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use intune_mock_scenarios::harness::{spawn_app_on, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection;
use wire::connector::Feature;
use wire::jobs::{JobKind, Outcome};

use super::record::{paired_ratios, spread, Baseline, FigureRow, Figures};
use super::{revoke_payload, start, LIMIT};

const CONNECTORS: usize = 4;
const PRODUCERS: usize = 2;
const COMMAND: &str = "cargo bench -p intune-mock-scenarios --bench figures -- queue";
/// Rounds of each figure (the issue asks for at least three).
const ROUNDS: usize = 3;

async fn register(app: &TestApp, secret: &str, machine: &str) -> anyhow::Result<String> {
    let body = json!({"machineName": machine, "displayName": machine, "features": [Feature::Revocation], "version": "6.2406.0.1001"});
    let answer = app
        .request(
            Method::POST,
            "/connector/v1/register",
            Some(secret),
            Some(&body),
        )
        .await?;
    anyhow::ensure!(answer.status == 201, "register: {}", answer.body);
    Ok(answer.body["credential"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Enqueues `count` revocation jobs in requests of `batch`.
async fn enqueue(app: &TestApp, tenant: &str, count: usize, batch: usize) -> anyhow::Result<()> {
    let mut sent = 0;
    while sent < count {
        let n = batch.min(count - sent);
        let jobs: Vec<Value> = (sent..sent + n)
            .map(|i| json!({"kind": JobKind::Revoke, "payload": revoke_payload(i)}))
            .collect();
        // The answer (the jobs as created) is read through, not kept: a producer needs only
        // to know they were taken.
        let _: serde::de::IgnoredAny = app
            .call_as(
                Method::POST,
                &format!("/admin/tenants/{tenant}/jobs"),
                intune_mock_scenarios::harness::OPERATOR_TOKEN,
                &json!({ "jobs": jobs }),
                201,
            )
            .await?;
        sent += n;
    }
    Ok(())
}

/// One connector's loop: lease up to `batch`, complete them (one call for a batch), until
/// `goal` jobs are done by all connectors together.
async fn work(
    app: &TestApp,
    credential: &str,
    batch: usize,
    done: &std::sync::atomic::AtomicUsize,
    goal: usize,
    deadline: Instant,
) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering;
    while done.load(Ordering::Relaxed) < goal {
        anyhow::ensure!(Instant::now() < deadline, "the queue run took too long");
        let leased: wire::connector::LeaseResponse = app
            .call_as(
                Method::POST,
                "/connector/v1/jobs/lease",
                credential,
                &json!({"max": batch}),
                200,
            )
            .await?;
        let jobs = leased.jobs;
        if jobs.is_empty() {
            // The producer is behind: let it run.
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        if jobs.len() == 1 && batch == 1 {
            let job = &jobs[0];
            let _: wire::jobs::Completed = app
                .call_as(
                Method::POST,
                &format!("/connector/v1/jobs/{}/complete", job.id),
                credential,
                &json!({"leaseToken": job.lease_token, "outcome": Outcome::Succeeded, "result": {"revoked": true}}),
                200,
            )
            .await?;
        } else {
            let completions: Vec<Value> = jobs
                .iter()
                .map(|job| json!({"jobId": job.id, "leaseToken": job.lease_token, "outcome": Outcome::Succeeded, "result": {"revoked": true}}))
                .collect();
            let answer: wire::admin::Collection<wire::jobs::BatchCompletionResult> = app
                .call_as(
                    Method::POST,
                    "/connector/v1/jobs/complete",
                    credential,
                    &json!({ "completions": completions }),
                    200,
                )
                .await?;
            let ok = answer.value.iter().filter(|r| r.status == 200).count();
            anyhow::ensure!(
                ok == jobs.len(),
                "complete: {ok} of {} succeeded",
                jobs.len()
            );
        }
        done.fetch_add(jobs.len(), Ordering::Relaxed);
    }
    Ok(())
}

/// Jobs/s through the service over loopback HTTP: `PRODUCERS` producers enqueue `count` jobs
/// between them in requests of `batch` while `CONNECTORS` connectors lease and complete them in
/// batches of `batch`. The clock runs from the first enqueue to the last completion. (With one
/// producer, that producer's round trips set the rate: the connectors were idle a third of
/// the time.)
async fn queue_http(database_url: &str, count: usize, batch: usize) -> anyhow::Result<f64> {
    let app = spawn_app_on(start(), 5, database_url).await?;
    let tenant = app.create_tenant("Bench", None).await?;
    let secret = tenant.enrollment_secret.clone().unwrap_or_default();
    let mut credentials = Vec::new();
    for i in 0..CONNECTORS {
        credentials.push(register(&app, &secret, &format!("BENCH{i:02}")).await?);
    }
    let done = std::sync::atomic::AtomicUsize::new(0);
    let deadline = Instant::now() + LIMIT;
    let began = Instant::now();
    let workers = credentials
        .iter()
        .map(|c| work(&app, c, batch, &done, count, deadline));
    let producers = (0..PRODUCERS).map(|p| {
        let share = count / PRODUCERS + usize::from(p < count % PRODUCERS);
        enqueue(&app, &tenant.id, share, batch)
    });
    let (produced, worked) = tokio::join!(
        futures_util::future::join_all(producers),
        futures_util::future::join_all(workers)
    );
    for p in produced {
        p?;
    }
    for w in worked {
        w?;
    }
    let rate = count as f64 / began.elapsed().as_secs_f64();
    let left = app
        .admin_get(&format!(
            "/admin/tenants/{}/jobs?state=succeeded&top=1",
            tenant.id
        ))
        .await?;
    anyhow::ensure!(
        left.body["count"] == count,
        "succeeded jobs: {} of {count}",
        left.body["count"]
    );
    app.stop().await;
    Ok(rate)
}

const JOB_COLUMNS: &str =
    "id, tenant_id, kind, state, payload, attempts, max_attempts, visible_ms, created_ms";

/// The tenant every direct baseline writes its jobs for.
const BENCH_TENANT: &str = "INSERT INTO tenants (id, display_name, rollout_delay_days, enrollment_secret_hash, client_id, client_secret_hash, created_ms) VALUES ('t', 'Bench', 0, 'e', 'c', 's', 0)";

/// The SQLite store's queue statements, as both direct SQLite baselines run them (`n` rows
/// each; `?` parameters in the order of the columns named).
mod sqlite_sql {
    use super::JOB_COLUMNS;

    fn rows(row: &str, n: usize) -> String {
        vec![row; n].join(", ")
    }
    /// Parameters a row: id, payload.
    pub fn insert_jobs(n: usize) -> String {
        format!(
            "INSERT INTO jobs ({JOB_COLUMNS}) VALUES {}",
            rows("(?, 't', 'revoke', 'queued', ?, 0, 5, 0, 0)", n)
        )
    }
    /// Parameter: how many. On the index the store's lease names (without statistics SQLite
    /// would walk `jobs_by_tenant`, the tenant's whole history).
    pub const READY: &str =
        "SELECT id FROM jobs INDEXED BY jobs_ready WHERE tenant_id = 't' AND state = 'queued' \
        AND visible_ms <= 1 AND kind IN ('revoke') ORDER BY seq LIMIT ?";
    /// Parameters a row: id, token hash. Returns id, attempt, token hash.
    pub fn lease(n: usize) -> String {
        format!("UPDATE jobs SET state = 'leased', attempts = attempts + 1, lease_token_hash = l.column2, \
             lease_connector_id = 'c', lease_expires_ms = 300000 FROM (VALUES {}) AS l \
             WHERE jobs.id = l.column1 RETURNING id, attempts, lease_token_hash", rows("(?, ?)", n))
    }
    /// [`READY`] with each job's attempt count, for a lease that writes without `RETURNING`.
    pub const READY_WITH_ATTEMPTS: &str =
        "SELECT id, attempts FROM jobs INDEXED BY jobs_ready WHERE tenant_id = 't' AND state = 'queued' \
        AND visible_ms <= 1 AND kind IN ('revoke') ORDER BY seq LIMIT ?";
    /// [`lease`] without `RETURNING`.
    pub fn lease_no_returning(n: usize) -> String {
        let text = lease(n);
        text[..text.find(" RETURNING").unwrap_or(text.len())].to_owned()
    }
    /// [`complete_jobs`] without `RETURNING`.
    pub fn complete_jobs_no_returning(n: usize) -> String {
        let text = complete_jobs(n);
        text[..text.find(" RETURNING").unwrap_or(text.len())].to_owned()
    }
    /// Parameters a row: job id, attempt, token hash.
    pub fn insert_attempts(n: usize) -> String {
        format!("INSERT INTO job_attempts (job_id, attempt, connector_id, lease_token_hash, leased_ms) \
             VALUES {}", rows("(?, ?, 'c', ?, 1)", n))
    }
    /// Parameters a row: id, token hash. Returns the ids completed.
    pub fn complete_jobs(n: usize) -> String {
        format!("UPDATE jobs SET state = 'succeeded', visible_ms = 2, result = '{{\"revoked\":true}}', \
             error_code = NULL, error_message = NULL, completed_ms = 2, lease_token_hash = NULL, \
             lease_connector_id = NULL, lease_expires_ms = NULL FROM (VALUES {}) AS c \
             WHERE jobs.id = c.column1 AND jobs.state = 'leased' AND jobs.lease_token_hash = c.column2 \
             RETURNING id", rows("(?, ?)", n))
    }
    /// Parameters a row: job id, token hash.
    pub fn complete_attempts(n: usize) -> String {
        format!(
            "UPDATE job_attempts SET outcome = 'succeeded', error_code = NULL, ended_ms = 2 \
             FROM (VALUES {}) AS c WHERE job_attempts.job_id = c.column1 \
             AND job_attempts.lease_token_hash = c.column2",
            rows("(?, ?)", n)
        )
    }
}

/// Job ids and lease-token hashes shaped as the service makes them: version-7 GUIDs, which sort
/// in the order they are made, and SHA-256 hex, which is random. (With short sequential keys
/// such as `job-17` the baselines wrote far fewer index pages than the service does.)
struct Keys(service::ids::IdSource);

impl Keys {
    fn new() -> Self {
        Keys(service::ids::IdSource::random())
    }
    fn job(&self) -> String {
        self.0.uuid_v7(0).to_string()
    }
    fn token(&self) -> String {
        service::ids::secret_hash(&self.0.secret("lease"))
    }
}

/// SQLite's own limit: the same rows written with the same statements, in one transaction per
/// batch per step, through the SQLite C API (rusqlite) on a WAL file opened as the service opens
/// it (`synchronous=NORMAL`, 32 MiB cache, in-memory temporary store), each statement prepared
/// once and taken from rusqlite's statement cache after that. No driver thread: the difference
/// from [`queue_direct_sqlx`] is what sqlx's SQLite driver costs.
async fn queue_direct_sqlite(count: usize, batch: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("direct.db");
    // The service's schema (its migrations).
    drop(service::store::SqliteStore::open(&format!("sqlite://{}", path.display())).await?);
    tokio::task::block_in_place(|| direct_sqlite_rounds(&path, count, batch))
}

fn direct_sqlite_rounds(path: &std::path::Path, count: usize, batch: usize) -> anyhow::Result<f64> {
    use rusqlite::{params_from_iter, types::ToSql, Connection};
    let mut db = Connection::open(path)?;
    db.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY;",
    )?;
    // Each statement is prepared once and reused from the connection's cache (batches of one
    // size give one text a statement; the last, shorter batch adds a few).
    db.set_prepared_statement_cache_capacity(32);
    db.execute(BENCH_TENANT, [])?;
    let keys = Keys::new();
    let began = Instant::now();
    let mut next = 0;
    while next < count {
        let n = batch.min(count - next);
        let tx = db.transaction()?;
        let jobs: Vec<(String, String)> = (next..next + n)
            .map(|i| (keys.job(), revoke_payload(i).to_string()))
            .collect();
        let params: Vec<&dyn ToSql> = jobs
            .iter()
            .flat_map(|(id, payload)| [id as &dyn ToSql, payload])
            .collect();
        tx.prepare_cached(&sqlite_sql::insert_jobs(n))?
            .execute(params_from_iter(params))?;
        tx.commit()?;
        let tx = db.transaction()?;
        let ids: Vec<String> = tx
            .prepare_cached(sqlite_sql::READY)?
            .query_map([n as i64], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let tokens: Vec<String> = ids.iter().map(|_| keys.token()).collect();
        let params: Vec<&dyn ToSql> = ids
            .iter()
            .zip(&tokens)
            .flat_map(|(id, token)| [id as &dyn ToSql, token])
            .collect();
        let leased: Vec<(String, i64, String)> = tx
            .prepare_cached(&sqlite_sql::lease(ids.len()))?
            .query_map(params_from_iter(params), |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        let params: Vec<&dyn ToSql> = leased
            .iter()
            .flat_map(|(id, attempt, token)| [id as &dyn ToSql, attempt, token])
            .collect();
        tx.prepare_cached(&sqlite_sql::insert_attempts(leased.len()))?
            .execute(params_from_iter(params))?;
        tx.commit()?;
        let tx = db.transaction()?;
        let params: Vec<&dyn ToSql> = leased
            .iter()
            .flat_map(|(id, _, token)| [id as &dyn ToSql, token])
            .collect();
        let done: std::collections::HashSet<String> = tx
            .prepare_cached(&sqlite_sql::complete_jobs(leased.len()))?
            .query_map(params_from_iter(params), |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let params: Vec<&dyn ToSql> = leased
            .iter()
            .filter(|(id, _, _)| done.contains(id))
            .flat_map(|(id, _, token)| [id as &dyn ToSql, token])
            .collect();
        tx.prepare_cached(&sqlite_sql::complete_attempts(done.len()))?
            .execute(params_from_iter(params))?;
        tx.commit()?;
        next += n;
    }
    let rate = count as f64 / began.elapsed().as_secs_f64();
    let succeeded: i64 = db.query_row(
        "SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'",
        [],
        |row| row.get(0),
    )?;
    anyhow::ensure!(
        succeeded as usize == count,
        "direct: {succeeded} of {count} succeeded"
    );
    Ok(rate)
}

/// The store's physical limit on SQLite with its own driver: the same rows written with the same
/// statements the store uses for enqueue, lease and complete, in one transaction per batch per
/// step, on one sqlx connection to a WAL file opened as the service opens it. Each step's
/// transaction goes to sqlx's worker thread as one `BEGIN; …; COMMIT` text (the lease as two,
/// its read and then its writes, as the store sends it), never as separate `BEGIN`, statements
/// and `COMMIT`: sqlx binds each statement's parameters in turn.
async fn queue_direct_sqlx(count: usize, batch: usize) -> anyhow::Result<f64> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/direct.db", dir.path().display());
    // The service's schema (its migrations).
    drop(service::store::SqliteStore::open(&url).await?);
    let options = SqliteConnectOptions::from_str(&url)?
        .foreign_keys(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .pragma("cache_size", "-32768")
        .pragma("temp_store", "memory");
    let mut db = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::query(BENCH_TENANT).execute(&mut db).await?;
    let keys = Keys::new();
    let began = Instant::now();
    let mut next = 0;
    while next < count {
        let n = batch.min(count - next);
        // Enqueue: one command, `BEGIN; INSERT …; COMMIT`.
        let insert = format!("BEGIN; {}; COMMIT", sqlite_sql::insert_jobs(n));
        let mut q = sqlx::query(&insert);
        for i in next..next + n {
            q = q.bind(keys.job()).bind(revoke_payload(i).to_string());
        }
        q.execute(&mut db).await?;
        // Lease: two commands, as the store's lease: `BEGIN` with the read, then the writes
        // with `COMMIT`.
        let select = format!("BEGIN; {}", sqlite_sql::READY_WITH_ATTEMPTS);
        let ready: Vec<(String, i64)> = sqlx::query_as(&select)
            .bind(n as i64)
            .fetch_all(&mut db)
            .await?;
        let leased: Vec<(String, i64, String)> = ready
            .into_iter()
            .map(|(id, attempts)| (id, attempts + 1, keys.token()))
            .collect();
        let write = format!(
            "{}; {}; COMMIT",
            sqlite_sql::lease_no_returning(leased.len()),
            sqlite_sql::insert_attempts(leased.len())
        );
        let mut q = sqlx::query(&write);
        for (id, _, token) in &leased {
            q = q.bind(id).bind(token);
        }
        for (id, attempt, token) in &leased {
            q = q.bind(id).bind(attempt).bind(token);
        }
        q.execute(&mut db).await?;
        // Complete: one command, `BEGIN; UPDATE jobs …; UPDATE job_attempts …; COMMIT` (the
        // store sends two; every token here is current, so nothing needs the ids back).
        let update = format!(
            "BEGIN; {}; {}; COMMIT",
            sqlite_sql::complete_jobs_no_returning(leased.len()),
            sqlite_sql::complete_attempts(leased.len())
        );
        let mut q = sqlx::query(&update);
        for _ in 0..2 {
            for (id, _, token) in &leased {
                q = q.bind(id).bind(token);
            }
        }
        // (sqlx sums `sqlite3_changes()` after every statement of a text, `BEGIN` and `COMMIT`
        // included, so the count is checked once at the end instead.)
        q.execute(&mut db).await?;
        next += n;
    }
    let rate = count as f64 / began.elapsed().as_secs_f64();
    let (succeeded, attempts): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'), \
         (SELECT COUNT(*) FROM job_attempts WHERE outcome = 'succeeded')",
    )
    .fetch_one(&mut db)
    .await?;
    anyhow::ensure!(
        succeeded as usize == count && attempts as usize == count,
        "direct: {succeeded} jobs and {attempts} attempts of {count} succeeded"
    );
    db.close().await?;
    Ok(rate)
}

/// The same on PostgreSQL, with the PostgreSQL store's statements (UNNEST arrays).
async fn queue_direct_pg(url: &str, count: usize, batch: usize) -> anyhow::Result<f64> {
    drop(service::store::PgStore::open(url).await?);
    let mut db = sqlx::PgConnection::connect(url).await?;
    sqlx::query(BENCH_TENANT).execute(&mut db).await?;
    let keys = Keys::new();
    let began = Instant::now();
    let mut next = 0;
    while next < count {
        let n = batch.min(count - next);
        let mut tx = db.begin().await?;
        let values: Vec<String> = (0..n)
            .map(|k| {
                format!(
                    "(${}, 't', 'revoke', 'queued', ${}, 0, 5, 0, 0)",
                    2 * k + 1,
                    2 * k + 2
                )
            })
            .collect();
        let insert = format!(
            "INSERT INTO jobs ({JOB_COLUMNS}) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&insert);
        for i in next..next + n {
            q = q.bind(keys.job()).bind(revoke_payload(i).to_string());
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        let mut tx = db.begin().await?;
        let ids: Vec<String> = sqlx::query_as::<_, (String,)>("SELECT id FROM jobs WHERE tenant_id = 't' AND state = 'queued' AND visible_ms <= 1 AND kind = ANY($1) ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED")
            .bind(vec!["revoke"])
            .bind(n as i64)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
        let tokens: Vec<String> = ids.iter().map(|_| keys.token()).collect();
        sqlx::query("UPDATE jobs SET state = 'leased', attempts = attempts + 1, lease_token_hash = l.token, lease_connector_id = 'c', lease_expires_ms = 300000 FROM UNNEST($1::text[], $2::text[]) AS l(job_id, token) WHERE jobs.id = l.job_id")
            .bind(&ids)
            .bind(&tokens)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO job_attempts (job_id, attempt, connector_id, lease_token_hash, leased_ms) SELECT id, attempts, 'c', lease_token_hash, 1 FROM jobs WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut tx = db.begin().await?;
        sqlx::query("UPDATE jobs SET state = 'succeeded', visible_ms = 2, result = '{\"revoked\":true}', completed_ms = 2, lease_token_hash = NULL, lease_connector_id = NULL, lease_expires_ms = NULL FROM UNNEST($1::text[], $2::text[]) AS c(job_id, token) WHERE jobs.id = c.job_id AND jobs.state = 'leased' AND jobs.lease_token_hash = c.token")
            .bind(&ids)
            .bind(&tokens)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE job_attempts SET outcome = 'succeeded', ended_ms = 2 FROM UNNEST($1::text[], $2::text[]) AS c(job_id, token) WHERE job_attempts.job_id = c.job_id AND job_attempts.lease_token_hash = c.token")
            .bind(&ids)
            .bind(&tokens)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        next += n;
    }
    let rate = count as f64 / began.elapsed().as_secs_f64();
    let (succeeded,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'")
            .fetch_one(&mut db)
            .await?;
    anyhow::ensure!(
        succeeded as usize == count,
        "direct: {succeeded} of {count} succeeded"
    );
    db.close().await?;
    Ok(rate)
}

/// A fresh PostgreSQL database on the server of `DATABASE_URL`, dropped by [`drop_pg`].
async fn fresh_pg(base: &str, name: &str) -> anyhow::Result<String> {
    let mut admin = sqlx::PgConnection::connect(base).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    let (prefix, _) = base
        .rsplit_once('/')
        .context("DATABASE_URL has no database name")?;
    Ok(format!("{prefix}/{name}"))
}

/// Drops the database once the last connection to it has closed (pools close asynchronously).
async fn drop_pg(base: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = sqlx::PgConnection::connect(base).await?;
    let mut tries = 0;
    loop {
        match sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut admin)
            .await
        {
            Ok(_) => break,
            Err(_) if tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    admin.close().await?;
    Ok(())
}

/// One side of a comparison: a run that answers jobs/s.
type Side<'a> = dyn Fn() -> futures_util::future::BoxFuture<'a, anyhow::Result<f64>> + 'a;

/// Runs `sides` in turn, `ROUNDS` times (A B C A B C …), and returns each side's samples.
async fn interleaved<'a>(sides: &[(&str, &Side<'a>)]) -> anyhow::Result<Vec<Vec<f64>>> {
    let mut samples = vec![Vec::new(); sides.len()];
    for round in 0..ROUNDS {
        for (i, (name, run)) in sides.iter().enumerate() {
            let rate = run()
                .await
                .with_context(|| format!("{name}, round {}", round + 1))?;
            println!("  round {}: {name} {rate:.0} jobs/s", round + 1);
            samples[i].push(rate);
        }
    }
    Ok(samples)
}

fn show(what: &str, samples: &[f64]) -> String {
    match spread(samples) {
        Some(s) => format!(
            "{what} median {:.0} (range {:.0}–{:.0})",
            s.median, s.min, s.max
        ),
        None => format!("{what}: no samples"),
    }
}

fn print_ratio(of: &str, a: &[f64], b: &[f64]) {
    if let Some(s) = spread(&paired_ratios(a, b)) {
        println!(
            "  {of}: median {:.0} % (range {:.0}–{:.0} %)",
            100.0 * s.median,
            100.0 * s.min,
            100.0 * s.max
        );
    }
}

async fn sqlite_rows(figures: &mut Figures) -> anyhow::Result<()> {
    for (count, batch) in [(2_000usize, 1usize), (40_000, 100)] {
        println!("queue SQLite file, batch {batch}, {count} jobs ({PRODUCERS} producers, {CONNECTORS} connectors), {ROUNDS} interleaved rounds:");
        let http = || -> futures_util::future::BoxFuture<'_, anyhow::Result<f64>> {
            Box::pin(async move {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}/bench.db", dir.path().display());
                queue_http(&url, count, batch).await
            })
        };
        let sqlx = || -> futures_util::future::BoxFuture<'_, anyhow::Result<f64>> {
            Box::pin(queue_direct_sqlx(count, batch))
        };
        let c_api = || -> futures_util::future::BoxFuture<'_, anyhow::Result<f64>> {
            Box::pin(queue_direct_sqlite(count, batch))
        };
        let samples = interleaved(&[
            ("service over HTTP", &http),
            ("direct, sqlx", &sqlx),
            ("direct, C API", &c_api),
        ])
        .await?;
        println!(
            "  {}; {}; {}",
            show("service", &samples[0]),
            show("sqlx", &samples[1]),
            show("C API", &samples[2])
        );
        print_ratio("service / sqlx", &samples[0], &samples[1]);
        print_ratio("service / C API", &samples[0], &samples[2]);
        figures.rows.push(FigureRow {
            what: format!("Queue, SQLite file, batch {batch}, {PRODUCERS} producers, {CONNECTORS} connectors, {count} jobs: enqueue → lease → complete over loopback HTTP"),
            unit: "jobs/s".into(),
            samples: samples[0].clone(),
            baselines: vec![
                Baseline { what: "the same row writes, direct SQLite through sqlx (the store's driver), one `BEGIN … COMMIT` text a step".into(), samples: samples[1].clone() },
                Baseline { what: "the same row writes through the SQLite C API (rusqlite), cached statements".into(), samples: samples[2].clone() },
            ],
            target: None,
        });
    }
    Ok(())
}

async fn pg_rows(figures: &mut Figures, base: &str) -> anyhow::Result<()> {
    let name = format!("intune_bench_{}", std::process::id());
    for (count, batch) in [(2_000usize, 1usize), (40_000, 100)] {
        println!("queue PostgreSQL, batch {batch}, {count} jobs, {ROUNDS} interleaved rounds:");
        let name = name.as_str();
        let http = || -> futures_util::future::BoxFuture<'_, anyhow::Result<f64>> {
            Box::pin(async move {
                let url = fresh_pg(base, name).await?;
                let rate = queue_http(&url, count, batch).await;
                drop_pg(base, name).await?;
                rate
            })
        };
        let direct = || -> futures_util::future::BoxFuture<'_, anyhow::Result<f64>> {
            Box::pin(async move {
                let url = fresh_pg(base, name).await?;
                let rate = queue_direct_pg(&url, count, batch).await;
                drop_pg(base, name).await?;
                rate
            })
        };
        let samples =
            interleaved(&[("service over HTTP", &http), ("direct PostgreSQL", &direct)]).await?;
        println!(
            "  {}; {}",
            show("service", &samples[0]),
            show("direct", &samples[1])
        );
        print_ratio("service / direct", &samples[0], &samples[1]);
        figures.rows.push(FigureRow {
            what: format!("Queue, PostgreSQL (local), batch {batch}, {PRODUCERS} producers, {CONNECTORS} connectors, {count} jobs"),
            unit: "jobs/s".into(),
            samples: samples[0].clone(),
            baselines: vec![Baseline {
                what: "the same row writes, direct PostgreSQL (one connection)".into(),
                samples: samples[1].clone(),
            }],
            target: None,
        });
    }
    Ok(())
}

pub async fn queue() -> anyhow::Result<()> {
    let mut figures = Figures::new("queue", COMMAND);
    figures.notes.push(format!(
        "Service and baselines run in turn, {ROUNDS} rounds (service, sqlx, C API, service, …); \
         each figure is the median of its rounds with their range, each ratio the median of the \
         round-by-round ratios."
    ));
    sqlite_rows(&mut figures).await?;
    match std::env::var("DATABASE_URL") {
        Ok(base) => pg_rows(&mut figures, &base).await?,
        Err(_) => {
            println!("queue PostgreSQL: not measured (DATABASE_URL is not set)");
            figures
                .notes
                .push("PostgreSQL: not measured in this run (DATABASE_URL was not set).".into());
        }
    }
    figures.write()
}
