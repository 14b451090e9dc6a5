//! Figure for issue #6: SCEP enrollments per second with the Debian `scep` package's client
//! (`scepclient`, micromdm) against the connector's NDES-like endpoint — which also asks the mock
//! Intune to validate every request and notifies it — and, in the same run, against the
//! package's own `scepserver` (static challenge, no validation call).
//!
//! `cargo bench -p intune-mock --bench scep_clients` (needs `apt-get install scep`).
//! Rounds alternate between the two servers so drift hits both, and which server goes first
//! alternates from round to round; every enrollment runs in a fresh
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

#[path = "support/record.rs"]
mod record;
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

/// Our side: the mock service, a connector with the scep feature and its SCEP endpoint, with
/// one challenge per device made before the clock starts. The service and the endpoint run as
/// long as the value lives.
struct Ours {
    _app: intune_mock_scenarios::harness::TestApp,
    server: tokio::task::JoinHandle<()>,
    url: String,
    challenges: Vec<String>,
}

async fn ours(dir: &Path) -> anyhow::Result<Ours> {
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
                spool_dir: dir.join("spool"),
            },
            connector.scep_identity(),
            cas,
            Arc::new(move || ops.now()),
        )
        .await?,
    );
    let (addr, server) = http::serve(endpoint.clone(), "127.0.0.1:0".parse()?).await?;
    let url = format!("http://{addr}/certsrv/mscep/mscep.dll");
    wait_for(&url).await?;
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
    Ok(Ours {
        _app: app,
        server,
        url,
        challenges,
    })
}

/// Theirs: `scepserver` with a 2048-bit CA and a static challenge; its URL.
async fn theirs(dir: &Path) -> anyhow::Result<(tokio::process::Child, String)> {
    let depot = dir.join("depot");
    let init = std::process::Command::new("scepserver")
        .args(["ca", "-init", "-keySize", "2048", "-depot"])
        .arg(&depot)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    anyhow::ensure!(init.success(), "scepserver ca -init failed");
    let port = free_port()?;
    let peer = tokio::process::Command::new("scepserver")
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
    let url = format!("http://127.0.0.1:{port}/scep");
    wait_for(&url).await?;
    Ok((peer, url))
}

/// Each server's per-round rates (enrollments/s) and how many it issued in all.
#[derive(Default)]
struct Rates {
    samples: Vec<f64>,
    issued: usize,
}

/// The rounds: the server that goes first alternates (ours first in the even rounds,
/// `scepserver` first in the odd ones), so neither always meets a cold or warm machine first.
async fn measure(dir: &Path, key_pem: &[u8], ours: &Ours, theirs: &str) -> (Rates, Rates) {
    let (mut ours_rates, mut theirs_rates) = (Rates::default(), Rates::default());
    for round in 0..ROUNDS {
        for turn in 0..2 {
            let ours_turn = (round + turn) % 2 == 0;
            let t = Instant::now();
            let mut ok = 0usize;
            for i in 0..PER_ROUND {
                let n = round * PER_ROUND + i;
                let cn = format!("bench-{n}");
                ok += usize::from(if ours_turn {
                    let work = dir.join(format!("ours-{n}"));
                    enroll(&ours.url, &work, key_pem, &ours.challenges[n], &cn).await
                } else {
                    let work = dir.join(format!("theirs-{n}"));
                    enroll(theirs, &work, key_pem, "secret", &cn).await
                });
            }
            let rate = ok as f64 / t.elapsed().as_secs_f64();
            let name = if ours_turn { "ours" } else { "scepserver" };
            println!(
                "  round {} ({}): {name} {ok}/{PER_ROUND} issued, {rate:.1} enrollments/s",
                round + 1,
                if turn == 0 { "first" } else { "second" }
            );
            let rates = if ours_turn {
                &mut ours_rates
            } else {
                &mut theirs_rates
            };
            rates.issued += ok;
            rates.samples.push(rate);
        }
    }
    (ours_rates, theirs_rates)
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
    let ours = ours(dir.path()).await?;
    let (mut peer, theirs) = theirs(dir.path()).await?;
    let (ours_rates, theirs_rates) = measure(dir.path(), &key_pem, &ours, &theirs).await;
    let _ = peer.kill().await;
    ours.server.abort();
    report(ours_rates, theirs_rates)
}

/// Prints the medians and spreads and writes the figures.
fn report(ours: Rates, theirs: Rates) -> anyhow::Result<()> {
    let total = ROUNDS * PER_ROUND;
    let (ours_ok, theirs_ok) = (ours.issued, theirs.issued);
    println!("SCEP enrollments with scepclient, {total} each, {ROUNDS} rounds of {PER_ROUND}, the first server alternating, one client process per enrollment:");
    let ratios = record::paired_ratios(&ours.samples, &theirs.samples);
    for (what, samples) in [
        ("ours", &ours.samples),
        ("scepserver", &theirs.samples),
        ("ratio ours / scepserver", &ratios),
    ] {
        if let Some(s) = record::spread(samples) {
            println!(
                "  {what}: median {:.2} (range {:.2}–{:.2})",
                s.median, s.min, s.max
            );
        }
    }
    anyhow::ensure!(
        ours_ok == total && theirs_ok == total,
        "not every enrollment was issued ({ours_ok} and {theirs_ok} of {total})"
    );
    let mut figures =
        record::Figures::new("scep", "cargo bench -p intune-mock --bench scep_clients");
    figures.notes.push(format!("{total} enrollments against each server with Debian's `scepclient` (one process per enrollment, a fresh folder each time with a pre-made PKCS#1 RSA-2048 key), {ROUNDS} rounds of {PER_ROUND}; the server that goes first alternates from round to round. Our endpoint asks the mock Intune to validate every request over loopback HTTP and sends a success notification; `scepserver` checks a static challenge. Every enrollment was issued ({ours_ok}/{total} and {theirs_ok}/{total})."));
    figures.rows.push(record::FigureRow {
        what: "SCEP enrollments with `scepclient`: the connector's NDES-like endpoint (RSA-2048 CA + RA, validation + notification)".into(),
        unit: "enrollments/s".into(),
        samples: ours.samples,
        baselines: vec![record::Baseline {
            what: "`scepserver` (Debian `scep`, RSA-2048 CA, static challenge)".into(),
            samples: theirs.samples,
        }],
        target: None,
    });
    figures.write()
}
