//! Figures for issue #5: jobs per second through lease + complete over loopback HTTP on the
//! SQLite file backend (lease and complete batches of 1 and of 100), and PKCS issuances per second
//! (key pair, CSR, issue from the embedded CA, PKCS#12, password encrypted to the device) for
//! P-256 and RSA-2048 keys.
//!
//! `cargo bench -p intune-mock-scenarios --bench queue_and_pkcs` prints one line per figure.
//! Loops are bounded in count; the service listens on 127.0.0.1:0 and its database lives in a
//! temporary directory removed at the end.

use std::time::Instant;

use chrono::{DateTime, Utc};
use connector_sim::pki::{self, CertificateAuthority, IssueRequest, KeyAlgorithm, KeyPool};
use intune_mock_scenarios::harness::{spawn_app_on, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-10-01T00:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

async fn register(app: &TestApp, tenant: &wire::admin::Tenant) -> anyhow::Result<String> {
    let body = json!({"machineName": "BENCH01", "displayName": "BENCH01", "features": ["revocation"], "version": "6.2406.0.1001"});
    let answer = app
        .request(
            Method::POST,
            "/connector/v1/register",
            tenant.enrollment_secret.as_deref(),
            Some(&body),
        )
        .await?;
    anyhow::ensure!(answer.status == 201, "register: {}", answer.body);
    Ok(answer.body["credential"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

async fn enqueue(app: &TestApp, tenant: &str, count: usize) -> anyhow::Result<()> {
    let mut left = count;
    while left > 0 {
        let n = left.min(1000);
        let jobs: Vec<Value> = (0..n)
            .map(|i| json!({"kind": "revoke", "payload": {"serialNumber": format!("{:x}", i + 1), "issuerName": "CN=Contoso Issuing CA", "certificationAuthority": "ca01.contoso.com\\Contoso Issuing CA"}}))
            .collect();
        let answer = app
            .admin(
                Method::POST,
                &format!("/admin/tenants/{tenant}/jobs"),
                Some(&json!({ "jobs": jobs })),
            )
            .await?;
        anyhow::ensure!(answer.status == 201, "enqueue: {}", answer.body);
        left -= n;
    }
    Ok(())
}

/// Leases and completes `count` jobs in batches of `batch`; returns jobs per second.
async fn lease_complete(count: usize, batch: u32) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let app = spawn_app_on(start(), 5, &url).await?;
    let tenant = app.create_tenant("Bench", None).await?;
    let credential = register(&app, &tenant).await?;
    enqueue(&app, &tenant.id, count).await?;
    let began = Instant::now();
    let mut done = 0;
    while done < count {
        let leased = app
            .request(
                Method::POST,
                "/connector/v1/jobs/lease",
                Some(&credential),
                Some(&json!({"max": batch})),
            )
            .await?;
        let jobs = leased.body["jobs"].as_array().cloned().unwrap_or_default();
        anyhow::ensure!(!jobs.is_empty(), "the queue ran dry after {done} jobs");
        let completion = |job: &Value| json!({"jobId": job["id"], "leaseToken": job["leaseToken"], "outcome": "succeeded", "result": {"revoked": true}});
        if batch == 1 {
            let job = &jobs[0];
            let id = job["id"].as_str().unwrap_or_default();
            let answer = app
                .request(
                    Method::POST,
                    &format!("/connector/v1/jobs/{id}/complete"),
                    Some(&credential),
                    Some(&json!({"leaseToken": job["leaseToken"], "outcome": "succeeded", "result": {"revoked": true}})),
                )
                .await?;
            anyhow::ensure!(answer.status == 200, "complete: {}", answer.body);
        } else {
            let completions: Vec<Value> = jobs.iter().map(completion).collect();
            let answer = app
                .request(
                    Method::POST,
                    "/connector/v1/jobs/complete",
                    Some(&credential),
                    Some(&json!({ "completions": completions })),
                )
                .await?;
            anyhow::ensure!(answer.status == 200, "complete: {}", answer.body);
        }
        done += jobs.len();
    }
    let rate = done as f64 / began.elapsed().as_secs_f64();
    app.stop().await;
    Ok(rate)
}

/// Issues `count` PKCS certificates end to end; returns issuances per second.
fn issuance(count: u32, algorithm: KeyAlgorithm, pool: Option<&KeyPool>) -> anyhow::Result<f64> {
    let now = start();
    let mut ca = CertificateAuthority::new("ca01", "Contoso Issuing CA", now)?;
    let fresh = KeyPool::new();
    let device_key = fresh.generate(KeyAlgorithm::P256)?;
    let device = pki::self_signed(&device_key, "device", now)?;
    let began = Instant::now();
    for i in 0..count {
        let key = pool.unwrap_or(&fresh).generate(algorithm)?;
        let subject = format!("CN=device-{i:04}");
        let request = pki::certificate_request(&key, &subject)?;
        let certificate = ca.issue(
            &request,
            &IssueRequest {
                template: "IntuneDevice".into(),
                subject,
                subject_alternative_names: vec![],
                validity_days: 365,
                sid: None,
                requester: None,
            },
            now,
        )?;
        let password = pki::random_password()?;
        let pfx = pki::build_pfx(&key, &certificate, ca.certificate(), &password)?;
        let (encrypted, _) = pki::encrypt_to_device(&device, password.as_bytes())?;
        anyhow::ensure!(!pfx.is_empty() && !encrypted.is_empty());
    }
    Ok(count as f64 / began.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; any other argument is a filter on the figure's name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if wanted("queue") {
        for (count, batch) in [(2_000usize, 1u32), (20_000, 100)] {
            let rate = runtime.block_on(lease_complete(count, batch))?;
            println!(
                "queue lease+complete, SQLite file, batch {batch:>3}: {rate:>8.0} jobs/s ({count} jobs)"
            );
        }
    }
    if wanted("pkcs") {
        let rate = issuance(500, KeyAlgorithm::P256, None)?;
        println!("pkcs issuance P-256 (key made per request):      {rate:>8.1} /s (500)");
        let rate = issuance(30, KeyAlgorithm::Rsa2048, None)?;
        println!("pkcs issuance RSA-2048 (key made per request):   {rate:>8.1} /s (30)");
        let pool = KeyPool::new();
        pool.fill(100)?;
        let rate = issuance(100, KeyAlgorithm::Rsa2048, Some(&pool))?;
        println!("pkcs issuance RSA-2048 (keys from the key pool): {rate:>8.1} /s (100)");
    }
    Ok(())
}
