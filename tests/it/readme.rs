//! The README's snippets are real: the CI files it shows are the ones in `docs/ci/` and their
//! commands are commands of this binary, and its first scenario is
//! `scenarios/examples/first-scenario.toml`, which passes.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use scenarios::cli::{Cli, Command as Subcommand};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The README's fenced block of `language` that follows the line `title`.
fn block_after<'a>(readme: &'a str, title: &str, language: &str) -> &'a str {
    let at = readme
        .find(title)
        .unwrap_or_else(|| panic!("the README has no {title:?}"));
    let fence = format!("```{language}\n");
    let start = at
        + readme[at..]
            .find(&fence)
            .unwrap_or_else(|| panic!("no {language} block after {title:?}"))
        + fence.len();
    let end = start + readme[start..].find("```\n").unwrap();
    &readme[start..end]
}

/// `intune-mock`'s arguments in a `cargo run … -- ARGS` or `intune-mock ARGS` line.
fn intune_mock_args(line: &str) -> Option<Vec<String>> {
    let line = line
        .trim()
        .trim_start_matches("- ")
        .trim_start_matches("run: ");
    let args = if let Some((_, args)) = line
        .split_once("cargo run")
        .and_then(|(_, rest)| rest.split_once(" -- "))
    {
        args
    } else {
        line.strip_prefix("intune-mock ")?
    };
    Some(args.split_whitespace().map(str::to_owned).collect())
}

fn parse(args: &[String]) -> Cli {
    Cli::try_parse_from(std::iter::once("intune-mock".to_owned()).chain(args.iter().cloned()))
        .unwrap_or_else(|e| panic!("`intune-mock {}` does not parse: {e}", args.join(" ")))
}

#[test]
fn the_readme_ci_snippets_are_the_files_in_docs_ci_and_run_the_suite_with_both_reports() {
    let readme = read("README.md");
    for (title, file) in [
        (
            "GitHub Actions (`docs/ci/github-actions.yml`)",
            "docs/ci/github-actions.yml",
        ),
        (
            "GitLab CI (`docs/ci/gitlab-ci.yml`)",
            "docs/ci/gitlab-ci.yml",
        ),
    ] {
        let snippet = read(file);
        assert_eq!(block_after(&readme, title, "yaml"), snippet, "{file}");
        let commands: Vec<Vec<String>> = snippet.lines().filter_map(intune_mock_args).collect();
        assert_eq!(
            commands,
            vec![vec![
                "run",
                "--junit",
                "report.xml",
                "--json",
                "report.json"
            ]],
            "{file}"
        );
        let Subcommand::Run(run) = parse(&commands[0]).command else {
            panic!("{file}: not `run`");
        };
        assert_eq!(run.paths, Vec::<PathBuf>::new(), "the bundled suite");
        assert_eq!(run.junit, Some(PathBuf::from("report.xml")));
        assert_eq!(run.json, Some(PathBuf::from("report.json")));
        // The report the CI keeps is the one it writes.
        assert!(snippet.contains("report.xml\n"), "{file}");
    }
    assert!(read("docs/ci/gitlab-ci.yml").contains("    reports:\n      junit: report.xml\n"));
    assert!(read("docs/ci/github-actions.yml").contains("uses: actions/upload-artifact@v4"));
}

#[test]
fn every_command_in_the_write_a_scenario_section_parses() {
    let readme = read("README.md");
    let start = readme.find("## Write a scenario").unwrap();
    let end = start + readme[start + 1..].find("\n## ").unwrap();
    let section = &readme[start..end];
    let mut commands = 0;
    let mut in_sh = false;
    for line in section.lines() {
        match line {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            line if in_sh => {
                if let Some(args) = intune_mock_args(line) {
                    parse(&args);
                    commands += 1;
                }
            }
            _ => {}
        }
    }
    assert!(commands >= 2, "{commands} commands in:\n{section}");
}

#[test]
fn the_readme_first_scenario_is_the_example_file_and_it_passes() {
    let readme = read("README.md");
    let file = read("scenarios/examples/first-scenario.toml");
    assert_eq!(
        block_after(&readme, "`scenarios/examples/first-scenario.toml`:", "toml"),
        file
    );
    let out = Command::new(env!("CARGO_BIN_EXE_intune-mock-under-test"))
        .current_dir(repo())
        .args(["run", "scenarios/examples/first-scenario.toml"])
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(
        lines[0],
        "SCENARIO        RESULT  STEPS  VIRTUAL SPAN  WALL"
    );
    assert!(
        lines[1].starts_with("first-scenario  passed  9/9    187d 0h       "),
        "{stdout}"
    );
    assert_eq!(lines[2], "1 passed, 0 failed");
}

#[test]
fn the_readme_shows_how_another_repository_installs_the_binary_and_runs_its_own_sharded_folder() {
    let readme = read("README.md");
    let file = "docs/ci/consumer-github-actions.yml";
    let snippet = read(file);
    assert_eq!(
        block_after(&readme, "(`docs/ci/consumer-github-actions.yml`):", "yaml"),
        snippet
    );
    // `cargo install --git URL intune-mock` picks the workspace's package of that name: it must
    // exist and build the `intune-mock` binary.
    assert!(
        snippet.contains("run: cargo install --locked --git \"$INTUNE_MOCK_GIT\" intune-mock\n"),
        "{snippet}"
    );
    let metadata = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(repo())
        .output()
        .expect("cargo metadata runs");
    assert!(metadata.status.success(), "{metadata:?}");
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout).unwrap();
    let package = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "intune-mock")
        .expect("a package named intune-mock");
    let binaries: Vec<&str> = package["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"][0] == "bin")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(binaries, ["intune-mock"]);
    // Its two commands are this binary's: the built-in suite, then a slice of the user's folder.
    let commands: Vec<Vec<String>> = snippet
        .replace("${{ matrix.shard }}", "2")
        .lines()
        .filter_map(intune_mock_args)
        .collect();
    assert_eq!(
        commands,
        vec![
            vec!["run", "--junit", "conformance.xml"],
            vec![
                "run",
                "my-scenarios/",
                "--shard",
                "2/3",
                "--junit",
                "report.xml",
                "--json",
                "report.json"
            ],
        ]
    );
    for command in &commands {
        let Subcommand::Run(_) = parse(command).command else {
            panic!("not `run`: {command:?}");
        };
    }
}
