//! The scenario harness end to end: the bundled suite passes, a run is deterministic, broken and
//! failing scenarios give the documented exit codes and readable reports.

use std::path::{Path, PathBuf};

use scenarios::cli::RunArgs;
use scenarios::runner::{self, Verdict};
use scenarios::{report, run, spec};

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/conformance")
}

fn args(paths: Vec<PathBuf>) -> RunArgs {
    RunArgs {
        paths,
        seed: None,
        filter: None,
        junit: None,
        json: None,
        jobs: 1,
        keep_logs: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bundled_conformance_scenario_passes() {
    let files = run::collect_files(&[suite_dir()]).unwrap();
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let scenario = spec::parse_file(&file).unwrap();
        let outcome = runner::run(&scenario, &file.display().to_string(), None).await;
        assert_eq!(
            outcome.verdict,
            Verdict::Passed,
            "{}",
            report::failure_details(&outcome, 20)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_file_and_seed_give_the_same_transcript_and_json_report() {
    let file = suite_dir().join("lifecycle-docs-example.toml");
    let scenario = spec::parse_file(&file).unwrap();
    let label = "lifecycle-docs-example.toml";
    let first = runner::run(&scenario, label, Some(99)).await;
    let second = runner::run(&scenario, label, Some(99)).await;
    assert!(first.transcript.len() > 10);
    assert_eq!(first.transcript, second.transcript);
    assert_eq!(
        report::json_report(std::slice::from_ref(&first)),
        report::json_report(&[second])
    );
    assert!(report::json_report(&[first]).contains("\"seed\": 99"));
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const OK_HEAD: &str = "name = \"probe\"\nseed = 3\nstart = \"2022-05-01T00:00:00Z\"\n\n[[tenant]]\nname = \"contoso\"\n\n[[connector]]\nname = \"old\"\ntenant = \"contoso\"\nfeatures = [\"pkcs\"]\nversion = \"6.2202.38.0\"\nauto_update = false\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_scenario_file_exits_2_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.toml",
        &format!("{OK_HEAD}\n[[step]]\nat = \"2022-05-40T00:00:00Z\"\n"),
    );
    assert_eq!(spec::parse_file(&bad).unwrap_err().to_string(), format!("{}:16: at: `2022-05-40T00:00:00Z` is not an RFC 3339 date-time like 2022-05-04T00:00:00Z", bad.display()));
    assert_eq!(run::run(args(vec![bad])).await.unwrap(), 2);
    let unknown = write(
        dir.path(),
        "unknown.toml",
        &format!("{OK_HEAD}colour = \"red\"\n"),
    );
    assert_eq!(spec::parse_file(&unknown).unwrap_err().line, Some(14));
    assert_eq!(run::run(args(vec![unknown])).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_expectation_exits_1_with_expected_and_actual_and_a_replay_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "wrong.toml",
        &format!("{OK_HEAD}\n[[step]]\nat = \"2022-05-04T00:00:00Z\"\n\n[[step]]\nexpect_status = {{ connector = \"old\", status = \"error\", reasons = [\"VersionRetired\"] }}\n"),
    );
    let scenario = spec::parse_file(&file).unwrap();
    let outcome = runner::run(&scenario, "wrong.toml", None).await;
    assert_eq!(outcome.verdict, Verdict::Failed);
    let failure = &outcome.failures[0];
    assert_eq!(failure.location, "wrong.toml:19");
    assert_eq!(
        failure.expected.as_deref(),
        Some("error [\"VersionRetired\"]")
    );
    assert_eq!(
        failure.actual.as_deref(),
        Some("warning [\"VersionDeprecated\"]")
    );
    let details = report::failure_details(&outcome, 5);
    assert!(
        details.contains("replay: intune-mock run wrong.toml --seed 3"),
        "{details}"
    );

    let junit = dir.path().join("report.xml");
    let json = dir.path().join("report.json");
    let code = run::run(RunArgs {
        junit: Some(junit.clone()),
        json: Some(json.clone()),
        ..args(vec![file])
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(xml.contains("<testcase name=\"probe\""), "{xml}");
    assert!(xml.contains("<failure message=\""), "{xml}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(report["failed"], 1);
    assert_eq!(report["scenarios"][0]["verdict"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_is_not_supported_yet_exits_3_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "scep.toml",
        &format!("{OK_HEAD}\n[[step]]\nexpect_http = {{ connector = \"old\", call = \"health\", status = 200 }}\n"),
    );
    let scenario = spec::parse_file(&file).unwrap();
    let outcome = runner::run(&scenario, "scep.toml", None).await;
    assert_eq!(outcome.verdict, Verdict::HarnessError);
    assert!(
        outcome.failures[0].message.contains("not supported yet"),
        "{:?}",
        outcome.failures
    );
    assert_eq!(run::run(args(vec![file])).await.unwrap(), 3);
}
