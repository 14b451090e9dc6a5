//! The `intune-mock` command line as a user meets it, by running the binary: help with examples
//! for every subcommand, shell completions, plain piped output and colour on a terminal (unless
//! `NO_COLOR`), a reader that stops early, `status` as a table and as JSON, errors said once with
//! their causes.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{binary, intune_mock};

#[test]
fn every_subcommand_has_help_with_an_example() {
    for sub in [
        "run",
        "serve",
        "connector",
        "status",
        "lifecycle",
        "releases",
        "completions",
    ] {
        let (code, out, err) = intune_mock(&[sub, "--help"]);
        assert_eq!(code, 0, "{sub}: {err}");
        assert!(
            out.contains("Example"),
            "{sub} --help has no example:\n{out}"
        );
        assert!(out.contains(&format!("intune-mock {sub}")), "{sub}:\n{out}");
    }
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish_and_an_unknown_shell_is_refused() {
    let (code, bash, _) = intune_mock(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(
        bash.contains("complete -F _intune__mock -o bashdefault -o default intune-mock"),
        "{bash}"
    );
    for sub in ["run", "serve", "connector", "status", "completions"] {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
    }
    let (code, zsh, _) = intune_mock(&["completions", "zsh"]);
    assert_eq!(code, 0);
    assert!(zsh.starts_with("#compdef intune-mock"), "{zsh}");
    let (code, fish, _) = intune_mock(&["completions", "fish"]);
    assert_eq!(code, 0);
    assert!(
        fish.contains(
            "complete -c intune-mock -n \"__fish_intune_mock_needs_command\" -f -a \"serve\""
        ),
        "{fish}"
    );
    let (code, out, err) = intune_mock(&["completions", "tcsh"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
    assert!(err.contains("bash, elvish, fish, powershell, zsh"), "{err}");
}

// ---- output: colour, closed pipes, status, errors ----

/// A scenario that passes (`first`) and one that fails (`wrong`), as files in `dir`.
fn passing_and_failing(dir: &Path) -> (PathBuf, PathBuf) {
    let passing = dir.join("first.toml");
    std::fs::write(&passing, PASSING).unwrap();
    let failing = dir.join("wrong.toml");
    std::fs::write(&failing, FAILING).unwrap();
    (passing, failing)
}

const PASSING: &str = "name = \"first\"\nseed = 3\nstart = \"2022-05-01T00:00:00Z\"\n\n[[tenant]]\nname = \"contoso\"\n\n[[connector]]\nname = \"old\"\ntenant = \"contoso\"\nfeatures = [\"pkcs\"]\nversion = \"6.2202.38.0\"\nauto_update = false\n\n[[step]]\nat = \"2022-05-04T00:00:00Z\"\n\n[[step]]\nexpect_status = { connector = \"old\", status = \"warning\", reasons = [\"VersionDeprecated\"] }\n";

/// The same, expecting `error` where the service says `warning` (line 19).
const FAILING: &str = "name = \"wrong\"\nseed = 3\nstart = \"2022-05-01T00:00:00Z\"\n\n[[tenant]]\nname = \"contoso\"\n\n[[connector]]\nname = \"old\"\ntenant = \"contoso\"\nfeatures = [\"pkcs\"]\nversion = \"6.2202.38.0\"\nauto_update = false\n\n[[step]]\nat = \"2022-05-04T00:00:00Z\"\n\n[[step]]\nexpect_status = { connector = \"old\", status = \"error\", reasons = [\"VersionRetired\"] }\n";

#[test]
fn piped_run_output_is_plain_aligned_text() {
    let dir = tempfile::tempdir().unwrap();
    let (passing, failing) = passing_and_failing(dir.path());
    let out = binary()
        .arg("run")
        .args([&passing, &failing])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "SCENARIO  RESULT  STEPS  VIRTUAL SPAN  WALL");
    assert!(
        lines[1].starts_with("first     passed  2/2    3d 0h         "),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("wrong     FAILED  2/2    3d 0h         "),
        "{stdout}"
    );
    assert_eq!(lines[3], "1 passed, 1 failed");
    assert_eq!(
        lines[5],
        format!("--- wrong ({}) FAILED", failing.display())
    );
}

/// Runs the binary with its standard output on a new pseudo-terminal and returns what it wrote
/// there (the terminal turns `\n` into `\r\n`; that is undone here) and its exit code.
fn on_a_terminal(args: &[&std::ffi::OsStr], no_color: Option<&str>) -> (String, i32) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    use std::io::Read;
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let mut command = binary();
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(terminal)
        .stderr(Stdio::null());
    if let Some(value) = no_color {
        command.env("NO_COLOR", value);
    }
    let mut child = command.spawn().unwrap();
    // The terminal's other end stays open in `command` until it is dropped; reading ends (EIO)
    // only when no process holds it.
    drop(command);
    let mut reader = std::fs::File::from(master);
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // Linux answers EIO once the last holder of the terminal side has closed it.
            Err(_) => break,
        }
    }
    let code = child.wait().unwrap().code().unwrap_or(-1);
    (
        String::from_utf8(bytes).unwrap().replace("\r\n", "\n"),
        code,
    )
}

#[test]
fn on_a_terminal_the_run_summary_is_coloured_unless_no_color_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let (passing, failing) = passing_and_failing(dir.path());
    let args = [
        std::ffi::OsStr::new("run"),
        passing.as_os_str(),
        failing.as_os_str(),
    ];

    let (coloured, code) = on_a_terminal(&args, None);
    assert_eq!(code, 1, "{coloured}");
    let lines: Vec<&str> = coloured.lines().collect();
    assert_eq!(
        lines[0],
        "\u{1b}[1mSCENARIO\u{1b}[0m  \u{1b}[1mRESULT\u{1b}[0m  \u{1b}[1mSTEPS\u{1b}[0m  \u{1b}[1mVIRTUAL SPAN\u{1b}[0m  \u{1b}[1mWALL\u{1b}[0m"
    );
    assert!(
        lines[1].starts_with("first     \u{1b}[32mpassed\u{1b}[0m  2/2    3d 0h         "),
        "{coloured:?}"
    );
    assert!(
        lines[2].starts_with("wrong     \u{1b}[1m\u{1b}[31mFAILED\u{1b}[0m  2/2    3d 0h         "),
        "{coloured:?}"
    );
    assert_eq!(lines[3], "\u{1b}[1m\u{1b}[31m1 passed, 1 failed\u{1b}[0m");

    // An empty NO_COLOR counts as unset (no-color.org).
    let (empty, _) = on_a_terminal(&args, Some(""));
    assert!(empty.contains("\u{1b}[32mpassed\u{1b}[0m"), "{empty:?}");

    let (plain, code) = on_a_terminal(&args, Some("1"));
    assert_eq!(code, 1);
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
    assert!(
        plain.starts_with("SCENARIO  RESULT  STEPS  VIRTUAL SPAN  WALL\nfirst     passed  2/2"),
        "{plain:?}"
    );
}

/// The binary with its standard output on a pipe whose reader goes away: at once (`close_at_once`,
/// as `| head -0` would), or after one line (as `| head -1`). Returns the line read, the exit code
/// and standard error.
fn with_a_reader_that_leaves(
    args: &[&std::ffi::OsStr],
    close_at_once: bool,
) -> (String, i32, String) {
    use std::io::{BufRead, Read};
    let mut child = binary()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut first_line = String::new();
    if !close_at_once {
        std::io::BufReader::new(stdout)
            .read_line(&mut first_line)
            .unwrap();
    } else {
        drop(stdout);
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let code = child.wait().unwrap().code().unwrap_or(-1);
    (first_line, code, stderr)
}

#[test]
fn run_into_a_closed_pipe_stops_printing_without_a_panic_and_still_writes_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (passing, failing) = passing_and_failing(dir.path());
    let json = dir.path().join("report.json");
    for close_at_once in [true, false] {
        std::fs::remove_file(&json).ok();
        let args = [
            std::ffi::OsStr::new("run"),
            passing.as_os_str(),
            failing.as_os_str(),
            std::ffi::OsStr::new("--json"),
            json.as_os_str(),
        ];
        let (first_line, code, stderr) = with_a_reader_that_leaves(&args, close_at_once);
        if !close_at_once {
            assert_eq!(first_line, "SCENARIO  RESULT  STEPS  VIRTUAL SPAN  WALL\n");
        }
        assert_eq!(
            (code, stderr.as_str()),
            (1, ""),
            "close at once: {close_at_once}"
        );
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(
            (report["passed"].as_u64(), report["failed"].as_u64()),
            (Some(1), Some(1))
        );
    }
}

/// A service with tenant `contoso` and one connector on 6.2202.38.0 (installed 2022-05-01), on
/// 2022-05-04 when 6.2203.12.0 ships; returns the service and `status`'s arguments for it.
async fn service_with_a_deprecated_connector() -> (scenarios::harness::TestApp, Vec<String>) {
    let app = crate::support::app_at("2022-05-01T00:00:00Z").await;
    let tenant = app.create_tenant("contoso", None).await.unwrap();
    let installed = crate::support::install(&app, &tenant, "SRV01", "6.2202.38.0").await;
    crate::support::set_clock(&app, "2022-05-04T00:00:00Z").await;
    let answer = crate::support::checkin(&app, &installed.credential, "6.2202.38.0").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let args = vec![
        "status".to_owned(),
        "--url".to_owned(),
        app.base_url.clone(),
        "--tenant".to_owned(),
        tenant.id.clone(),
        "--client-id".to_owned(),
        tenant.client_id.clone(),
        "--client-secret".to_owned(),
        tenant.client_secret.clone().unwrap(),
    ];
    (app, args)
}

/// Runs the binary off the async runtime (the service under test lives on it).
async fn intune_mock_async(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || binary().args(&args).output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_an_aligned_plain_table_when_piped_and_a_stable_json_document_with_json() {
    let (app, args) = service_with_a_deprecated_connector().await;

    let table = intune_mock_async(args.clone()).await;
    assert_eq!(
        table.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    assert_eq!(
        String::from_utf8(table.stdout).unwrap(),
        "NAME             MACHINE  VERSION      FEATURES  STATE   STATUS   REASONS            SUPPORT ENDS  FUNCTION ENDS\n\
         SRV01 connector  SRV01    6.2202.38.0  pkcs      active  warning  VersionDeprecated  2022-11-04    2023-11-04\n"
    );

    let mut json_args = args.clone();
    json_args.push("--json".to_owned());
    let json = intune_mock_async(json_args).await;
    assert_eq!(json.status.code(), Some(0));
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(document["format"], "intune-mock-status/1");
    assert_eq!(document["tenantId"], args[4].as_str());
    let connectors = document["connectors"].as_array().unwrap();
    assert_eq!(connectors.len(), 1);
    let connector = &connectors[0];
    assert_eq!(connector["displayName"], "SRV01 connector");
    assert_eq!(connector["machineName"], "SRV01");
    assert_eq!(connector["version"], "6.2202.38.0");
    assert_eq!(connector["features"], serde_json::json!(["pkcs"]));
    assert_eq!(connector["state"], "active");
    assert_eq!(connector["enrolledDateTime"], "2022-05-01T00:00:00Z");
    assert_eq!(connector["status"]["status"], "warning");
    assert_eq!(
        connector["status"]["reasons"][0]["code"],
        "VersionDeprecated"
    );
    assert_eq!(
        connector["status"]["supportEndsDateTime"],
        "2022-11-04T00:00:00Z"
    );
    assert_eq!(
        connector["status"]["functionEndsDateTime"],
        "2023-11-04T00:00:00Z"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_on_a_terminal_is_coloured_unless_no_color_is_set_and_survives_a_closed_pipe() {
    let (app, args) = service_with_a_deprecated_connector().await;
    let for_terminal = args.clone();
    let (coloured, plain) = tokio::task::spawn_blocking(move || {
        let args: Vec<&std::ffi::OsStr> = for_terminal.iter().map(std::ffi::OsStr::new).collect();
        (on_a_terminal(&args, None), on_a_terminal(&args, Some("1")))
    })
    .await
    .unwrap();
    assert_eq!(coloured.1, 0);
    assert!(
        coloured
            .0
            .contains("SRV01 connector  SRV01    6.2202.38.0  pkcs      active  \u{1b}[33mwarning\u{1b}[0m  VersionDeprecated"),
        "{:?}",
        coloured.0
    );
    assert_eq!(plain.1, 0);
    assert!(!plain.0.contains('\u{1b}'), "{:?}", plain.0);

    for close_at_once in [true, false] {
        let args = args.clone();
        let (first_line, code, stderr) = tokio::task::spawn_blocking(move || {
            let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
            with_a_reader_that_leaves(&args, close_at_once)
        })
        .await
        .unwrap();
        if !close_at_once {
            assert!(
                first_line.starts_with("NAME             MACHINE  "),
                "{first_line}"
            );
        }
        assert_eq!(
            (code, stderr.as_str()),
            (0, ""),
            "close at once: {close_at_once}"
        );
    }
    app.stop().await;
}

#[test]
fn an_unreachable_service_is_one_error_with_its_causes_each_said_once() {
    let (code, out, err) = intune_mock(&[
        "status",
        "--url",
        "http://127.0.0.1:1",
        "--tenant",
        "t1",
        "--client-id",
        "c1",
        "--client-secret",
        "s1",
    ]);
    assert_eq!((code, out.as_str()), (3, ""));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0], "error: cannot reach the service at http://127.0.0.1:1",
        "{err}"
    );
    assert_eq!(
        lines[1],
        "  caused by: error sending request for url (http://127.0.0.1:1/t1/oauth2/v2.0/token)",
        "{err}"
    );
    assert_eq!(
        lines.last(),
        Some(&"  caused by: Connection refused (os error 111)"),
        "{err}"
    );
    assert!(
        lines[1..].iter().all(|l| l.starts_with("  caused by: ")),
        "{err}"
    );
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert_eq!(err.matches("Connection refused").count(), 1, "{err}");
    let mut unique = lines.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), lines.len(), "a line said twice:\n{err}");
}

#[test]
fn an_invalid_scenario_file_is_reported_once_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nstart = \"2022-05-01T00:00:00Z\"\ncolour = 1\n",
    )
    .unwrap();
    let (code, out, err) = intune_mock(&["run", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "invalid scenario: {}:3: unknown field `colour`, expected one of `name`, `description`, `seed`, `start`, `tenant`, `connector`, `step`\n",
            bad.display()
        )
    );
    assert_eq!(out, "0 passed, 0 failed, 1 invalid scenario file(s)\n");
}
