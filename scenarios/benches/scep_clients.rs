//! Figure for issue #6: SCEP enrollments per second with the Debian `scep` package's client
//! (`scepclient`, micromdm) against the connector's NDES-like endpoint — which also asks the mock
//! Intune to validate every request and notifies it — and, in the same run, against the
//! package's own `scepserver` (static challenge, no validation call).
//!
//! `cargo bench -p intune-mock-scenarios --bench scep_clients` (needs `apt-get install scep`).
//! Rounds alternate between the two servers so drift hits both; every enrollment runs in a fresh
//! folder with a pre-made PKCS#1 key (the client reuses files it finds and would otherwise spend
//! ~100 ms making a key). Both servers are talked to on 127.0.0.1 only; `scepserver` has no
//! bind-address option, so it listens on a free port picked by binding 127.0.0.1:0 first. All
//! folders are temporary; `scepserver` is killed at the end.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use connector_sim::ca::CaDirectory;
use connector_sim::pki::CertificateAuthority;
use connector_sim::scep::{http, ScepEndpoint, ScepSettings};
use connector_sim::{Connector, ConnectorConfig, ServiceClient};
use intune_mock_scenarios::harness::spawn_app;
use reqwest::Method;
use serde_json::json;
use wire::connector::Feature;

const ROUNDS: usize = 4;
const PER_ROUND: usize = 25;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

/// One `scepclient` enrollment in a fresh folder; true when a certificate came back.
async fn enroll(url: &str, work: &Path, key_pem: &[u8], challenge: &str, cn: &str) -> bool {
    if std::fs::create_dir_all(work).is_err()
        || std::fs::write(work.join("key.pem"), key_pem).is_err()
    {
        return false;
    }
    let status = tokio::process::Command::new("timeout")
        .arg("30")
        .arg("scepclient")
        .arg("-server-url")
        .arg(url)
        .arg("-private-key")
        .arg(work.join("key.pem"))
        .arg("-certificate")
        .arg(work.join("cert.pem"))
        .arg("-challenge")
        .arg(challenge)
        .arg("-cn")
        .arg(cn)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    status.is_ok_and(|s| s.success()) && work.join("cert.pem").exists()
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

async fn wait_for(url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    for _ in 0..100 {
        if client
            .get(format!("{url}?operation=GetCACaps"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{url} did not answer GetCACaps")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    anyhow::ensure!(
        std::process::Command::new("sh")
            .args(["-c", "command -v scepclient && command -v scepserver"])
            .stdout(Stdio::null())
            .status()?
            .success(),
        "scepclient and scepserver are missing: apt-get install scep"
    );
    let dir = tempfile::tempdir()?;
    let key_pem = openssl::rsa::Rsa::generate(2048)?.private_key_to_pem()?;

    // Ours: the mock service, a connector with the scep feature, its SCEP endpoint.
    let app = spawn_app(start(), 61).await?;
    let tenant = app.create_tenant("Contoso", None).await?;
    let cas = CaDirectory::new();
    cas.add_embedded(CertificateAuthority::new(
        "CA01\\Bench CA",
        "Bench CA",
        start(),
    )?);
    let config = ConnectorConfig {
        seed: 5,
        ..ConnectorConfig::new("NDES01", &[Feature::Scep], "6.2406.0.1001")
    };
    let client = ServiceClient::new(app.base_url.clone(), app.http.clone());
    let secret = tenant.enrollment_secret.clone().unwrap_or_default();
    let connector = Connector::install(config, client, &secret, start()).await?;
    let ops = app.ops.clone();
    let endpoint = Arc::new(
        ScepEndpoint::new(
            ScepSettings {
                ca: "CA01\\Bench CA".into(),
                template: "IntuneDevice".into(),
                validity_days: 365,
                spool_dir: dir.path().join("spool"),
            },
            connector.scep_identity(),
            cas,
            Arc::new(move || ops.now()),
        )
        .await?,
    );
    let (addr, server) = http::serve(endpoint.clone(), "127.0.0.1:0".parse()?).await?;
    let ours = format!("http://{addr}/certsrv/mscep/mscep.dll");
    wait_for(&ours).await?;
    // One challenge per device, made before the clock starts.
    let mut challenges = Vec::new();
    for i in 0..ROUNDS * PER_ROUND {
        let answer = app
            .admin(
                Method::POST,
                &format!("/admin/tenants/{}/scep/challenges", tenant.id),
                Some(&json!({"deviceId": format!("bench-{i}"), "subject": format!("C=US,O=scep-client,OU=MDM,CN=bench-{i}"), "keySize": 2048, "validityMinutes": 1440})),
            )
            .await?;
        anyhow::ensure!(answer.status == 201, "challenge: {}", answer.body);
        challenges.push(
            answer.body["challenge"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }

    // Theirs: scepserver with a 2048-bit CA and a static challenge.
    let depot = dir.path().join("depot");
    let init = std::process::Command::new("scepserver")
        .args(["ca", "-init", "-keySize", "2048", "-depot"])
        .arg(&depot)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    anyhow::ensure!(init.success(), "scepserver ca -init failed");
    let port = free_port()?;
    let mut peer = tokio::process::Command::new("scepserver")
        .arg("-depot")
        .arg(&depot)
        .args([
            "-port",
            &port.to_string(),
            "-challenge",
            "secret",
            "-allowrenew",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let theirs = format!("http://127.0.0.1:{port}/scep");
    wait_for(&theirs).await?;

    let mut ours_time = Duration::ZERO;
    let mut theirs_time = Duration::ZERO;
    let (mut ours_ok, mut theirs_ok) = (0usize, 0usize);
    for round in 0..ROUNDS {
        let t = Instant::now();
        for i in 0..PER_ROUND {
            let n = round * PER_ROUND + i;
            let work = dir.path().join(format!("ours-{n}"));
            ours_ok += usize::from(
                enroll(
                    &ours,
                    &work,
                    &key_pem,
                    &challenges[n],
                    &format!("bench-{n}"),
                )
                .await,
            );
        }
        ours_time += t.elapsed();
        let t = Instant::now();
        for i in 0..PER_ROUND {
            let n = round * PER_ROUND + i;
            let work = dir.path().join(format!("theirs-{n}"));
            theirs_ok += usize::from(
                enroll(&theirs, &work, &key_pem, "secret", &format!("bench-{n}")).await,
            );
        }
        theirs_time += t.elapsed();
    }
    let _ = peer.kill().await;
    server.abort();

    let total = ROUNDS * PER_ROUND;
    let rate = |ok: usize, time: Duration| ok as f64 / time.as_secs_f64();
    let (ours_rate, theirs_rate) = (rate(ours_ok, ours_time), rate(theirs_ok, theirs_time));
    println!("SCEP enrollments with scepclient, {total} each, {ROUNDS} alternating rounds, one client process per enrollment:");
    println!(
        "| connector NDES-like endpoint (validates with the mock Intune, notifies) | {ours_ok}/{total} issued | {:.2} s | {ours_rate:.1} enrollments/s | {:.1} ms each |",
        ours_time.as_secs_f64(),
        ours_time.as_secs_f64() * 1000.0 / total as f64
    );
    println!(
        "| scepserver (Debian scep 2.1.0, static challenge) | {theirs_ok}/{total} issued | {:.2} s | {theirs_rate:.1} enrollments/s | {:.1} ms each |",
        theirs_time.as_secs_f64(),
        theirs_time.as_secs_f64() * 1000.0 / total as f64
    );
    println!("ratio ours / scepserver: {:.2}", ours_rate / theirs_rate);
    anyhow::ensure!(
        ours_ok == total && theirs_ok == total,
        "not every enrollment was issued"
    );
    Ok(())
}
