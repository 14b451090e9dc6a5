//! `docs/conformance.md` stays true to the repository: every scenario it names is a file of
//! `scenarios/conformance/`, every bundled scenario is named at least once, every test it names
//! (`path/file.rs::function`) is a function of that file, and every documented statement names
//! some evidence. The matrix is read as text; nothing here runs a scenario or a test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const MATRIX: &str = "docs/conformance.md";
const SCENARIO_DIR: &str = "scenarios/conformance/";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The spans between backticks on one line, in order.
fn code_spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

/// `scenarios/conformance/x.toml` spans, with the 1-based line each is on.
fn scenario_refs(matrix: &str) -> Vec<(usize, String)> {
    let mut refs = Vec::new();
    for (n, line) in matrix.lines().enumerate() {
        for span in code_spans(line) {
            if span.starts_with(SCENARIO_DIR) && span.ends_with(".toml") {
                refs.push((n + 1, span.to_string()));
            }
        }
    }
    refs
}

/// `path/file.rs::function` spans as (line, file, function).
fn test_refs(matrix: &str) -> Vec<(usize, String, String)> {
    let mut refs = Vec::new();
    for (n, line) in matrix.lines().enumerate() {
        for span in code_spans(line) {
            if let Some((file, function)) = span.split_once(".rs::") {
                refs.push((n + 1, format!("{file}.rs"), function.to_string()));
            }
        }
    }
    refs
}

/// Whether `source` defines a function named exactly `name` (`fn name(` or `fn name<`).
fn defines_fn(source: &str, name: &str) -> bool {
    let needle = format!("fn {name}");
    source.match_indices(&needle).any(|(at, _)| {
        let before_ok = at == 0
            || !source[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let after = source[at + needle.len()..].chars().next();
        before_ok && matches!(after, Some('(' | '<'))
    })
}

/// The bundled scenarios, as `scenarios/conformance/x.toml`.
fn bundled_scenarios() -> BTreeSet<String> {
    let dir = repo().join(SCENARIO_DIR);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .map(|name| format!("{SCENARIO_DIR}{name}"))
        .collect()
}

/// The problems of a matrix against the repository, one line each.
fn problems(matrix: &str, bundled: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let named: BTreeSet<String> = scenario_refs(matrix).into_iter().map(|(_, s)| s).collect();
    for (line, scenario) in scenario_refs(matrix) {
        if !repo().join(&scenario).is_file() {
            problems.push(format!("{MATRIX}:{line}: no scenario file {scenario}"));
        }
    }
    for scenario in bundled.difference(&named) {
        problems.push(format!(
            "{MATRIX}: the bundled scenario {scenario} is named nowhere"
        ));
    }
    for (line, file, function) in test_refs(matrix) {
        match std::fs::read_to_string(repo().join(&file)) {
            Err(e) => problems.push(format!("{MATRIX}:{line}: {file}: {e}")),
            Ok(source) if !defines_fn(&source, &function) => {
                problems.push(format!("{MATRIX}:{line}: {file} has no fn {function}"));
            }
            Ok(_) => {}
        }
    }
    // A statement row starts `| T1 |`, `| C14 |`, …: it must name a scenario or a test.
    for (n, line) in matrix.lines().enumerate() {
        let Some(id) = line.strip_prefix("| ").and_then(|l| l.split(" |").next()) else {
            continue;
        };
        let is_statement = id.len() >= 2
            && id.starts_with(|c: char| c.is_ascii_uppercase())
            && id[1..].chars().all(|c| c.is_ascii_digit());
        if is_statement && scenario_refs(line).is_empty() && test_refs(line).is_empty() {
            problems.push(format!(
                "{MATRIX}:{}: statement {id} names no scenario and no test",
                n + 1
            ));
        }
    }
    problems
}

#[test]
fn every_scenario_and_test_the_matrix_names_exists_and_every_bundled_scenario_is_named() {
    let matrix = read(MATRIX);
    let bundled = bundled_scenarios();
    assert_eq!(bundled.len(), 25, "the bundled suite: {bundled:?}");
    assert!(
        test_refs(&matrix).len() >= 50,
        "the matrix names too few tests to be read right: {}",
        test_refs(&matrix).len()
    );
    let problems = problems(&matrix, &bundled);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_missing_scenario_an_unnamed_one_a_missing_test_and_a_bare_statement_are_each_reported() {
    let bundled: BTreeSet<String> = [
        "scenarios/conformance/routing.toml",
        "scenarios/conformance/legacy-rule.toml",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let matrix = "\
| # | Statement | Rule | Scenarios | Tests |
|---|---|---|---|---|
| O5 | routing | x | `scenarios/conformance/routing.toml`, `scenarios/conformance/no-such.toml` | `tests/it/jobs.rs::the_docs_routing_example_spreads_pkcs_over_all_four_and_scep_only_to_the_two` |
| O6 | a test that is not there | x | | `tests/it/jobs.rs::no_such_test`, `tests/it/jobs.rs::retry_puts_the_job_back` |
| C1 | nothing shown | x | | |
";
    assert_eq!(
        problems(matrix, &bundled),
        [
            "docs/conformance.md:3: no scenario file scenarios/conformance/no-such.toml",
            "docs/conformance.md: the bundled scenario scenarios/conformance/legacy-rule.toml is named nowhere",
            "docs/conformance.md:4: tests/it/jobs.rs has no fn no_such_test",
            "docs/conformance.md:4: tests/it/jobs.rs has no fn retry_puts_the_job_back",
            "docs/conformance.md:5: statement C1 names no scenario and no test",
        ]
    );
}
