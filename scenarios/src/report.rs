//! Reports of a run: the summary table and failure details (stdout), the JSON report and JUnit
//! XML. The JSON report holds no wall-clock figures, so the same files and seeds give the same
//! bytes; its JSON Schema is generated from [`RunReport`] and committed as
//! `docs/run-report.schema.json`. JUnit carries wall times because CI dashboards want them.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::output::{Table, BAD, GOOD, PLAIN};
use crate::runner::{Outcome, Verdict};
use crate::spec::SpecError;

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "passed",
        Verdict::Failed => "FAILED",
        Verdict::Invalid => "INVALID",
        Verdict::HarnessError => "ERROR",
    }
}

fn verdict_style(v: Verdict) -> crate::output::Style {
    match v {
        Verdict::Passed => GOOD,
        Verdict::Failed | Verdict::Invalid | Verdict::HarnessError => BAD,
    }
}

/// The table, then a closing `N passed, M failed` line (plus invalid files, if any). `colour`:
/// results and the closing line in green or red, the header in bold.
pub fn summary_table(outcomes: &[Outcome], invalid_files: usize, colour: bool) -> String {
    let mut table = Table::new(&["SCENARIO", "RESULT", "STEPS", "VIRTUAL SPAN", "WALL"]);
    for o in outcomes {
        let span = o.virtual_end - o.virtual_start;
        table.styled_row(vec![
            (o.name.clone(), PLAIN),
            (verdict_text(o.verdict).into(), verdict_style(o.verdict)),
            (format!("{}/{}", o.steps_run, o.steps_total), PLAIN),
            (
                format!("{}d {}h", span.num_days(), span.num_hours() % 24),
                PLAIN,
            ),
            (format!("{:.2}s", o.wall.as_secs_f64()), PLAIN),
        ]);
    }
    let passed = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Passed)
        .count();
    // No scenario ran (every file was invalid): no table, only the closing line.
    let mut out = if outcomes.is_empty() {
        String::new()
    } else {
        table.render(colour)
    };
    let failed = outcomes.len() - passed;
    let closing = match invalid_files {
        0 => format!("{passed} passed, {failed} failed"),
        n => format!("{passed} passed, {failed} failed, {n} invalid scenario file(s)"),
    };
    let style = if failed + invalid_files == 0 {
        GOOD
    } else {
        BAD
    };
    out.push_str(&crate::output::paint(&closing, style, colour));
    out.push('\n');
    out
}

/// Failure details: where, what, expected vs actual, the transcript tail, and how to replay.
pub fn failure_details(outcome: &Outcome, tail: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "--- {} ({}) {}",
        outcome.name,
        outcome.file,
        verdict_text(outcome.verdict)
    );
    for failure in &outcome.failures {
        let at = failure
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let _ = writeln!(
            out,
            "{}: {} at {at}: {}",
            failure.location, failure.step, failure.message
        );
        if let Some(expected) = &failure.expected {
            let _ = writeln!(
                out,
                "  expected: {}",
                expected.replace('\n', "\n            ")
            );
        }
        if let Some(actual) = &failure.actual {
            let _ = writeln!(
                out,
                "  actual:   {}",
                actual.replace('\n', "\n            ")
            );
        }
    }
    let start = outcome.transcript.len().saturating_sub(tail);
    let _ = writeln!(
        out,
        "  last {} transcript lines:",
        outcome.transcript.len() - start
    );
    for line in &outcome.transcript[start..] {
        let _ = writeln!(out, "    {line}");
    }
    // A scenario of the built-in suite has no file on disk: name it by --filter instead.
    let replay = match outcome.file.strip_prefix(crate::run::BUNDLED_LABEL) {
        Some(name) => format!("--filter {name}"),
        None => outcome.file.clone(),
    };
    let _ = writeln!(
        out,
        "  seed {}; replay: intune-mock run {replay} --seed {}",
        outcome.seed, outcome.seed
    );
    out
}

/// The report `intune-mock run --json FILE` writes; its JSON Schema is
/// `docs/run-report.schema.json`.
#[derive(serde::Serialize, schemars::JsonSchema)]
#[schemars(
    title = "intune-mock run report",
    description = "What `intune-mock run --json FILE` writes. Within the format `intune-mock-run/1` fields are only ever added."
)]
pub struct RunReport<'a> {
    /// Always `intune-mock-run/1`.
    #[schemars(extend("const" = "intune-mock-run/1"))]
    pub format: &'static str,
    /// Scenarios that passed.
    pub passed: usize,
    /// Scenarios that ran and did not pass (verdict `failed`, `invalid` or `harness_error`).
    pub failed: usize,
    /// Every scenario that ran, in the order of their files.
    pub scenarios: &'a [Outcome],
    /// Scenario files that did not parse (exit code 2); they did not run.
    pub invalid_files: Vec<InvalidFile>,
}

/// A scenario file that did not parse.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct InvalidFile {
    /// The file as it was named on the command line.
    pub file: String,
    /// The line the error is on, when it is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl From<&SpecError> for InvalidFile {
    fn from(e: &SpecError) -> Self {
        InvalidFile {
            file: e.file.clone(),
            line: e.line,
            message: e.message.clone(),
        }
    }
}

/// The JSON report of a run (pretty-printed, with a closing newline).
pub fn json_report(outcomes: &[Outcome], invalid: &[SpecError]) -> String {
    let passed = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Passed)
        .count();
    let report = RunReport {
        format: "intune-mock-run/1",
        passed,
        failed: outcomes.len() - passed,
        scenarios: outcomes,
        invalid_files: invalid.iter().map(InvalidFile::from).collect(),
    };
    serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
}

/// The JSON Schema (draft 2020-12) of [`RunReport`], pretty-printed with a closing newline:
/// the text of `docs/run-report.schema.json`.
pub fn run_report_schema() -> String {
    let schema = schemars::schema_for!(RunReport<'static>);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

/// When a run started and how long it took, by the wall clock (for JUnit only).
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    pub started: DateTime<Utc>,
    pub elapsed: std::time::Duration,
}

/// The JUnit `classname` of a scenario file: `intune-mock.` and the name of its folder, dots
/// made underscores (Jenkins reads the part before the last dot as a package), so the bundled
/// suite is `intune-mock.conformance`.
fn junit_classname(file: &str) -> String {
    let folder = std::path::Path::new(file)
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().replace('.', "_"))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "scenarios".to_owned());
    format!("intune-mock.{folder}")
}

/// JUnit XML as GitLab and Jenkins read it: `<testsuites>` holding one `<testsuite>`
/// (`intune-mock`) with one `<testcase>` per scenario (`name` the scenario's name, `classname`
/// from its folder, `file`, `time` in seconds); a failed expectation is a `<failure>` whose
/// `message` is the mismatch and whose text is the failure details; a run-time invalid scenario,
/// a harness error and a file that did not parse are an `<error>`.
pub fn junit_report(outcomes: &[Outcome], invalid: &[SpecError], wall: WallClock) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let started = wall.started.fixed_offset();
    let mut report = Report::new("intune-mock");
    report.set_timestamp(started).set_time(wall.elapsed);
    let mut suite = TestSuite::new("intune-mock");
    suite.set_timestamp(started).set_time(wall.elapsed);
    for o in outcomes {
        let status = match o.verdict {
            Verdict::Passed => TestCaseStatus::success(),
            verdict => {
                let (kind, ty) = match verdict {
                    Verdict::Failed => (NonSuccessKind::Failure, "expectation failed"),
                    Verdict::Invalid => (NonSuccessKind::Error, "invalid scenario"),
                    _ => (NonSuccessKind::Error, "harness error"),
                };
                let mut status = TestCaseStatus::non_success(kind);
                let message: Vec<String> = o
                    .failures
                    .iter()
                    .map(|f| match (&f.expected, &f.actual) {
                        (Some(e), Some(a)) => {
                            format!("{}: {} (expected {e}, actual {a})", f.location, f.message)
                        }
                        _ => format!("{}: {}", f.location, f.message),
                    })
                    .collect();
                // One line: a line break in an attribute reads as a space anyway.
                status.set_message(message.join("; ").replace('\n', "; "));
                status.set_type(ty);
                status.set_description(failure_details(o, 20));
                status
            }
        };
        let mut case = TestCase::new(o.name.clone(), status);
        case.set_classname(junit_classname(&o.file));
        case.set_time(o.wall);
        case.extra.insert("file".into(), o.file.clone().into());
        suite.add_test_case(case);
    }
    for e in invalid {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(e.to_string());
        status.set_type("invalid scenario file");
        let name = std::path::Path::new(&e.file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| e.file.clone());
        let mut case = TestCase::new(name, status);
        case.set_classname(junit_classname(&e.file));
        case.set_time(std::time::Duration::ZERO);
        case.extra.insert("file".into(), e.file.clone().into());
        suite.add_test_case(case);
    }
    report.add_test_suite(suite);
    report.to_string().unwrap_or_default()
}
