//! Issue #10's figures, each printed next to the baseline it is compared to, measured in the same
//! run, followed by rows ready for BENCHMARKS.md:
//!
//! - `queue`: jobs/s through enqueue → lease → complete over loopback HTTP with 4 connectors, in
//!   batches of 1 and 100, on an SQLite file, against the same row writes done directly with
//!   SQLite (sqlx, one connection, the service's schema) in this process; then PostgreSQL the same
//!   way when `DATABASE_URL` names a server (a fresh database per run, dropped afterwards);
//! - `time`: 18 months of a 100-connector tenant (polls every 30 s, health every 5 minutes, a
//!   release every 2 months, 1,000 revocation jobs a day) in the scenario runner;
//! - `memory`: RSS of `intune-mock serve` with 100 connectors and 1,000,000 queued jobs, and of
//!   `intune-mock connector` at rest;
//! - `suite`: wall time of the bundled conformance suite with `--jobs 1` and `--jobs 2`.
//!
//! `cargo bench -p intune-mock-scenarios --bench figures [-- queue|time|memory|suite]`.
//! Every loop is bounded in count and time; servers listen on 127.0.0.1:0; temporary directories
//! and databases are removed at the end.

use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use intune_mock_scenarios::harness::{spawn_app_on, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection;
use wire::connector::Feature;
use wire::jobs::{JobKind, Outcome};

/// The service under test here allocates as the shipped binary does (`src/main.rs`), and so does
/// the baseline it is compared with, in the same process.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The binary under measurement (the bench profile's build of `intune-mock`).
const BINARY: &str = env!("CARGO_BIN_EXE_intune-mock");
const OPERATOR_TOKEN: &str = "bench-operator-token";
/// No run of one figure may take longer than this.
const LIMIT: Duration = Duration::from_secs(300);
const CONNECTORS: usize = 4;
const PRODUCERS: usize = 2;

// A bench's root is its crate root: its modules sit beside it unless told where.
#[path = "figures/memory.rs"]
mod memory;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-10-01T00:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A markdown row for BENCHMARKS.md.
struct Row {
    what: String,
    command: &'static str,
    figure: String,
    baseline: String,
    ratio: String,
}

fn print_rows(rows: &[Row]) {
    println!();
    println!("| What | Command | Figure | Baseline (same run) | Ratio |");
    println!("|------|---------|--------|---------------------|-------|");
    for r in rows {
        println!(
            "| {} | `{}` | {} | {} | {} |",
            r.what, r.command, r.figure, r.baseline, r.ratio
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Queue

fn revoke_payload(i: usize) -> Value {
    json!({"serialNumber": format!("{:x}", i + 1), "issuerName": "CN=Contoso Issuing CA", "certificationAuthority": "ca01.contoso.com\\Contoso Issuing CA"})
}

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
/// it (`synchronous=NORMAL`, 32 MiB cache, in-memory temporary store). No driver thread: the
/// difference from [`queue_direct_sqlx`] is what sqlx's SQLite driver costs.
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
        tx.prepare(&sqlite_sql::insert_jobs(n))?
            .execute(params_from_iter(params))?;
        tx.commit()?;
        let tx = db.transaction()?;
        let ids: Vec<String> = tx
            .prepare(sqlite_sql::READY)?
            .query_map([n as i64], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let tokens: Vec<String> = ids.iter().map(|_| keys.token()).collect();
        let params: Vec<&dyn ToSql> = ids
            .iter()
            .zip(&tokens)
            .flat_map(|(id, token)| [id as &dyn ToSql, token])
            .collect();
        let leased: Vec<(String, i64, String)> = tx
            .prepare(&sqlite_sql::lease(ids.len()))?
            .query_map(params_from_iter(params), |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        let params: Vec<&dyn ToSql> = leased
            .iter()
            .flat_map(|(id, attempt, token)| [id as &dyn ToSql, attempt, token])
            .collect();
        tx.prepare(&sqlite_sql::insert_attempts(leased.len()))?
            .execute(params_from_iter(params))?;
        tx.commit()?;
        let tx = db.transaction()?;
        let params: Vec<&dyn ToSql> = leased
            .iter()
            .flat_map(|(id, _, token)| [id as &dyn ToSql, token])
            .collect();
        let done: std::collections::HashSet<String> = tx
            .prepare(&sqlite_sql::complete_jobs(leased.len()))?
            .query_map(params_from_iter(params), |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let params: Vec<&dyn ToSql> = leased
            .iter()
            .filter(|(id, _, _)| done.contains(id))
            .flat_map(|(id, _, token)| [id as &dyn ToSql, token])
            .collect();
        tx.prepare(&sqlite_sql::complete_attempts(done.len()))?
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
/// step, on one sqlx connection to a WAL file opened as the service opens it.
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
        let mut tx = db.begin().await?;
        let insert = sqlite_sql::insert_jobs(n);
        let mut q = sqlx::query(&insert);
        for i in next..next + n {
            q = q.bind(keys.job()).bind(revoke_payload(i).to_string());
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        let mut tx = db.begin().await?;
        let ids: Vec<(String,)> = sqlx::query_as(sqlite_sql::READY)
            .bind(n as i64)
            .fetch_all(&mut *tx)
            .await?;
        let update = sqlite_sql::lease(ids.len());
        let mut q = sqlx::query_as::<_, (String, i64, String)>(&update);
        for (id,) in &ids {
            q = q.bind(id).bind(keys.token());
        }
        let leased = q.fetch_all(&mut *tx).await?;
        let insert = sqlite_sql::insert_attempts(leased.len());
        let mut q = sqlx::query(&insert);
        for (id, attempt, token) in &leased {
            q = q.bind(id).bind(attempt).bind(token);
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        let mut tx = db.begin().await?;
        let update = sqlite_sql::complete_jobs(leased.len());
        let mut q = sqlx::query_as::<_, (String,)>(&update);
        for (id, _, token) in &leased {
            q = q.bind(id).bind(token);
        }
        let done: std::collections::HashSet<String> = q
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
        let update = sqlite_sql::complete_attempts(done.len());
        let mut q = sqlx::query(&update);
        for (id, _, token) in leased.iter().filter(|(id, _, _)| done.contains(id)) {
            q = q.bind(id).bind(token);
        }
        q.execute(&mut *tx).await?;
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

async fn queue(rows: &mut Vec<Row>) -> anyhow::Result<()> {
    const COMMAND: &str = "cargo bench -p intune-mock-scenarios --bench figures -- queue";
    for (count, batch) in [(2_000usize, 1usize), (40_000, 100)] {
        let sqlx = queue_direct_sqlx(count, batch).await?;
        let c_api = queue_direct_sqlite(count, batch).await?;
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        let http = queue_http(&url, count, batch).await?;
        let ratio = 100.0 * http / sqlx;
        let ratio_c = 100.0 * http / c_api;
        println!("queue SQLite file, batch {batch:>3}: {http:>8.0} jobs/s over HTTP ({PRODUCERS} producers, {CONNECTORS} connectors, {count} jobs); direct SQLite through sqlx {sqlx:>8.0} jobs/s ({ratio:.0}%), through the C API {c_api:>8.0} jobs/s ({ratio_c:.0}%)");
        rows.push(Row {
            what: format!("Queue, SQLite file, batch {batch}, {PRODUCERS} producers, {CONNECTORS} connectors, {count} jobs: enqueue → lease → complete over loopback HTTP"),
            command: COMMAND,
            figure: format!("{http:.0} jobs/s"),
            baseline: format!("{sqlx:.0} jobs/s (the same row writes, direct SQLite through sqlx, the store's driver); {c_api:.0} jobs/s (through the C API)"),
            ratio: format!("{ratio:.0}% of sqlx; {ratio_c:.0}% of the C API"),
        });
    }
    let Ok(base) = std::env::var("DATABASE_URL") else {
        println!("queue PostgreSQL: skipped (DATABASE_URL is not set)");
        return Ok(());
    };
    for (count, batch) in [(2_000usize, 1usize), (40_000, 100)] {
        let name = format!("intune_bench_{}", std::process::id());
        let url = fresh_pg(&base, &name).await?;
        let direct = queue_direct_pg(&url, count, batch).await;
        drop_pg(&base, &name).await?;
        let direct = direct?;
        let url = fresh_pg(&base, &name).await?;
        let http = queue_http(&url, count, batch).await;
        drop_pg(&base, &name).await?;
        let http = http?;
        let ratio = 100.0 * http / direct;
        println!("queue PostgreSQL, batch {batch:>3}: {http:>8.0} jobs/s over HTTP ({PRODUCERS} producers, {CONNECTORS} connectors, {count} jobs); direct PostgreSQL {direct:>8.0} jobs/s; {ratio:.0}%");
        rows.push(Row {
            what: format!("Queue, PostgreSQL 15 (local), batch {batch}, {PRODUCERS} producers, {CONNECTORS} connectors, {count} jobs"),
            command: COMMAND,
            figure: format!("{http:.0} jobs/s"),
            baseline: format!("{direct:.0} jobs/s (the same row writes, direct PostgreSQL)"),
            ratio: format!("{ratio:.0}%"),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Virtual time

/// The scenario of the virtual-time figure: 100 connectors (revocation) through 546 days, 1,000
/// revocation jobs enqueued each day, a release every two months (the connectors update
/// themselves after the tenant's rollout delay).
fn fleet_scenario() -> String {
    let mut text = String::from(
        "name = \"bench-fleet-18-months\"\nseed = 10\nstart = \"2024-09-19T00:00:00Z\"\n\n[[tenant]]\nname = \"contoso\"\n\n\
         [[step]]\ninstall = { name = \"c\", tenant = \"contoso\", machine = \"SRV\", features = [\"revocation\"], version = \"6.2406.0.1001\", count = 100 }\n\n",
    );
    let first = DateTime::parse_from_rfc3339("2024-09-19T00:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default();
    for day in 0..546u32 {
        if day > 0 && day % 61 == 0 {
            let date = first + chrono::Duration::days(day as i64);
            let release = day / 61;
            text.push_str(&format!(
                "[[step]]\npublish_release = {{ version = \"7.{release}.0.1000\", date = \"{}\" }}\n\n",
                date.format("%Y-%m-%dT%H:%M:%SZ")
            ));
        }
        text.push_str("[[step]]\nenqueue = { tenant = \"contoso\", kind = \"revoke\", count = 1000 }\n\n[[step]]\nadvance = \"P1D\"\n\n");
    }
    text.push_str(
        "[[step]]\nexpect_jobs = { tenant = \"contoso\", state = \"succeeded\", count = 546000 }\n",
    );
    text
}

fn time_figure(rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench-fleet-18-months.toml");
    std::fs::write(&path, fleet_scenario())?;
    let began = Instant::now();
    let out = Command::new(BINARY)
        .arg("run")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()?;
    let wall = began.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "the fleet scenario failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let simulated = 546.0 * 86_400.0;
    let rate = simulated / wall;
    println!("virtual time: 546 days × 100 connectors, 546,000 jobs: {wall:.2} s wall, {:.1} million simulated seconds per wall second (target: under 30 s, 1.5 million)", rate / 1e6);
    rows.push(Row {
        what: "Virtual time: 18 months (546 days) of 100 connectors, polls every 30 s, health every 5 minutes, a release every 2 months, 1,000 revocation jobs a day".into(),
        command: "cargo bench -p intune-mock-scenarios --bench figures -- time",
        figure: format!("{wall:.2} s wall; {:.1} million simulated s per wall s", rate / 1e6),
        baseline: "target: < 30 s (1.5 million simulated s per wall s)".into(),
        ratio: format!("{:.2}× the target rate", rate / 1.5e6),
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Suite

fn suite(rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let mut walls = Vec::new();
    for jobs in ["1", "2"] {
        let began = Instant::now();
        let out = Command::new(BINARY)
            .args(["run", "--jobs", jobs])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()?;
        let wall = began.elapsed().as_secs_f64();
        anyhow::ensure!(
            out.status.success(),
            "the suite failed with --jobs {jobs}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        println!("suite: the bundled conformance suite with --jobs {jobs}: {wall:.2} s");
        walls.push(wall);
    }
    rows.push(Row {
        what: "Suite: the bundled conformance scenarios, `--jobs 1` / `--jobs 2`".into(),
        command: "cargo bench -p intune-mock-scenarios --bench figures -- suite",
        figure: format!("{:.2} s / {:.2} s", walls[0], walls[1]),
        baseline: "`--jobs 1`".into(),
        ratio: format!("{:.2}× faster with 2", walls[0] / walls[1]),
    });
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; any other argument picks figures by name.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    if wanted("queue") {
        runtime.block_on(queue(&mut rows))?;
    }
    if wanted("time") {
        time_figure(&mut rows)?;
    }
    if wanted("memory") {
        runtime.block_on(memory::memory(&mut rows))?;
    }
    if wanted("suite") {
        suite(&mut rows)?;
    }
    print_rows(&rows);
    Ok(())
}
