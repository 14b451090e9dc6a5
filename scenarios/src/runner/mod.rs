//! Runs one scenario: builds its world (`world`: a fresh service with a virtual clock at
//! `start`, the scenario's tenants and simulated connectors, its PKI), then does the steps in
//! order (each step kind's `run`, in `crate::steps`) and gathers the outcome. The connectors call
//! the service's router in this process by default; with `--transport http` they send HTTP/1.1
//! to its loopback port, as a connector process does ([`Transport`]).
//!
//! Expectations do not stop the run: every mismatch is reported. An action that fails stops it.

pub mod kept;
pub(crate) mod profiles;
pub(crate) mod world;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use service::domain::catalog::CatalogChoice;

use crate::spec::Scenario;
use world::{emitted, PkiNeed, Setup, StepError, World};

pub use world::Transport;
/// How a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every expectation held.
    Passed,
    /// An expectation did not hold (exit code 1).
    Failed,
    /// The file parsed but is wrong at run time (e.g. `at` earlier than the clock; exit code 2).
    Invalid,
    /// The harness could not run it (a step not supported yet, an internal error; exit code 3).
    HarnessError,
}

/// One mismatch or error, located at its step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Failure {
    /// `file:line` of the step.
    pub location: String,
    /// The step's action (`expect_status`, `advance`, …).
    pub step: String,
    /// The virtual instant at which the step ran.
    pub at: DateTime<Utc>,
    /// What did not hold, or what went wrong.
    pub message: String,
    /// The expected value as the scenario file states it (mismatches only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The value the service or connector showed instead (mismatches only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}

/// One scenario's run.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Outcome {
    /// The scenario's `name`.
    pub name: String,
    /// The scenario file as it was named on the command line.
    pub file: String,
    /// The seed it ran with (the file's, or `--seed`); `intune-mock run FILE --seed N` replays it.
    pub seed: u64,
    pub verdict: Verdict,
    /// Steps that ran (a failed action stops the scenario; a failed expectation does not).
    pub steps_run: usize,
    /// Steps in the file.
    pub steps_total: usize,
    /// The virtual clock at the start (the file's `start`).
    pub virtual_start: DateTime<Utc>,
    /// The virtual clock when the scenario ended.
    pub virtual_end: DateTime<Utc>,
    /// Every mismatch and error, in step order; empty when the scenario passed.
    pub failures: Vec<Failure>,
    #[serde(skip)]
    pub transcript: Vec<String>,
    #[serde(skip)]
    pub wall: std::time::Duration,
    /// Every catalog event the scenario's connectors wrote: (id, name, channel, task category).
    #[serde(skip)]
    pub events: BTreeSet<(u16, String, String, String)>,
    /// Every connector's channel files, with `run --keep-logs` (empty without).
    #[serde(skip)]
    pub connector_logs: kept::KeptLogs,
}

/// Runs a scenario with its connectors in this process (see [`Transport`]).
pub async fn run(scenario: &Scenario, file: &str, seed_override: Option<u64>) -> Outcome {
    run_with(scenario, file, seed_override, Transport::InProcess).await
}

/// Runs a scenario whose connectors reach the service through `transport`.
pub async fn run_with(
    scenario: &Scenario,
    file: &str,
    seed_override: Option<u64>,
    transport: Transport,
) -> Outcome {
    run_keeping(
        scenario,
        file,
        seed_override,
        transport,
        false,
        CatalogChoice::default(),
    )
    .await
}

/// [`run_with`]; with `keep_logs`, the outcome holds every connector's channel files
/// (`run --keep-logs`); the service evaluates against the shipped catalog `catalog`
/// (`run --catalog`).
pub async fn run_keeping(
    scenario: &Scenario,
    file: &str,
    seed_override: Option<u64>,
    transport: Transport,
    keep_logs: bool,
    catalog: CatalogChoice,
) -> Outcome {
    let started = std::time::Instant::now();
    let seed = seed_override.unwrap_or(scenario.seed);
    let mut outcome = Outcome {
        name: scenario.name.clone(),
        file: file.to_owned(),
        seed,
        verdict: Verdict::Passed,
        steps_run: 0,
        steps_total: scenario.steps.len(),
        virtual_start: scenario.start,
        virtual_end: scenario.start,
        failures: vec![],
        transcript: vec![],
        wall: std::time::Duration::ZERO,
        events: BTreeSet::new(),
        connector_logs: kept::KeptLogs::new(),
    };
    let setup = Setup {
        name: &scenario.name,
        start: scenario.start,
        tenants: &scenario.tenants,
        connectors: &scenario.connectors,
        pki: scenario
            .steps
            .iter()
            .map(|s| s.action.pki())
            .max()
            .unwrap_or(PkiNeed::None),
        keep_logs,
        catalog,
    };
    let mut world = match World::build(setup, seed, transport).await {
        Ok(w) => w,
        Err(e) => {
            outcome.harness_error(file, "setup", scenario.start, format!("{e:#}"));
            outcome.wall = started.elapsed();
            return outcome;
        }
    };
    for step in &scenario.steps {
        let at = world.app.now();
        let location = format!("{file}:{}", step.line);
        let result = step.action.run(&mut world).await;
        outcome.steps_run += 1;
        let kind = step.action.kind_name();
        match result {
            Ok(detail) => world.log(format!("{location} {kind}: {detail}")),
            Err(error) => {
                let (verdict, failure) = failure(error, location.clone(), kind, at);
                // A failed expectation is reported and the scenario goes on; anything else stops it.
                let stop = verdict != Verdict::Failed;
                world.log(format!("{location} {kind}: FAILED: {}", failure.message));
                outcome.verdict = outcome.verdict.max_with(verdict);
                outcome.failures.push(failure);
                if stop {
                    break;
                }
            }
        }
    }
    outcome.virtual_end = world.app.now();
    outcome.transcript = std::mem::take(&mut world.transcript);
    let connectors = std::mem::take(&mut world.connectors);
    for (name, connector) in &connectors {
        world.emitted.extend(emitted(connector));
        if let Err(e) = world.keep_log(name, connector) {
            let at = outcome.virtual_end;
            let message = format!("cannot keep the log of connector `{name}`: {e:#}");
            outcome.harness_error(file, "keep-logs", at, message);
        }
    }
    world.connectors = connectors;
    outcome.connector_logs = world.kept_logs.take().unwrap_or_default();
    outcome.events = std::mem::take(&mut world.emitted);
    world.app.stop().await;
    outcome.wall = started.elapsed();
    outcome
}

/// What a step's error makes of the scenario, and how it is reported.
fn failure(
    error: StepError,
    location: String,
    kind: &'static str,
    at: DateTime<Utc>,
) -> (Verdict, Failure) {
    let (verdict, message, expected, actual) = match error {
        StepError::Mismatch {
            message,
            expected,
            actual,
        } => (Verdict::Failed, message, expected, actual),
        StepError::Invalid(message) => (Verdict::Invalid, message, None, None),
        StepError::NotSupported(what) => (
            Verdict::HarnessError,
            format!("`{kind}` is not supported yet: {what}"),
            None,
            None,
        ),
        StepError::Harness(e) => (Verdict::HarnessError, format!("{e:#}"), None, None),
    };
    let failure = Failure {
        location,
        step: kind.into(),
        at,
        message,
        expected,
        actual,
    };
    (verdict, failure)
}

impl Outcome {
    /// Records that the harness itself failed at `step` of `file` (not a step of the scenario:
    /// its set-up, or keeping its logs).
    fn harness_error(&mut self, file: &str, step: &str, at: DateTime<Utc>, message: String) {
        self.verdict = self.verdict.max_with(Verdict::HarnessError);
        self.failures.push(Failure {
            location: file.to_owned(),
            step: step.to_owned(),
            at,
            message,
            expected: None,
            actual: None,
        });
    }
}

impl Verdict {
    /// The more severe of two verdicts (harness error > invalid > failed > passed).
    fn max_with(self, other: Verdict) -> Verdict {
        fn rank(v: Verdict) -> u8 {
            match v {
                Verdict::Passed => 0,
                Verdict::Failed => 1,
                Verdict::Invalid => 2,
                Verdict::HarnessError => 3,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}
