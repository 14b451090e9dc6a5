//! The figures a bench writes for BENCHMARKS.md: one JSON file a bench section under
//! `target/bench-figures/`, with the commit the bench ran on, read back by the renderer
//! (`cargo run -p intune-mock-scenarios --example render_benchmarks`). Shared by the benches
//! and the renderer through `#[path]`, so both read and write the same shape.

#![allow(dead_code)] // Each user uses part of it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// One bench section's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figures {
    /// The file's name without `.json` and the section's heading.
    pub section: String,
    /// The command that measured them.
    pub command: String,
    /// `git rev-parse --short HEAD` of the tree the bench was built from, `+dirty` when it had
    /// uncommitted changes.
    pub commit: String,
    /// `/proc/loadavg`'s first three fields when the section began and when it ended.
    pub load: [String; 2],
    /// How the rows were measured, as sentences.
    pub notes: Vec<String>,
    pub rows: Vec<FigureRow>,
}

/// One measured thing, each round's value, and what it is compared to in the same rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FigureRow {
    pub what: String,
    /// `jobs/s`, `/s`, `s`, `MiB` …
    pub unit: String,
    /// One value a round, in the order measured.
    pub samples: Vec<f64>,
    /// Baselines measured in the same rounds (interleaved with `samples`), with their own
    /// samples; empty when there is none.
    pub baselines: Vec<Baseline>,
    /// A fixed bound or target the row is held against, when that is all there is (never
    /// called a baseline).
    pub target: Option<Target>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    pub what: String,
    pub samples: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub what: String,
    pub value: f64,
    /// Whether the figure should be at most (`true`) or at least the value.
    pub at_most: bool,
}

/// Median and range of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

pub fn spread(samples: &[f64]) -> Option<Spread> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some(Spread {
        median,
        min: sorted[0],
        max: sorted[n - 1],
    })
}

/// Round-by-round ratios `a[i] / b[i]` (the pairs measured next to each other).
pub fn paired_ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(a, b)| a / b).collect()
}

/// `target/bench-figures` of this workspace.
pub fn figures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-figures")
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The commit the workspace is at, `+dirty` when its tracked files changed since.
pub fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if changes.is_empty() => head,
        _ => format!("{head}+dirty"),
    }
}

impl Figures {
    pub fn new(section: &str, command: &str) -> Figures {
        Figures {
            section: section.to_owned(),
            command: command.to_owned(),
            commit: commit(),
            load: [load_average(), String::new()],
            notes: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Writes `target/bench-figures/<section>.json` and says where.
    pub fn write(mut self) -> anyhow::Result<()> {
        self.load[1] = load_average();
        let dir = figures_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.json", self.section));
        std::fs::write(&path, serde_json::to_string_pretty(&self)? + "\n")?;
        println!("figures written to {}", path.display());
        Ok(())
    }
}
