//! `intune-mock run`: find scenario files, parse them all, run the valid ones (in parallel with
//! `--jobs`), print the summary and failures, write the reports, and choose the exit code.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::cli::{exit_code, RunArgs};
use crate::runner::{self, Outcome, Verdict};
use crate::spec;

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

pub async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let paths = if args.paths.is_empty() {
        vec![default_suite()]
    } else {
        args.paths.clone()
    };
    let files = collect_files(&paths)?;
    let mut invalid = 0usize;
    let mut scenarios = Vec::new();
    for file in &files {
        match spec::parse_file(file) {
            Ok(scenario) => scenarios.push((file.display().to_string(), scenario)),
            Err(e) => {
                invalid += 1;
                eprintln!("invalid scenario: {e}");
            }
        }
    }
    if let Some(filter) = &args.filter {
        scenarios
            .retain(|(file, s)| s.name.contains(filter.as_str()) || file.contains(filter.as_str()));
    }
    if scenarios.is_empty() && invalid == 0 {
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
    let semaphore = Arc::new(tokio::sync::Semaphore::new(args.jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (file, scenario)) in scenarios.into_iter().enumerate() {
        let semaphore = semaphore.clone();
        let seed = args.seed;
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            (index, runner::run(&scenario, &file, seed).await)
        });
    }
    let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (index, outcome) = done.context("a scenario task panicked")?;
        if let Some(bar) = &progress {
            bar.set_message(outcome.name.clone());
            bar.inc(1);
        }
        outcomes.push((index, outcome));
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    outcomes.sort_by_key(|(i, _)| *i);
    let outcomes: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();

    print!("{}", crate::report::summary_table(&outcomes, invalid));
    for outcome in outcomes.iter().filter(|o| o.verdict != Verdict::Passed) {
        println!();
        print!("{}", crate::report::failure_details(outcome, 12));
    }
    if let Some(path) = &args.json {
        std::fs::write(path, crate::report::json_report(&outcomes))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, crate::report::junit_report(&outcomes))
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
    let parse_code = if invalid > 0 {
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
