//! Issue #10's figures. Each section writes its figures as JSON to
//! `target/bench-figures/<section>.json` (rendered into BENCHMARKS.md by
//! `cargo run -p intune-mock --example render_benchmarks`) and prints them:
//!
//! - `queue` (`figures/queue.rs`): jobs/s through enqueue → lease → complete over loopback HTTP
//!   with 4 connectors, in batches of 1 and 100, on an SQLite file, interleaved round by round
//!   with the same row writes done directly with SQLite (through sqlx and through the C API);
//!   then PostgreSQL the same way when `DATABASE_URL` names a server;
//! - `time`: 18 months of a 100-connector tenant (polls every 30 s, health every 5 minutes, a
//!   release every 2 months, 1,000 revocation jobs a day) in the scenario runner; no baseline
//!   exists for it, only the target;
//! - `memory`: RSS of `intune-mock serve` with 100 connectors and 1,000,000 queued jobs, and of
//!   `intune-mock connector` at rest (printed only);
//! - `suite`: wall time of the bundled conformance suite, `--jobs 2` and `--jobs 1` in turn.
//!
//! `cargo bench -p intune-mock --bench figures [-- queue|time|memory|suite]`.
//! Every loop is bounded in count and time; servers listen on 127.0.0.1:0; temporary directories
//! and databases are removed at the end.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

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

// A bench's root is its crate root: its modules sit beside it unless told where.
#[path = "figures/memory.rs"]
mod memory;
#[path = "figures/queue.rs"]
mod queue;
#[path = "support/record.rs"]
mod record;

use record::{Baseline, FigureRow, Figures, Target};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-10-01T00:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

fn revoke_payload(i: usize) -> Value {
    json!({"serialNumber": format!("{:x}", i + 1), "issuerName": "CN=Contoso Issuing CA", "certificationAuthority": "ca01.contoso.com\\Contoso Issuing CA"})
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

/// Runs of the 546-day scenario (each takes tens of seconds).
const TIME_RUNS: usize = 2;

/// The virtual-time figure. There is no baseline for it: nothing else runs this simulation, so
/// it is held against the target (under 30 s), which is a target, not a baseline.
fn time_figure() -> anyhow::Result<()> {
    let mut figures = Figures::new("time", "cargo bench -p intune-mock --bench figures -- time");
    figures.notes.push("No baseline exists for this figure: no other program simulates this load, so each run is held against the target of 30 s (1.5 million simulated seconds per wall second), not against a baseline.".into());
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench-fleet-18-months.toml");
    std::fs::write(&path, fleet_scenario())?;
    let mut walls = Vec::new();
    for run in 0..TIME_RUNS {
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
        let rate = 546.0 * 86_400.0 / wall;
        println!("virtual time, run {}: 546 days × 100 connectors, 546,000 jobs: {wall:.2} s wall, {:.1} million simulated seconds per wall second (no baseline; target: under 30 s)", run + 1, rate / 1e6);
        walls.push(wall);
    }
    figures.rows.push(FigureRow {
        what: "Virtual time: 546 days of 100 connectors (polls every 30 s, health every 5 minutes, a release every 2 months, 1,000 revocation jobs a day), wall time".into(),
        unit: "s".into(),
        samples: walls,
        baselines: Vec::new(),
        target: Some(Target { what: "the issue's target".into(), value: 30.0, at_most: true }),
    });
    figures.write()
}

// ---------------------------------------------------------------------------------------------
// Suite

/// Rounds of the suite, `--jobs 1` and `--jobs 2` in turn.
const SUITE_ROUNDS: usize = 3;

fn suite_wall(jobs: &str) -> anyhow::Result<f64> {
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
    Ok(wall)
}

fn suite() -> anyhow::Result<()> {
    let mut figures = Figures::new(
        "suite",
        "cargo bench -p intune-mock --bench figures -- suite",
    );
    let scenarios = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/conformance"))?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "toml"))
        })
        .count();
    figures.notes.push(format!("The {scenarios} bundled scenarios, `--jobs 2` and `--jobs 1` in turn, {SUITE_ROUNDS} rounds."));
    let (mut two, mut one) = (Vec::new(), Vec::new());
    for _ in 0..SUITE_ROUNDS {
        two.push(suite_wall("2")?);
        one.push(suite_wall("1")?);
    }
    figures.rows.push(FigureRow {
        what: format!(
            "Suite: the {scenarios} bundled conformance scenarios, `--jobs 2`, wall time"
        ),
        unit: "s".into(),
        samples: two,
        baselines: vec![Baseline {
            what: "the same with `--jobs 1`".into(),
            samples: one,
        }],
        target: None,
    });
    figures.write()
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
        runtime.block_on(queue::queue())?;
    }
    if wanted("time") {
        time_figure()?;
    }
    if wanted("memory") {
        runtime.block_on(memory::memory(&mut rows))?;
    }
    if wanted("suite") {
        suite()?;
    }
    print_rows(&rows);
    Ok(())
}
