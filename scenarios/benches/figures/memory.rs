//! The `memory` figures: RSS of `intune-mock serve` with 100 connectors and 1,000,000 queued
//! jobs, and of `intune-mock connector` at rest, each a child process of the bench.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::Method;
use serde_json::{json, Value};
use wire::connector::Feature;
use wire::jobs::JobKind;

use super::{revoke_payload, Row, BINARY, LIMIT, OPERATOR_TOKEN};

/// The resident set and its peak of a process, in MiB, from /proc.
fn rss_mib(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .context("no value")?
            .parse()?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(database_url: &str) -> anyhow::Result<(Guard, String)> {
    let mut child = Command::new(BINARY)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
            "--clock",
            "virtual",
            "--start",
            "2024-10-01T00:00:00Z",
            "--operator-token",
            OPERATOR_TOKEN,
            "--connector-rate-limit",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let guard = Guard(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().context("serve ended before it listened")??;
        if let Some(url) = line.strip_prefix("intune-mock listening on ") {
            break url.trim().to_owned();
        }
    };
    // Keep reading so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Ok((guard, url))
}

const MEMORY_COMMAND: &str = "cargo bench -p intune-mock --bench figures -- memory";

/// A served `intune-mock` called over HTTP: each call answers its status and JSON body.
struct Served {
    http: reqwest::Client,
    base: String,
}

impl Served {
    async fn call(
        &self,
        method: Method,
        path: String,
        token: String,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// A new tenant: its id and enrollment secret.
    async fn tenant(&self, name: &str) -> anyhow::Result<(String, String)> {
        let (status, tenant) = self
            .call(
                Method::POST,
                "/admin/tenants".into(),
                OPERATOR_TOKEN.into(),
                Some(json!({"displayName": name})),
            )
            .await?;
        anyhow::ensure!(status == 201, "tenant: {tenant}");
        let text = |key: &str| tenant[key].as_str().unwrap_or_default().to_owned();
        Ok((text("id"), text("enrollmentSecret")))
    }
}

pub(super) async fn memory(rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/memory.db", dir.path().display());
    let (service, base) = serve(&url)?;
    let served = Served {
        http: intune_mock_scenarios::harness::http_client(),
        base,
    };
    rows.push(memory_of_a_full_queue(&served, service.0.id()).await?);
    rows.push(memory_of_an_idle_connector(&served).await?);
    drop(service);
    Ok(())
}

/// The service (process `pid`) with 100 connectors and a million queued jobs, read while full:
/// leases (and completions) from its head, and a count.
async fn memory_of_a_full_queue(served: &Served, pid: u32) -> anyhow::Result<Row> {
    const QUEUED: usize = 1_000_000;
    let (tenant_id, secret) = served.tenant("Memory").await?;
    let mut credential = String::new();
    for i in 0..100 {
        let (status, body) = served.call(
            Method::POST,
            "/connector/v1/register".into(),
            secret.clone(),
            Some(json!({"machineName": format!("MEM{i:03}"), "displayName": format!("MEM{i:03}"), "features": [Feature::Revocation], "version": "6.2406.0.1001"})),
        )
        .await?;
        anyhow::ensure!(status == 201, "register: {body}");
        credential = body["credential"].as_str().unwrap_or_default().to_owned();
    }
    let (rss_empty, _) = rss_mib(pid)?;
    let began = Instant::now();
    let deadline = began + LIMIT;
    let mut sent = 0;
    while sent < QUEUED {
        anyhow::ensure!(Instant::now() < deadline, "enqueueing took too long");
        let jobs: Vec<Value> = (sent..sent + 1000)
            .map(|i| json!({"kind": JobKind::Revoke, "payload": revoke_payload(i)}))
            .collect();
        let (status, body) = served
            .call(
                Method::POST,
                format!("/admin/tenants/{tenant_id}/jobs"),
                OPERATOR_TOKEN.into(),
                Some(json!({ "jobs": jobs })),
            )
            .await?;
        anyhow::ensure!(status == 201, "enqueue: {body}");
        sent += 1000;
    }
    let enqueue_rate = QUEUED as f64 / began.elapsed().as_secs_f64();
    let lease_began = Instant::now();
    for _ in 0..10 {
        let (status, body) = served
            .call(
                Method::POST,
                "/connector/v1/jobs/lease".into(),
                credential.clone(),
                Some(json!({"max": 100})),
            )
            .await?;
        anyhow::ensure!(
            status == 200 && body["jobs"].as_array().map(Vec::len) == Some(100),
            "lease: {body}"
        );
    }
    let lease_ms = lease_began.elapsed().as_secs_f64() * 1000.0 / 10.0;
    let (status, body) = served
        .call(
            Method::GET,
            format!("/admin/tenants/{tenant_id}/jobs?state=queued&top=1"),
            OPERATOR_TOKEN.into(),
            None,
        )
        .await?;
    anyhow::ensure!(
        status == 200 && body["count"] == QUEUED - 1000,
        "count: {body}"
    );
    let (rss, peak) = rss_mib(pid)?;
    println!("memory: serve with 100 connectors and {QUEUED} queued jobs: RSS {rss:.0} MiB (peak {peak:.0} MiB; {rss_empty:.0} MiB before enqueueing); enqueued at {enqueue_rate:.0} jobs/s; a lease of 100 from the full queue took {lease_ms:.1} ms");
    Ok(Row {
        what: format!("Memory: `intune-mock serve`, SQLite file, 100 connectors, {QUEUED} queued jobs (RSS now / peak)"),
        command: MEMORY_COMMAND,
        figure: format!("{rss:.0} MiB / {peak:.0} MiB"),
        baseline: format!("{rss_empty:.0} MiB with no jobs; target < 300 MB"),
        ratio: format!("{:.0}% of the target", 100.0 * peak * 1.048_576 / 300.0),
    })
}

/// A connector at rest: registered, polled a few times, nothing to do.
async fn memory_of_an_idle_connector(served: &Served) -> anyhow::Result<Row> {
    let (tenant_id, idle_secret) = served.tenant("Idle").await?;
    let spool = tempfile::tempdir()?;
    let child = Command::new(BINARY)
        .args([
            "connector",
            "--url",
            served.base.as_str(),
            "--machine",
            "IDLE01",
            "--features",
            Feature::Revocation.as_str(),
            "--poll-seconds",
            "1",
        ])
        .env("INTUNE_MOCK_ENROLLMENT_SECRET", &idle_secret)
        .current_dir(spool.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let connector = Guard(child);
    // Registered and at rest: wait until the service lists it, then let it poll a while.
    let waited = Instant::now();
    loop {
        anyhow::ensure!(
            waited.elapsed() < Duration::from_secs(30),
            "the connector did not register"
        );
        let (_, body) = served
            .call(
                Method::GET,
                format!("/admin/tenants/{tenant_id}/connectors"),
                OPERATOR_TOKEN.into(),
                None,
            )
            .await?;
        if body["value"].as_array().is_some_and(|v| v.len() == 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss, peak) = rss_mib(connector.0.id())?;
    println!("memory: `intune-mock connector` at rest (registered, polling every second): RSS {rss:.1} MiB (peak {peak:.1} MiB; target < 30 MB)");
    drop(connector);
    Ok(Row {
        what: "Memory: `intune-mock connector` at rest (registered, polling every second; RSS now / peak)".into(),
        command: MEMORY_COMMAND,
        figure: format!("{rss:.1} MiB / {peak:.1} MiB"),
        baseline: "target < 30 MB".into(),
        ratio: format!("{:.0}% of the target", 100.0 * peak * 1.048_576 / 30.0),
    })
}
