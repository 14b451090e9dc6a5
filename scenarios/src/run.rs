//! `intune-mock run`: its arguments and exit codes; find scenario files, parse them all, run the
//! valid ones (on `--jobs` lanes, see `lanes`), print the summary and failures, write the reports,
//! and choose the exit code. `cli` parses the command line into [`RunArgs`] and calls [`run`]; this
//! module does not look back at `cli`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::runner::Verdict;
use crate::spec;

/// Exit codes of `intune-mock run` (and of the other subcommands on failure).
pub mod exit_code {
    pub const PASSED: u8 = 0;
    pub const EXPECTATION_FAILED: u8 = 1;
    pub const INVALID_SCENARIO: u8 = 2;
    pub const HARNESS_FAILED: u8 = 3;
    /// `serve`: another process holds the SQLite file (docs/behaviour.md, "Storage").
    pub const DATABASE_IN_USE: u8 = 4;
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario files or folders of `*.toml` files. Default: the bundled conformance suite.
    pub paths: Vec<PathBuf>,
    /// Override every scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only scenarios whose name or file path contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Scenarios to run in parallel, each on its own thread (a lane).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Let the OS place each lane's threads. By default (on Linux) each lane and the threads it
    /// starts share one CPU, which spares a CPU wake-up at every database call.
    #[arg(long)]
    pub no_pin: bool,
    /// Write each scenario's transcript to DIR/<scenario name>.log.
    #[arg(long, value_name = "DIR")]
    pub keep_logs: Option<PathBuf>,
    /// How the simulated connectors reach the service: `in-process` calls its router directly
    /// (same middleware and handlers, no TCP); `http` sends HTTP/1.1 to its loopback port.
    #[arg(long, value_enum, default_value_t = crate::runner::Transport::InProcess)]
    pub transport: crate::runner::Transport,
}

/// The bundled suite: `scenarios/conformance` under the current directory, else the one next to
/// this crate's sources.
pub fn default_suite() -> PathBuf {
    let local = PathBuf::from("scenarios/conformance");
    if local.is_dir() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
    }
}

/// The `*.toml` files named by `paths` (folders are searched, not recursively), sorted.
pub fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read the folder {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            anyhow::bail!("{} is neither a scenario file nor a folder", path.display());
        }
    }
    Ok(files)
}

/// Runs `args` and prints the summary table and failure details to `out` (coloured when `colour`);
/// returns the exit code. A reader of `out` that goes away does not stop the run: the reports
/// are still written and the exit code still says how the scenarios did.
pub async fn run(args: RunArgs, out: &mut dyn Write, colour: bool) -> anyhow::Result<u8> {
    // JUnit's timestamp is the run's wall-clock start.
    let wall_start = crate::clock::wall();
    let started = std::time::Instant::now();
    let paths = if args.paths.is_empty() {
        vec![default_suite()]
    } else {
        args.paths.clone()
    };
    let files = collect_files(&paths)?;
    let mut invalid = Vec::new();
    let mut scenarios = Vec::new();
    for file in &files {
        match spec::parse_file(file) {
            Ok(scenario) => scenarios.push((file.display().to_string(), scenario)),
            Err(e) => {
                eprintln!("invalid scenario: {e}");
                invalid.push(e);
            }
        }
    }
    if let Some(filter) = &args.filter {
        scenarios
            .retain(|(file, s)| s.name.contains(filter.as_str()) || file.contains(filter.as_str()));
    }
    if scenarios.is_empty() && invalid.is_empty() {
        anyhow::bail!(
            "no scenarios to run in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(scenarios.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}") {
            bar.set_style(style);
        }
        bar
    });
    let lanes = crate::lanes::Lanes {
        count: args.jobs.max(1),
        pin: !args.no_pin,
    };
    // SIGTERM or SIGINT stops the run: the scenarios in flight are dropped with their in-process
    // services, nothing is reported as passed, and the exit code says which signal it was.
    let stop = crate::signals::stop_signal();
    let all = crate::lanes::run_all(scenarios, lanes, args.seed, args.transport, |outcome| {
        if let Some(bar) = &progress {
            bar.set_message(outcome.name.clone());
            bar.inc(1);
        }
    });
    let outcomes = tokio::select! {
        outcomes = all => outcomes?,
        signal = stop => {
            if let Some(bar) = &progress {
                bar.abandon();
            }
            eprintln!("intune-mock run: stopped by {signal} before every scenario finished; no report is written");
            return Ok(signal.exit_code());
        }
    };
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }

    let mut text = crate::report::summary_table(&outcomes, invalid.len(), colour);
    for outcome in outcomes.iter().filter(|o| o.verdict != Verdict::Passed) {
        text.push('\n');
        text.push_str(&crate::report::failure_details(outcome, 12));
    }
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write the summary to standard output")?;
    if let Some(path) = &args.json {
        std::fs::write(path, crate::report::json_report(&outcomes, &invalid))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        let wall = crate::report::WallClock {
            started: wall_start,
            elapsed: started.elapsed(),
        };
        std::fs::write(path, crate::report::junit_report(&outcomes, &invalid, wall))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(dir) = &args.keep_logs {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for o in &outcomes {
            let name: String = o
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let path = dir.join(format!("{name}.log"));
            std::fs::write(&path, o.transcript.join("\n") + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }

    let worst = outcomes
        .iter()
        .map(|o| o.verdict)
        .fold(None::<Verdict>, |acc, v| {
            Some(acc.map_or(v, |a| if code(v) > code(a) { v } else { a }))
        });
    let run_code = worst.map(code).unwrap_or(exit_code::PASSED);
    let parse_code = if !invalid.is_empty() {
        exit_code::INVALID_SCENARIO
    } else {
        exit_code::PASSED
    };
    Ok(run_code.max(parse_code))
}

fn code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Passed => exit_code::PASSED,
        Verdict::Failed => exit_code::EXPECTATION_FAILED,
        Verdict::Invalid => exit_code::INVALID_SCENARIO,
        Verdict::HarnessError => exit_code::HARNESS_FAILED,
    }
}
