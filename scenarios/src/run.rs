//! `intune-mock run`: its arguments and exit codes; find scenario files, parse them all, run the
//! valid ones (on `--jobs` lanes, see `lanes`), print the summary and failures, write the reports,
//! and choose the exit code. `cli` parses the command line into [`RunArgs`] and calls [`run`]; this
//! module does not look back at `cli`.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;
use service::domain::catalog::CatalogChoice;

use crate::runner::Verdict;
use crate::spec::{self, Scenario, SpecError};

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
    /// Scenario files or folders of `*.toml` files. Default: the conformance suite, from
    /// `scenarios/conformance` under the current folder if there is one, else the copy built
    /// into this binary.
    pub paths: Vec<PathBuf>,
    /// Override every scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only scenarios whose name or file path contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Run only the K-th of N slices of the selected scenarios (1 ≤ K ≤ N), to split a suite
    /// across CI jobs: the selected files, in the order they are found (names sorted within a
    /// folder), are dealt out in turn, so the same files give the same slices on any machine and
    /// the N slices together are the whole selection. A file that does not parse is reported by
    /// its own slice.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
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
    /// Write each scenario's transcript to DIR/<scenario name>.log, and every connector's event
    /// log, every record, to DIR/<scenario name>/<connector>/Admin.jsonl and Operational.jsonl.
    #[arg(long, value_name = "DIR")]
    pub keep_logs: Option<PathBuf>,
    /// How the simulated connectors reach the service: `in-process` calls its router directly
    /// (same middleware and handlers, no TCP); `http` sends HTTP/1.1 to its loopback port.
    #[arg(long, value_enum, default_value_t = crate::runner::Transport::InProcess)]
    pub transport: crate::runner::Transport,
    /// The release catalog every scenario's service evaluates against: docs (only what the
    /// product documentation lists) or extended (with the public release history).
    #[arg(long, default_value = "extended", value_parser = CatalogChoice::parse)]
    pub catalog: CatalogChoice,
}

/// The conformance suite built into the binary: (file name, text), in name order.
pub static BUNDLED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// How the built-in suite's files are named in reports: a failure's replay line names them by
/// `--filter`, since no such file exists on disk.
pub const BUNDLED_LABEL: &str = "(built-in suite)/";

/// The suite `run` takes when given no path: `scenarios/conformance` under the current folder (a
/// checkout, where edits show at once), else `None`: the copy built into the binary.
pub fn local_suite() -> Option<PathBuf> {
    let local = PathBuf::from("scenarios/conformance");
    local.is_dir().then_some(local)
}

/// `--shard K/N`: the K-th (from 1) of N slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// Whether the scenario at `position` (from 0, in the order files were found) is in this slice.
    pub fn takes(self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not K/N (for example 2/4)"))?;
        let number = |part: &str, what: &str| {
            part.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{text}`: {what} `{part}` is not a whole number"))
        };
        let (index, count) = (number(k, "K")?, number(n, "N")?);
        if count == 0 {
            return Err(format!("`{text}`: N must be at least 1"));
        }
        if index == 0 || index > count {
            return Err(format!("`{text}`: K must be from 1 to N ({count})"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Every scenario `args` names, parsed, in the order found: (label, scenario or its error).
fn load(args: &RunArgs) -> anyhow::Result<Vec<(String, Result<Scenario, SpecError>)>> {
    let paths = match (args.paths.is_empty(), local_suite()) {
        (false, _) => args.paths.clone(),
        (true, Some(local)) => vec![local],
        (true, None) => {
            return Ok(BUNDLED
                .iter()
                .map(|(name, text)| {
                    let label = format!("{BUNDLED_LABEL}{name}");
                    let parsed = spec::parse_str(&label, text);
                    (label, parsed)
                })
                .collect())
        }
    };
    let files = collect_files(&paths)?;
    if files.is_empty() {
        anyhow::bail!(
            "no scenarios to run in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(files
        .iter()
        .map(|file| (file.display().to_string(), spec::parse_file(file)))
        .collect())
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
    let mut loaded = load(&args)?;
    if let Some(filter) = &args.filter {
        // A file that does not parse has no name to match: it is always reported.
        loaded.retain(|(file, parsed)| match parsed {
            Ok(s) => s.name.contains(filter.as_str()) || file.contains(filter.as_str()),
            Err(_) => true,
        });
        if loaded.is_empty() {
            anyhow::bail!("no scenario's name or file contains `{filter}`");
        }
    }
    if let Some(shard) = args.shard {
        let selected = loaded.len();
        loaded = loaded
            .into_iter()
            .enumerate()
            .filter(|(i, _)| shard.takes(*i))
            .map(|(_, entry)| entry)
            .collect();
        eprintln!(
            "shard {shard}: {} of {selected} selected scenario files",
            loaded.len()
        );
    }
    let mut invalid = Vec::new();
    let mut scenarios = Vec::new();
    for (file, parsed) in loaded {
        match parsed {
            Ok(scenario) => scenarios.push((file, scenario)),
            Err(e) => {
                eprintln!("invalid scenario: {e}");
                invalid.push(e);
            }
        }
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
        keep_logs: args.keep_logs.is_some(),
        catalog: args.catalog,
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
            let name = crate::runner::kept::file_name(&o.name);
            let path = dir.join(format!("{name}.log"));
            std::fs::write(&path, o.transcript.join("\n") + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
            crate::runner::kept::write(dir, &name, &o.connector_logs)?;
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
