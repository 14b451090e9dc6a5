//! The service as separate processes (issue #8). Crash safety: the service is killed with SIGKILL
//! while 10,000 jobs flow through four connectors, restarted on the same database (an SQLite file,
//! or PostgreSQL), and every job ends completed exactly once in effect: none lost, the result kept
//! is the one whose completion was acknowledged, a repeat of an acknowledged completion changes
//! nothing, and a stale lease token is refused. Replicas: two processes on one PostgreSQL database
//! serve the same tenant to four connectors (two on each): no job is leased twice, none is lost,
//! and the virtual clock one of them advances is the other's clock too.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scenarios::harness::http_client as http;
use serde_json::{json, Value};

use crate::support::{serve_process, start_served, Served};

const OPERATOR: &str = "crash-test-operator-token";
const JOBS: usize = 10_000;
const KILL_AFTER: usize = 4_000;
/// The whole test gives up after this long (a hung service must not hang CI).
const DEADLINE: Duration = Duration::from_secs(300);

/// A running `intune-mock serve` child on a loopback port.
async fn start(database_url: &str) -> Served {
    let mut command = serve_process(
        OPERATOR,
        database_url,
        &[
            "--start",
            "2026-03-01T00:00:00Z",
            "--connector-rate-limit",
            "0",
        ],
    );
    command.stderr(Stdio::null());
    start_served(command).await
}

#[derive(Default)]
struct Ledger {
    /// job id → the lease token whose completion the service acknowledged.
    acknowledged: HashMap<String, String>,
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    bearer: &str,
    body: &Value,
) -> Result<(u16, Value), reqwest::Error> {
    let response = http.post(url).bearer_auth(bearer).json(body).send().await?;
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, body))
}

fn completion(job: &Value) -> Value {
    let token = job["leaseToken"].as_str().unwrap();
    json!({
        "jobId": job["id"],
        "leaseToken": token,
        "outcome": "succeeded",
        "result": {"token": token},
    })
}

/// One connector's loop: lease up to 100, complete them in one batch, until the queue is empty
/// or the service goes away. Completions sent but not answered are left in `unanswered`.
async fn work(
    http: reqwest::Client,
    url: String,
    credential: String,
    ledger: Arc<Mutex<Ledger>>,
    done: Arc<AtomicUsize>,
    unanswered: Arc<Mutex<Vec<Value>>>,
) {
    let started = Instant::now();
    while started.elapsed() < DEADLINE {
        let lease = post(
            &http,
            &format!("{url}/connector/v1/jobs/lease"),
            &credential,
            &json!({"max": 100}),
        )
        .await;
        let Ok((200, leased)) = lease else { return };
        let jobs = leased["jobs"].as_array().cloned().unwrap_or_default();
        if jobs.is_empty() {
            return;
        }
        let completions: Vec<Value> = jobs.iter().map(completion).collect();
        *unanswered.lock().unwrap() = completions.clone();
        let answer = post(
            &http,
            &format!("{url}/connector/v1/jobs/complete"),
            &credential,
            &json!({"completions": completions}),
        )
        .await;
        let Ok((200, results)) = answer else { return };
        let mut ledger = ledger.lock().unwrap();
        for (sent, result) in completions.iter().zip(results["value"].as_array().unwrap()) {
            assert_eq!(result["status"], 200, "{result}");
            let earlier = ledger.acknowledged.insert(
                sent["jobId"].as_str().unwrap().to_owned(),
                sent["leaseToken"].as_str().unwrap().to_owned(),
            );
            assert_eq!(earlier, None, "a job was acknowledged twice: {sent}");
        }
        unanswered.lock().unwrap().clear();
        done.fetch_add(completions.len(), Ordering::SeqCst);
    }
}

/// One [`work`] task per connector, connector `n` on the service `urls[n % urls.len()]`, each
/// with its own list of unanswered completions.
fn spawn_workers(
    http: &reqwest::Client,
    urls: &[&str],
    credentials: &[String],
    ledger: &Arc<Mutex<Ledger>>,
    done: &Arc<AtomicUsize>,
    unanswered: &[Arc<Mutex<Vec<Value>>>],
) -> Vec<tokio::task::JoinHandle<()>> {
    credentials
        .iter()
        .zip(unanswered)
        .enumerate()
        .map(|(n, (credential, pending))| {
            tokio::spawn(work(
                http.clone(),
                urls[n % urls.len()].to_owned(),
                credential.clone(),
                ledger.clone(),
                done.clone(),
                pending.clone(),
            ))
        })
        .collect()
}

async fn admin(
    http: &reqwest::Client,
    url: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = http
        .request(method, format!("{url}{path}"))
        .bearer_auth(OPERATOR);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn count(http: &reqwest::Client, url: &str, tenant: &str, state: &str) -> u64 {
    let (status, body) = admin(
        http,
        url,
        reqwest::Method::GET,
        &format!("/admin/tenants/{tenant}/jobs?state={state}&top=1"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["count"].as_u64().unwrap()
}

/// A tenant with four revocation connectors (registered through the services at `urls` in turn)
/// and 10,000 revoke jobs (enqueued through them in turn): its id and the connectors' credentials.
async fn tenant_with_jobs(http: &reqwest::Client, urls: &[&str]) -> (String, Vec<String>) {
    let url = urls[0];
    let (status, tenant) = admin(
        http,
        url,
        reqwest::Method::POST,
        "/admin/tenants",
        Some(&json!({"displayName": "Contoso"})),
    )
    .await;
    assert_eq!(status, 201, "{tenant}");
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    let secret = tenant["enrollmentSecret"].as_str().unwrap().to_owned();
    let mut credentials = Vec::new();
    for n in 1..=4 {
        let body = json!({"machineName": format!("PKI-{n}"), "displayName": format!("PKI-{n}"), "features": ["revocation"], "version": "6.2510.3.2002"});
        let (status, answer) = post(
            http,
            &format!("{}/connector/v1/register", urls[n % urls.len()]),
            &secret,
            &body,
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{answer}");
        credentials.push(answer["credential"].as_str().unwrap().to_owned());
    }
    for batch in 0..JOBS / 1000 {
        let jobs: Vec<Value> = (0..1000)
            .map(|i| json!({"kind": "revoke", "payload": {"serialNumber": format!("{:06x}", batch * 1000 + i + 1), "issuerName": "CN=Contoso Issuing CA", "certificationAuthority": "ca01.contoso.com\\Contoso Issuing CA"}}))
            .collect();
        let (status, body) = admin(
            http,
            urls[batch % urls.len()],
            reqwest::Method::POST,
            &format!("/admin/tenants/{tenant_id}/jobs"),
            Some(&json!({"jobs": jobs})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }

    (tenant_id, credentials)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_flow_on_sqlite_and_restarted_every_job_completes_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_restart(format!(
        "sqlite://{}",
        dir.path().join("crash.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_flow_on_postgres_and_restarted_every_job_completes_exactly_once() {
    crate::store_suite::on_fresh_pg_database(crash_and_restart).await;
}

async fn crash_and_restart(database_url: String) {
    let http = http();
    let mut service = start(&database_url).await;
    let url = service.url.clone();

    let (tenant_id, credentials) = tenant_with_jobs(&http, &[url.as_str()]).await;

    // Four connectors work; the service is killed (SIGKILL) once 4,000 completions are answered.
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let done = Arc::new(AtomicUsize::new(0));
    let unanswered: Vec<Arc<Mutex<Vec<Value>>>> = (0..4).map(|_| Arc::default()).collect();
    let workers = spawn_workers(
        &http,
        &[url.as_str()],
        &credentials,
        &ledger,
        &done,
        &unanswered,
    );
    let started = Instant::now();
    while done.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(
            started.elapsed() < DEADLINE,
            "only {} completions in {DEADLINE:?}",
            done.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    service.child.start_kill().unwrap();
    service.child.wait().await.unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let before_restart = done.load(Ordering::SeqCst);
    assert!(before_restart < JOBS, "the kill came after the last job");

    // Restarted on the same file: the completions that were sent but never answered are sent
    // again with the same tokens. Each is applied now, or was applied before the kill and gets
    // the same answer again.
    let service = start(&database_url).await;
    let url = service.url.clone();
    let mut resent = 0;
    for (credential, pending) in credentials.iter().zip(&unanswered) {
        let completions = std::mem::take(&mut *pending.lock().unwrap());
        if completions.is_empty() {
            continue;
        }
        resent += completions.len();
        let (status, results) = post(
            &http,
            &format!("{url}/connector/v1/jobs/complete"),
            credential,
            &json!({"completions": completions}),
        )
        .await
        .unwrap();
        assert_eq!(status, 200, "{results}");
        let mut ledger = ledger.lock().unwrap();
        for (sent, result) in completions.iter().zip(results["value"].as_array().unwrap()) {
            assert_eq!(result["status"], 200, "{result}");
            ledger.acknowledged.insert(
                sent["jobId"].as_str().unwrap().to_owned(),
                sent["leaseToken"].as_str().unwrap().to_owned(),
            );
        }
    }

    // A connector leases one job and goes quiet; the leases lost in the crash and this one run out
    // (5 minutes of virtual time) and the jobs are offered again.
    let (status, held) = post(
        &http,
        &format!("{url}/connector/v1/jobs/lease"),
        &credentials[0],
        &json!({"max": 1}),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{held}");
    let held = held["jobs"][0].clone();
    let (status, clock) = admin(
        &http,
        &url,
        reqwest::Method::POST,
        "/admin/clock",
        Some(&json!({"advance": "PT6M"})),
    )
    .await;
    assert_eq!(status, 200, "{clock}");

    let workers = spawn_workers(
        &http,
        &[url.as_str()],
        &credentials,
        &ledger,
        &done,
        &unanswered,
    );
    for w in workers {
        w.await.unwrap();
    }

    // Every job succeeded, none is left anywhere else.
    assert_eq!(
        count(&http, &url, &tenant_id, "succeeded").await,
        JOBS as u64
    );
    for state in ["queued", "leased", "failed", "dead_letter", "cancelled"] {
        assert_eq!(count(&http, &url, &tenant_id, state).await, 0, "{state}");
    }
    // The result each job keeps is the one of its acknowledged completion.
    let ledger = ledger.lock().unwrap().acknowledged.clone();
    assert_eq!(ledger.len(), JOBS);
    let mut checked = 0;
    for skip in (0..JOBS).step_by(1000) {
        let (status, page) = admin(
            &http,
            &url,
            reqwest::Method::GET,
            &format!("/admin/tenants/{tenant_id}/jobs?top=1000&skip={skip}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        for job in page["value"].as_array().unwrap() {
            let id = job["id"].as_str().unwrap();
            assert_eq!(
                job["result"]["token"].as_str(),
                ledger.get(id).map(String::as_str),
                "{job}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, JOBS);

    // The stale token of the quiet connector is refused; the job keeps the other completion.
    let stale = json!({"completions": [completion(&held)]});
    let (status, results) = post(
        &http,
        &format!("{url}/connector/v1/jobs/complete"),
        &credentials[0],
        &stale,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{results}");
    assert_eq!(results["value"][0]["status"], 409, "{results}");
    assert_eq!(
        results["value"][0]["error"]["code"], "LeaseLost",
        "{results}"
    );
    // A repeat of an acknowledged completion answers the same and changes nothing.
    let (id, token) = ledger.iter().next().unwrap();
    let repeat = json!({"completions": [{"jobId": id, "leaseToken": token, "outcome": "succeeded", "result": {"token": "second"}}]});
    let mut accepted_by = None;
    for credential in &credentials {
        let (_, results) = post(
            &http,
            &format!("{url}/connector/v1/jobs/complete"),
            credential,
            &repeat,
        )
        .await
        .unwrap();
        if results["value"][0]["status"] == 200 {
            accepted_by = Some(results["value"][0]["completed"]["state"].clone());
        }
    }
    assert_eq!(accepted_by, Some(json!("succeeded")));
    let (_, job) = admin(
        &http,
        &url,
        reqwest::Method::GET,
        &format!("/admin/tenants/{tenant_id}/jobs/{id}"),
        None,
    )
    .await;
    assert_eq!(job["result"]["token"].as_str(), Some(token.as_str()));
    eprintln!("crash safety: {before_restart} completions answered before the kill, {resent} resent after the restart");
    drop(service);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_share_jobs_and_the_clock() {
    crate::store_suite::on_fresh_pg_database(two_replicas).await;
}

async fn two_replicas(database_url: String) {
    let http = http();
    let a = start(&database_url).await;
    let b = start(&database_url).await;
    let urls = [a.url.clone(), b.url.clone()];
    let (tenant_id, credentials) =
        tenant_with_jobs(&http, &[urls[0].as_str(), urls[1].as_str()]).await;

    // The clock one replica advances is the other's: status is computed at the same instant.
    let (status, clock) = admin(
        &http,
        &urls[0],
        reqwest::Method::POST,
        "/admin/clock",
        Some(&json!({"advance": "PT1H"})),
    )
    .await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(clock["now"], "2026-03-01T01:00:00Z", "{clock}");
    let (status, clock) = admin(&http, &urls[1], reqwest::Method::GET, "/admin/clock", None).await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(clock["now"], "2026-03-01T01:00:00Z", "{clock}");

    // Connectors 1 and 3 work through replica a, 2 and 4 through b, all at once.
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let done = Arc::new(AtomicUsize::new(0));
    let unanswered: Vec<Arc<Mutex<Vec<Value>>>> = (0..4).map(|_| Arc::default()).collect();
    let workers = spawn_workers(
        &http,
        &[urls[0].as_str(), urls[1].as_str()],
        &credentials,
        &ledger,
        &done,
        &unanswered,
    );
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), JOBS);
    assert_eq!(ledger.lock().unwrap().acknowledged.len(), JOBS);
    assert_eq!(
        count(&http, &urls[1], &tenant_id, "succeeded").await,
        JOBS as u64
    );
    for state in ["queued", "leased", "failed", "dead_letter", "cancelled"] {
        assert_eq!(
            count(&http, &urls[0], &tenant_id, state).await,
            0,
            "{state}"
        );
    }
    // No job was leased twice: every job has exactly one attempt, by one connector, and the
    // result is the one of its acknowledged completion.
    let ledger = ledger.lock().unwrap().acknowledged.clone();
    for skip in (0..JOBS).step_by(1000) {
        let (status, page) = admin(
            &http,
            &urls[skip / 1000 % 2],
            reqwest::Method::GET,
            &format!("/admin/tenants/{tenant_id}/jobs?top=1000&skip={skip}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        for job in page["value"].as_array().unwrap() {
            assert_eq!(job["attempts"], 1, "{job}");
            let id = job["id"].as_str().unwrap();
            assert_eq!(
                job["result"]["token"].as_str(),
                ledger.get(id).map(String::as_str),
                "{job}"
            );
        }
    }
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_retried_with_its_key_after_a_kill_on_sqlite_creates_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    enqueue_killed_and_retried(format!("sqlite://{}", dir.path().join("keys.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_retried_with_its_key_after_a_kill_on_postgres_creates_nothing_twice() {
    crate::store_suite::on_fresh_pg_database(enqueue_killed_and_retried).await;
}

/// `POST /admin/tenants/{tenant}/jobs` of a 100-job batch under `key`.
async fn keyed_enqueue(
    http: &reqwest::Client,
    url: &str,
    tenant_id: &str,
    key: &str,
) -> Result<(u16, Value), reqwest::Error> {
    // A serial number of hex digits of its own for each key.
    let prefix = key
        .bytes()
        .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
    let jobs: Vec<Value> = (0..100)
        .map(|i| json!({"kind": "revoke", "payload": {"serialNumber": format!("{prefix:08x}{i:04x}"), "issuerName": "CN=Contoso Issuing CA", "certificationAuthority": "ca01.contoso.com\\Contoso Issuing CA"}}))
        .collect();
    let response = http
        .post(format!("{url}/admin/tenants/{tenant_id}/jobs"))
        .bearer_auth(OPERATOR)
        .header("Idempotency-Key", key)
        .json(&json!({"jobs": jobs}))
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// The service is killed (SIGKILL) once after a 100-job enqueue was committed but its answer is
/// treated as lost, and then four times while an enqueue is in flight (at 0, 2, 5 and 10 ms).
/// After each restart the client retries with the same key: each key ends with exactly 100 jobs,
/// and the retry of the committed batch answers the ids of the first answer.
async fn enqueue_killed_and_retried(database_url: String) {
    let http = http();
    let mut service = start(&database_url).await;
    let (status, tenant) = admin(
        &http,
        &service.url,
        reqwest::Method::POST,
        "/admin/tenants",
        Some(&json!({"displayName": "Contoso"})),
    )
    .await;
    assert_eq!(status, 201, "{tenant}");
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();

    // Committed, answer lost: the client saw nothing of it.
    let (status, first) = keyed_enqueue(&http, &service.url, &tenant_id, "batch-lost")
        .await
        .unwrap();
    assert_eq!(status, 201, "{first}");
    service.child.start_kill().unwrap();
    service.child.wait().await.unwrap();
    service = start(&database_url).await;
    let (status, retry) = keyed_enqueue(&http, &service.url, &tenant_id, "batch-lost")
        .await
        .unwrap();
    assert_eq!(status, 201, "{retry}");
    assert_eq!(retry, first);

    // Killed while the enqueue is in flight: before, during or after its commit.
    let keys = ["batch-0ms", "batch-2ms", "batch-5ms", "batch-10ms"];
    for (key, delay) in keys.into_iter().zip([0u64, 2, 5, 10]) {
        let call = {
            let (http, url, tenant_id) = (http.clone(), service.url.clone(), tenant_id.clone());
            tokio::spawn(async move { keyed_enqueue(&http, &url, &tenant_id, key).await })
        };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        service.child.start_kill().unwrap();
        service.child.wait().await.unwrap();
        let _ = call.await.unwrap();
        service = start(&database_url).await;
        let (status, answer) = keyed_enqueue(&http, &service.url, &tenant_id, key)
            .await
            .unwrap();
        assert_eq!(status, 201, "{answer}");
        assert_eq!(answer["value"].as_array().unwrap().len(), 100);
    }
    let queued = count(&http, &service.url, &tenant_id, "queued").await;
    assert_eq!(queued, 500);
    eprintln!("idempotent enqueue: 5 kills, 5 keys, {queued} jobs queued (100 a key)");
}
