//! The run reports as CI reads them, from real `intune-mock run` processes: the JSON report
//! against its committed JSON Schema (`docs/run-report.schema.json`, which must equal the one
//! generated from the report's types), and JUnit XML with what GitLab's and Jenkins' parsers need.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A passing bundled scenario, a failing one and a file that does not parse; the run's exit code
/// is 2 (an invalid file outranks a failed expectation).
struct Run {
    _dir: tempfile::TempDir,
    passing: PathBuf,
    failing: PathBuf,
    invalid: PathBuf,
    json: PathBuf,
    junit: PathBuf,
}

fn run_one_passing_one_failing_one_invalid() -> Run {
    let dir = tempfile::tempdir().unwrap();
    let passing = repo().join("scenarios/conformance/lifecycle-docs-example.toml");
    let failing = dir.path().join("wrong.toml");
    std::fs::write(
        &failing,
        "name = \"wrong\"\nseed = 5\nstart = \"2022-05-01T00:00:00Z\"\n\n[[tenant]]\nname = \"contoso\"\n\n[[connector]]\nname = \"old\"\ntenant = \"contoso\"\nfeatures = [\"pkcs\"]\nversion = \"6.2202.38.0\"\nauto_update = false\n\n[[step]]\nat = \"2022-05-04T00:00:00Z\"\n\n[[step]]\nexpect_status = { connector = \"old\", status = \"error\", reasons = [\"VersionRetired\"] }\n",
    )
    .unwrap();
    let invalid = dir.path().join("broken.toml");
    std::fs::write(
        &invalid,
        "name = \"broken\"\nstart = \"2022-05-01T00:00:00Z\"\ncolour = 1\n",
    )
    .unwrap();
    let json = dir.path().join("report.json");
    let junit = dir.path().join("report.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_intune-mock-under-test"))
        .arg("run")
        .args([&passing, &failing, &invalid])
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        _dir: dir,
        passing,
        failing,
        invalid,
        json,
        junit,
    }
}

fn committed_schema() -> Value {
    let text = std::fs::read_to_string(repo().join("docs/run-report.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_committed_json_schema_is_the_one_generated_from_the_report_types() {
    let generated = scenarios::report::run_report_schema();
    let committed =
        std::fs::read_to_string(repo().join("docs/run-report.schema.json")).unwrap_or_default();
    if generated != committed {
        // Leave the new schema where a developer can copy it from.
        let fresh = Path::new(env!("CARGO_TARGET_TMPDIR")).join("run-report.schema.json");
        std::fs::write(&fresh, &generated).unwrap();
        panic!(
            "docs/run-report.schema.json is not the schema of scenarios::report::RunReport; if the change is meant, `cp {} docs/run-report.schema.json`",
            fresh.display()
        );
    }
    let schema = committed_schema();
    jsonschema::meta::validate(&schema).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["title"], "intune-mock run report");
    assert_eq!(schema["properties"]["format"]["const"], "intune-mock-run/1");
    assert_eq!(
        schema["required"],
        json!(["format", "passed", "failed", "scenarios", "invalid_files"])
    );
}

fn validator() -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&committed_schema())
        .unwrap()
}

fn errors(validator: &jsonschema::Validator, report: &Value) -> Vec<String> {
    validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn a_real_run_report_validates_against_the_committed_schema_and_a_broken_one_does_not() {
    let run = run_one_passing_one_failing_one_invalid();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&run.json).unwrap()).unwrap();
    let validator = validator();
    assert_eq!(errors(&validator, &report), Vec::<String>::new());

    // What the report holds, literally.
    assert_eq!(report["format"], "intune-mock-run/1");
    assert_eq!(
        (report["passed"].clone(), report["failed"].clone()),
        (json!(1), json!(1))
    );
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 2);
    assert_eq!(scenarios[0]["name"], "lifecycle-docs-example");
    assert_eq!(scenarios[0]["file"], run.passing.display().to_string());
    assert_eq!(scenarios[0]["verdict"], "passed");
    assert_eq!(scenarios[0]["failures"], json!([]));
    assert_eq!(
        scenarios[1],
        json!({
            "name": "wrong",
            "file": run.failing.display().to_string(),
            "seed": 5,
            "verdict": "failed",
            "steps_run": 2,
            "steps_total": 2,
            "virtual_start": "2022-05-01T00:00:00Z",
            "virtual_end": "2022-05-04T00:00:00Z",
            "failures": [{
                "location": format!("{}:19", run.failing.display()),
                "step": "expect_status",
                "at": "2022-05-04T00:00:00Z",
                "message": "status of `old` differs in status, reasons",
                "expected": "error [\"VersionRetired\"]",
                "actual": "warning [\"VersionDeprecated\"]",
            }],
        })
    );
    assert_eq!(
        report["invalid_files"],
        json!([{
            "file": run.invalid.display().to_string(),
            "line": 3,
            "message": "unknown field `colour`, expected one of `name`, `description`, `seed`, `start`, `tenant`, `connector`, `step`",
        }])
    );

    // A required field removed.
    let mut without_verdict = report.clone();
    without_verdict["scenarios"][1]
        .as_object_mut()
        .unwrap()
        .remove("verdict");
    assert_eq!(
        errors(&validator, &without_verdict),
        vec!["\"verdict\" is a required property at /scenarios/1".to_owned()]
    );
    // A wrong type.
    let mut text_count = report.clone();
    text_count["passed"] = json!("1");
    assert_eq!(
        errors(&validator, &text_count),
        vec!["\"1\" is not of type \"integer\" at /passed".to_owned()]
    );
    // A verdict the format does not know, a date that is not one, another format.
    let mut odd = report.clone();
    odd["scenarios"][0]["verdict"] = json!("skipped");
    odd["scenarios"][0]["virtual_end"] = json!("next tuesday");
    odd["format"] = json!("intune-mock-run/2");
    assert_eq!(
        errors(&validator, &odd).len(),
        3,
        "{:?}",
        errors(&validator, &odd)
    );
}

/// The value of attribute `name` in the opening tag `element`.
fn attribute<'a>(element: &'a str, name: &str) -> &'a str {
    let start = element
        .find(&format!(" {name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {element}"))
        + name.len()
        + 3;
    let end = start + element[start..].find('"').unwrap();
    &element[start..end]
}

/// The opening tag of the first element starting with `prefix`.
fn element<'a>(xml: &'a str, prefix: &str) -> &'a str {
    let start = xml
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {xml}"));
    let end = start + xml[start..].find('>').unwrap() + 1;
    &xml[start..end]
}

#[test]
fn junit_has_what_gitlab_and_jenkins_read() {
    let run = run_one_passing_one_failing_one_invalid();
    let xml = std::fs::read_to_string(&run.junit).unwrap();
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"intune-mock\" tests=\"3\" skipped=\"0\" failures=\"1\" errors=\"1\" timestamp=\""),
        "{xml}"
    );
    let suites = element(&xml, "<testsuites ");
    let suite = element(&xml, "<testsuite ");
    assert!(
        suite.starts_with("<testsuite name=\"intune-mock\" tests=\"3\" skipped=\"0\" errors=\"1\" failures=\"1\" timestamp=\""),
        "{suite}"
    );
    for tag in [suites, suite] {
        // Jenkins reads `time` as a number of seconds; both read an ISO 8601 timestamp.
        attribute(tag, "time").parse::<f64>().unwrap();
        chrono::DateTime::parse_from_rfc3339(attribute(tag, "timestamp")).unwrap();
    }

    let passed = element(&xml, "<testcase name=\"lifecycle-docs-example\"");
    assert_eq!(attribute(passed, "classname"), "intune-mock.conformance");
    assert_eq!(attribute(passed, "file"), run.passing.display().to_string());
    assert!(attribute(passed, "time").parse::<f64>().unwrap() > 0.0);
    assert!(
        passed.ends_with("/>"),
        "a passed case has no children: {passed}"
    );

    let failed = element(&xml, "<testcase name=\"wrong\"");
    let folder = run
        .failing
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace('.', "_");
    assert_eq!(
        attribute(failed, "classname"),
        format!("intune-mock.{folder}")
    );
    assert_eq!(attribute(failed, "file"), run.failing.display().to_string());
    attribute(failed, "time").parse::<f64>().unwrap();
    let failure = element(&xml, "<failure ");
    assert_eq!(
        failure,
        format!(
            "<failure message=\"{}:19: status of `old` differs in status, reasons (expected error [&quot;VersionRetired&quot;], actual warning [&quot;VersionDeprecated&quot;])\" type=\"expectation failed\">",
            run.failing.display()
        )
    );
    // The failure's text: the same details the terminal shows, with a replay command.
    let text_start = xml.find(failure).unwrap() + failure.len();
    let text = &xml[text_start..text_start + xml[text_start..].find("</failure>").unwrap()];
    assert!(
        text.starts_with(&format!(
            "--- wrong ({}) FAILED\n{}:19: expect_status at 2022-05-04T00:00:00Z: status of `old` differs in status, reasons\n  expected: error [&quot;VersionRetired&quot;]\n  actual:   warning [&quot;VersionDeprecated&quot;]\n",
            run.failing.display(),
            run.failing.display()
        )),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(
            "  seed 5; replay: intune-mock run {} --seed 5\n",
            run.failing.display()
        )),
        "{text}"
    );

    let broken = element(&xml, "<testcase name=\"broken\"");
    assert_eq!(attribute(broken, "file"), run.invalid.display().to_string());
    assert_eq!(attribute(broken, "time"), "0.000");
    assert_eq!(
        element(&xml, "<error "),
        format!(
            "<error message=\"{}:3: unknown field `colour`, expected one of `name`, `description`, `seed`, `start`, `tenant`, `connector`, `step`\" type=\"invalid scenario file\"/>",
            run.invalid.display()
        )
    );
    assert_eq!(xml.matches("<testcase ").count(), 3);
    assert!(
        xml.trim_end().ends_with("</testsuite>\n</testsuites>"),
        "{xml}"
    );
}
