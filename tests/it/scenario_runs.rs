//! The scenario harness end to end: the bundled suite passes, a run is deterministic, broken and
//! failing scenarios give the documented exit codes and readable reports.

use std::path::{Path, PathBuf};

use scenarios::cli::RunArgs;
use scenarios::runner::{self, Verdict};
use scenarios::{lanes, report, run, spec};

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/conformance")
}

fn args(paths: Vec<PathBuf>) -> RunArgs {
    RunArgs {
        paths,
        seed: None,
        filter: None,
        shard: None,
        junit: None,
        json: None,
        jobs: 1,
        keep_logs: None,
        transport: runner::Transport::InProcess,
        no_pin: false,
        catalog: Default::default(),
    }
}

/// Every event the docs list (ID, name, channel, task category), and the general events
/// 0001–0999 this project names, written out literally.
const DOCUMENTED_EVENTS: &[(u16, &str, &str, &str)] = &[
    (1, "ConnectorServiceStarted", "Operational", "General"),
    (2, "ConnectorServiceStopped", "Operational", "General"),
    (3, "ConnectorConfiguration", "Operational", "General"),
    (10, "AutoUpdateInstalled", "Operational", "General"),
    (11, "AutoUpdateCheckFailed", "Operational", "General"),
    (1000, "PkcsRequestSuccess", "Admin", "PKCS"),
    (1001, "PkcsRequestFailure", "Admin", "PKCS"),
    (1200, "PkcsRecryptRequestSuccess", "Admin", "PKCS"),
    (1201, "PkcsRecryptRequestFailure", "Admin", "PKCS"),
    (1002, "PkcsDownloadSuccess", "Operational", "PKCS"),
    (1003, "PkcsDownloadFailure", "Operational", "PKCS"),
    (1020, "PkcsDownloadedRequest", "Operational", "PKCS"),
    (1032, "PkcsDigiCertRequest", "Operational", "PKCS"),
    (1050, "PkcsIssuedSuccess", "Operational", "PKCS"),
    (1051, "PkcsIssuedFailedAttempt", "Operational", "PKCS"),
    (1052, "PkcsIssuedFailure", "Operational", "PKCS"),
    (1100, "PkcsUploadSuccess", "Operational", "PKCS"),
    (1101, "PkcsUploadFailure", "Operational", "PKCS"),
    (1102, "PkcsUploadedRequest", "Operational", "PKCS"),
    (1202, "PkcsRecryptDownloadSuccess", "Operational", "PKCS"),
    (1203, "PkcsRecryptDownloadFailure", "Operational", "PKCS"),
    (1220, "PkcsRecryptDownloadedRequest", "Operational", "PKCS"),
    (1250, "PkcsRecryptReencryptSuccess", "Operational", "PKCS"),
    (1251, "PkcsRecryptDecryptSuccess", "Operational", "PKCS"),
    (1252, "PkcsRecryptDecryptFailure", "Operational", "PKCS"),
    (1253, "PkcsRecryptReencryptFailure", "Operational", "PKCS"),
    (1300, "PkcsRecryptUploadSuccess", "Operational", "PKCS"),
    (1301, "PkcsRecryptUploadFailure", "Operational", "PKCS"),
    (1302, "PkcsRecryptUploadedRequest", "Operational", "PKCS"),
    (2000, "PkcsImportRequestSuccess", "Admin", "PKCS Import"),
    (2001, "PkcsImportRequestFailure", "Admin", "PKCS Import"),
    (
        2202,
        "PkcsImportDownloadSuccess",
        "Operational",
        "PKCS Import",
    ),
    (
        2203,
        "PkcsImportDownloadFailure",
        "Operational",
        "PKCS Import",
    ),
    (
        2020,
        "PkcsImportDownloadedRequest",
        "Operational",
        "PKCS Import",
    ),
    (
        2050,
        "PkcsImportReencryptSuccess",
        "Operational",
        "PKCS Import",
    ),
    (
        2051,
        "PkcsImportReencryptFailedAttempt",
        "Operational",
        "PKCS Import",
    ),
    (
        2052,
        "PkcsImportReencryptFailure",
        "Operational",
        "PKCS Import",
    ),
    (
        2100,
        "PkcsImportUploadSuccess",
        "Operational",
        "PKCS Import",
    ),
    (
        2101,
        "PkcsImportUploadFailure",
        "Operational",
        "PKCS Import",
    ),
    (
        2102,
        "PkcsImportUploadedRequest",
        "Operational",
        "PKCS Import",
    ),
    (3000, "RevokeRequestSuccess", "Admin", "Revocation"),
    (3001, "RevokeRequestFailure", "Admin", "Revocation"),
    (3002, "RevokeDownloadSuccess", "Operational", "Revocation"),
    (3003, "RevokeDownloadFailure", "Operational", "Revocation"),
    (3020, "RevokeDownloadedRequest", "Operational", "Revocation"),
    (3032, "RevokeDigicertRequest", "Operational", "Revocation"),
    (3050, "RevokeSuccess", "Operational", "Revocation"),
    (3051, "RevokeFailure", "Operational", "Revocation"),
    (3052, "RevokeFailedAttempt", "Operational", "Revocation"),
    (3100, "RevokeUploadSuccess", "Operational", "Revocation"),
    (3101, "RevokeUploadFailure", "Operational", "Revocation"),
    (3102, "RevokeUploadedRequest", "Operational", "Revocation"),
    (4000, "ScrepRequestSuccess", "Admin", "SCEP"),
    (4001, "ScepRequestIssuedFailure", "Admin", "SCEP"),
    (4002, "ScepRequestUploadFailure", "Admin", "SCEP"),
    (4003, "ScepRequestReceived", "Operational", "SCEP"),
    (4004, "ScepVerifySuccess", "Operational", "SCEP"),
    (4005, "ScepVerifyFailure", "Operational", "SCEP"),
    (4006, "ScepIssuedSuccess", "Operational", "SCEP"),
    (4007, "ScepIssuedFailure", "Operational", "SCEP"),
    (4008, "ScepNotifySuccess", "Operational", "SCEP"),
    (4009, "ScepNotifyAttemptFailed", "Operational", "SCEP"),
    (4010, "ScepNotifySaveToDiskFailed", "Operational", "SCEP"),
    (
        5000,
        "HealthMessageUploadSuccess",
        "Operational",
        "Connector Health",
    ),
    (
        5001,
        "HealthMessageUploadFailedAttempt",
        "Operational",
        "Connector Health",
    ),
    (
        5002,
        "HealthMessageUploadFailure",
        "Operational",
        "Connector Health",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bundled_conformance_scenario_passes_and_together_they_emit_every_documented_event() {
    let files = run::collect_files(&[suite_dir()]).unwrap();
    assert!(files.len() >= 10, "{files:?}");
    let mut emitted = std::collections::BTreeSet::new();
    for file in files {
        let scenario = spec::parse_file(&file).unwrap();
        let outcome = runner::run(&scenario, &file.display().to_string(), None).await;
        assert_eq!(
            outcome.verdict,
            Verdict::Passed,
            "{}",
            report::failure_details(&outcome, 20)
        );
        emitted.extend(outcome.events);
    }
    let missing: Vec<String> = DOCUMENTED_EVENTS
        .iter()
        .filter(|(id, name, channel, task)| {
            !emitted.contains(&(*id, name.to_string(), channel.to_string(), task.to_string()))
        })
        .map(|(id, name, _, _)| format!("{id:04} {name}"))
        .collect();
    assert!(
        missing.is_empty(),
        "no bundled scenario emits: {}",
        missing.join(", ")
    );
    // Nothing outside the table either (a name or channel that drifted from the docs).
    let documented: std::collections::BTreeSet<u16> =
        DOCUMENTED_EVENTS.iter().map(|e| e.0).collect();
    let strays: Vec<_> = emitted
        .iter()
        .filter(|e| !documented.contains(&e.0))
        .collect();
    assert!(strays.is_empty(), "{strays:?}");
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
        report::json_report(std::slice::from_ref(&first), &[]),
        report::json_report(&[second], &[])
    );
    assert!(report::json_report(&[first], &[]).contains("\"seed\": 99"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bundled_conformance_scenario_passes_with_its_connectors_on_loopback_http() {
    let files = run::collect_files(&[suite_dir()]).unwrap();
    for file in files {
        let scenario = spec::parse_file(&file).unwrap();
        let label = file.display().to_string();
        let outcome = runner::run_with(&scenario, &label, None, runner::Transport::Http).await;
        assert_eq!(
            outcome.verdict,
            Verdict::Passed,
            "{}",
            report::failure_details(&outcome, 20)
        );
    }
}

/// `run`'s lanes (bound to CPUs or not, fewer or more of them than scenarios) give each scenario
/// the transcript it gets when run alone, and hand the outcomes back in file order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_on_lanes_give_the_transcripts_they_give_alone_in_file_order() {
    let names = [
        "routing.toml",
        "lifecycle-docs-example.toml",
        "crash-redelivery.toml",
    ];
    let work: Vec<(String, spec::Scenario)> = names
        .iter()
        .map(|name| {
            let scenario = spec::parse_file(&suite_dir().join(name)).unwrap();
            (name.to_string(), scenario)
        })
        .collect();
    let mut alone = Vec::new();
    for (file, scenario) in &work {
        alone.push(runner::run(scenario, file, None).await);
    }
    for (count, pin) in [(2, true), (1, true), (5, false)] {
        let mut finished = Vec::new();
        let outcomes = lanes::run_all(
            work.clone(),
            lanes::Lanes {
                count,
                pin,
                keep_logs: false,
                catalog: Default::default(),
            },
            None,
            runner::Transport::InProcess,
            |o| finished.push(o.name.clone()),
        )
        .await
        .unwrap();
        assert_eq!(finished.len(), 3, "{count} lanes: {finished:?}");
        let files: Vec<&str> = outcomes.iter().map(|o| o.file.as_str()).collect();
        assert_eq!(files, names, "{count} lanes");
        for (on_lane, by_itself) in outcomes.iter().zip(&alone) {
            assert_eq!(on_lane.verdict, Verdict::Passed, "{}", on_lane.file);
            assert!(on_lane.transcript.len() > 10, "{}", on_lane.file);
            assert_eq!(on_lane.transcript, by_itself.transcript, "{}", on_lane.file);
            assert_eq!(on_lane.events, by_itself.events, "{}", on_lane.file);
        }
    }
}

/// Without probabilistic faults the two transports deliver the same requests in the same order,
/// so the service answers the same: the transcripts match line for line. (With them, a request
/// that an HTTP connection loses before it reaches the service draws no lot, and the draws
/// after it shift.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_gives_the_same_transcript_in_process_and_over_http() {
    for name in [
        "lifecycle-docs-example.toml",
        "routing.toml",
        "crash-redelivery.toml",
    ] {
        let file = suite_dir().join(name);
        let scenario = spec::parse_file(&file).unwrap();
        let in_process =
            runner::run_with(&scenario, name, None, runner::Transport::InProcess).await;
        let http = runner::run_with(&scenario, name, None, runner::Transport::Http).await;
        assert_eq!(in_process.verdict, Verdict::Passed, "{name}");
        assert!(in_process.transcript.len() > 10, "{name}");
        assert_eq!(in_process.transcript, http.transcript, "{name}");
        assert_eq!(in_process.events, http.events, "{name}");
    }
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
    assert_eq!(
        run::run(args(vec![bad]), &mut Vec::new(), false)
            .await
            .unwrap(),
        2
    );
    let unknown = write(
        dir.path(),
        "unknown.toml",
        &format!("{OK_HEAD}colour = \"red\"\n"),
    );
    assert_eq!(spec::parse_file(&unknown).unwrap_err().line, Some(14));
    assert_eq!(
        run::run(args(vec![unknown]), &mut Vec::new(), false)
            .await
            .unwrap(),
        2
    );
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
    let code = run::run(
        RunArgs {
            junit: Some(junit.clone()),
            json: Some(json.clone()),
            ..args(vec![file])
        },
        &mut Vec::new(),
        false,
    )
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
    assert_eq!(
        run::run(args(vec![file]), &mut Vec::new(), false)
            .await
            .unwrap(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_a_tenants_queue_runs_dry_its_other_connectors_stop_looking_for_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "drain.toml",
        "name = \"drain\"\nseed = 4\nstart = \"2024-09-19T00:00:00Z\"\n\n\
         [[tenant]]\nname = \"contoso\"\n\n[[tenant]]\nname = \"fabrikam\"\n\n\
         [[step]]\ninstall = { name = \"c\", tenant = \"contoso\", machine = \"C\", features = [\"revocation\"], version = \"6.2406.0.1001\", count = 5 }\n\n\
         [[step]]\ninstall = { name = \"f\", tenant = \"fabrikam\", machine = \"F\", features = [\"revocation\"], version = \"6.2406.0.1001\", count = 2 }\n\n\
         [[step]]\nenqueue = { tenant = \"contoso\", kind = \"revoke\", count = 150 }\n\n\
         [[step]]\nenqueue = { tenant = \"fabrikam\", kind = \"revoke\", count = 10 }\n\n\
         [[step]]\nadvance = \"PT2M\"\n\n\
         [[step]]\nexpect_jobs = { tenant = \"contoso\", state = \"succeeded\", count = 150 }\n\n\
         [[step]]\nexpect_jobs = { tenant = \"fabrikam\", state = \"succeeded\", count = 10 }\n",
    );
    let scenario = spec::parse_file(&file).unwrap();
    let outcome = runner::run(&scenario, "drain.toml", None).await;
    assert_eq!(outcome.verdict, Verdict::Passed, "{:?}", outcome.failures);
    // Every connector polls at 00:00:30, in name order, 100 jobs a lease at most: c-1 and c-2
    // empty contoso's queue, so c-3…c-5 do not ask; f-1 empties fabrikam's, so f-2 does not.
    let work: Vec<&str> = outcome
        .transcript
        .iter()
        .map(String::as_str)
        .filter(|line| line.contains("handled") || line.contains("queue is empty"))
        .collect();
    assert_eq!(
        work,
        [
            "[2024-09-19T00:00:30Z] c-1 handled 100 request(s): 100 succeeded, 0 failed, 0 to retry",
            "[2024-09-19T00:00:30Z] c-2 handled 50 request(s): 50 succeeded, 0 failed, 0 to retry",
            "[2024-09-19T00:00:30Z] contoso's queue is empty: its connectors stop looking for work",
            "[2024-09-19T00:00:30Z] f-1 handled 10 request(s): 10 succeeded, 0 failed, 0 to retry",
            "[2024-09-19T00:00:30Z] fabrikam's queue is empty: its connectors stop looking for work",
        ]
    );
}
