//! Reports of a run: the summary table and failure details (stdout), the JSON report and JUnit
//! XML. The JSON report holds no wall-clock figures, so the same files and seeds give the same
//! bytes; JUnit carries wall times because CI dashboards want them.

use std::fmt::Write as _;

use crate::cli::render_table;
use crate::runner::{Outcome, Verdict};

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "passed",
        Verdict::Failed => "FAILED",
        Verdict::Invalid => "INVALID",
        Verdict::HarnessError => "ERROR",
    }
}

/// The table, then a closing `N passed, M failed` line (plus invalid files, if any).
pub fn summary_table(outcomes: &[Outcome], invalid_files: usize) -> String {
    let mut rows = vec![vec![
        "SCENARIO".into(),
        "RESULT".into(),
        "STEPS".into(),
        "VIRTUAL SPAN".into(),
        "WALL".into(),
    ]];
    for o in outcomes {
        let span = o.virtual_end - o.virtual_start;
        rows.push(vec![
            o.name.clone(),
            verdict_text(o.verdict).into(),
            format!("{}/{}", o.steps_run, o.steps_total),
            format!("{}d {}h", span.num_days(), span.num_hours() % 24),
            format!("{:.2}s", o.wall.as_secs_f64()),
        ]);
    }
    let passed = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Passed)
        .count();
    let mut out = render_table(&rows);
    let failed = outcomes.len() - passed;
    match invalid_files {
        0 => {
            let _ = writeln!(out, "{passed} passed, {failed} failed");
        }
        n => {
            let _ = writeln!(
                out,
                "{passed} passed, {failed} failed, {n} invalid scenario file(s)"
            );
        }
    }
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
    let _ = writeln!(
        out,
        "  seed {}; replay: intune-mock run {} --seed {}",
        outcome.seed, outcome.file, outcome.seed
    );
    out
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    format: &'static str,
    passed: usize,
    failed: usize,
    scenarios: &'a [Outcome],
}

pub fn json_report(outcomes: &[Outcome]) -> String {
    let passed = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Passed)
        .count();
    let report = JsonReport {
        format: "intune-mock-run/1",
        passed,
        failed: outcomes.len() - passed,
        scenarios: outcomes,
    };
    serde_json::to_string_pretty(&report).unwrap_or_default()
}

pub fn junit_report(outcomes: &[Outcome]) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("intune-mock");
    let mut suite = TestSuite::new("conformance");
    for o in outcomes {
        let status = match o.verdict {
            Verdict::Passed => TestCaseStatus::success(),
            verdict => {
                let kind = if verdict == Verdict::Failed {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
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
                status.set_message(message.join("; "));
                status.set_description(failure_details(o, 20));
                status
            }
        };
        let mut case = TestCase::new(o.name.clone(), status);
        case.set_classname(o.file.clone());
        case.set_time(o.wall);
        suite.add_test_case(case);
    }
    report.add_test_suite(suite);
    report.to_string().unwrap_or_default()
}
