//! The suite from outside a checkout and split across CI jobs: `run --shard K/N` deals the
//! selected files into N disjoint slices that together are the whole selection; the binary
//! copied alone into an empty folder runs the conformance suite built into it, and serves its
//! page.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::binary;

/// A scenario named `name` that passes: one connector, a deprecation it expects.
fn scenario(name: &str) -> String {
    format!(
        "name = \"{name}\"\nseed = 3\nstart = \"2022-05-01T00:00:00Z\"\n\n[[tenant]]\nname = \"contoso\"\n\n\
         [[connector]]\nname = \"old\"\ntenant = \"contoso\"\nfeatures = [\"pkcs\"]\nversion = \"6.2202.38.0\"\n\
         auto_update = false\n\n[[step]]\nat = \"2022-05-04T00:00:00Z\"\n\n[[step]]\n\
         expect_status = {{ connector = \"old\", status = \"warning\", reasons = [\"VersionDeprecated\"] }}\n"
    )
}

/// The names of the scenarios a JSON report lists, in its order.
fn names_in(report: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(report).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn three_shards_of_seven_files_are_disjoint_and_together_the_whole_suite() {
    let dir = tempfile::tempdir().unwrap();
    // Written out of order: the slices follow the sorted file names, not the order of creation.
    for name in ["g", "c", "a", "e", "b", "f", "d"] {
        std::fs::write(dir.path().join(format!("{name}.toml")), scenario(name)).unwrap();
    }
    let mut slices = Vec::new();
    for k in 1..=3 {
        let report = dir.path().join(format!("shard-{k}.json"));
        let out = binary()
            .arg("run")
            .arg(dir.path())
            .args(["--shard", &format!("{k}/3"), "--json"])
            .arg(&report)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        slices.push((names_in(&report), err.into_owned()));
    }
    assert_eq!(slices[0].0, ["a", "d", "g"]);
    assert_eq!(slices[1].0, ["b", "e"]);
    assert_eq!(slices[2].0, ["c", "f"]);
    assert!(
        slices[0]
            .1
            .contains("shard 1/3: 3 of 7 selected scenario files"),
        "{}",
        slices[0].1
    );
    // More slices than files: the extra slice is empty and passes, so a fixed CI matrix still
    // works while a suite is small.
    let report = dir.path().join("shard-8.json");
    let out = binary()
        .arg("run")
        .arg(dir.path())
        .args(["--shard", "8/8", "--json"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(names_in(&report).is_empty());
}

#[test]
fn a_shard_that_is_not_k_of_n_is_refused_with_what_is_wrong() {
    for (value, message) in [
        ("0/3", "`0/3`: K must be from 1 to N (3)"),
        ("4/3", "`4/3`: K must be from 1 to N (3)"),
        ("1/0", "`1/0`: N must be at least 1"),
        ("2", "`2` is not K/N (for example 2/4)"),
        ("a/3", "`a/3`: K `a` is not a whole number"),
    ] {
        let out = binary().args(["run", "--shard", value]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{value}: {err}");
        assert!(err.contains(message), "{value}: {err}");
        assert!(out.stdout.is_empty(), "{value}: nothing runs");
    }
}

/// Runs `attempt` again while the fresh copy is "text file busy": another test's child, forked
/// while this process held the copy open for writing, keeps that descriptor until it execs
/// (bounded: 100 tries, 20 ms apart).
fn retry_busy<T>(mut attempt: impl FnMut() -> std::io::Result<T>) -> T {
    for _ in 0..100 {
        match attempt() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other.expect("the copied binary starts"),
        }
    }
    panic!("the copied binary stayed busy for 2 s");
}

/// The binary copied into an empty temporary folder.
fn binary_alone() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("intune-mock");
    std::fs::copy(env!("CARGO_BIN_EXE_intune-mock-under-test"), &copy).unwrap();
    (dir, copy)
}

#[test]
fn the_binary_alone_in_an_empty_folder_runs_the_built_in_suite() {
    let (dir, copy) = binary_alone();
    let out = retry_busy(|| {
        Command::new(&copy)
            .current_dir(dir.path())
            .args([
                "run",
                "--filter",
                "lifecycle-docs-example",
                "--json",
                "report.json",
            ])
            .env("NO_COLOR", "1")
            .output()
    });
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        names_in(&dir.path().join("report.json")),
        ["lifecycle-docs-example"]
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(
        json["scenarios"][0]["file"],
        "(built-in suite)/lifecycle-docs-example.toml"
    );
    // Every file of the suite is built in, under its own name.
    let mut on_disk: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/conformance"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
    on_disk.sort();
    let built_in: Vec<String> = scenarios::run::BUNDLED
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    assert_eq!(built_in, on_disk);
}

#[test]
fn the_binary_alone_serves_its_page_with_its_data_in_the_folder_it_is_told() {
    let (dir, copy) = binary_alone();
    let mut child = retry_busy(|| {
        Command::new(&copy)
            .current_dir(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("intune-mock listening on ")
        .unwrap_or_else(|| panic!("first line: {first}"))
        .to_owned();
    let _database = lines.next().unwrap().unwrap();
    let token_line = lines.next().unwrap().unwrap();
    let token = token_line
        .strip_prefix("operator token: ")
        .unwrap_or_else(|| panic!("third line: {token_line}"))
        .to_owned();
    let anonymous = get(&url, "/", None);
    let page = get(&url, "/", Some(&token));
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    assert!(anonymous.starts_with("HTTP/1.1 200"), "{anonymous}\n{err}");
    assert!(
        anonymous.contains("name=\"token\""),
        "the sign-in form:\n{anonymous}"
    );
    assert!(page.starts_with("HTTP/1.1 200"), "{page}\n{err}");
    assert!(
        !page.contains("name=\"token\""),
        "signed in, no sign-in form:\n{page}"
    );
    assert!(page.contains("Sign out"), "{page}");
    assert!(page.contains("</html>"), "{page}");
    assert!(dir.path().join("data/intune-mock.db").is_file());
}

/// One HTTP/1.1 GET on loopback, the whole answer as text (bounded to 10 s).
fn get(base: &str, path: &str, token: Option<&str>) -> String {
    use std::io::Write;
    let addr = base.trim_start_matches("http://");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match std::net::TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("cannot reach {addr}: {e}"),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}
