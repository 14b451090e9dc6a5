//! The README's tour runs as written: its shell blocks, taken from README.md itself, run in order
//! in one `bash` (with `set -euo pipefail`) in an empty folder, with the built binary on `PATH`
//! as `intune-mock`, and what each block prints is compared with the block shown after it.
//!
//! Two things differ from a person's terminal, and only these: the tour's ports (8080 for the
//! service, 8081 for SCEP) are replaced by free ones, and the ids and secrets a run makes are
//! compared by identity, not by value (each distinct id in the README must be a distinct id in
//! the run, in the same places: the restarted connector's id is the first one's).

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{on_path, require, Need};

const SECTION: &str = "## A tour from the terminal";
/// What separates the blocks' output in the run's standard output.
const MARK: &str = "@@ tour block ";

/// One shell block of the tour and the output shown after it, if any.
struct Step {
    script: String,
    shown: Option<String>,
}

/// The tour's fenced blocks: every `sh` block, with the `text`/`json` block right after it
/// (nothing but blank lines between) as what it prints.
fn steps(readme: &str) -> Vec<Step> {
    let start = readme
        .find(SECTION)
        .unwrap_or_else(|| panic!("README.md has no {SECTION:?} section"));
    let section = &readme[start + SECTION.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut blocks: Vec<(String, String, bool)> = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find("```") {
        let before = &rest[..open];
        let after_open = &rest[open + 3..];
        let line_end = after_open.find('\n').expect("a fence line ends");
        let language = after_open[..line_end].trim().to_owned();
        let body_start = &after_open[line_end + 1..];
        let close = body_start
            .find("```")
            .expect("every fenced block is closed");
        let follows_directly = before.trim().is_empty();
        blocks.push((language, body_start[..close].to_owned(), follows_directly));
        rest = &body_start[close + 3..];
    }
    let mut steps = Vec::new();
    for (i, (language, body, _)) in blocks.iter().enumerate() {
        if language != "sh" {
            continue;
        }
        let shown = blocks
            .get(i + 1)
            .filter(|(l, _, direct)| *direct && (l == "text" || l == "json"))
            .map(|(_, b, _)| b.clone());
        steps.push(Step {
            script: body.clone(),
            shown,
        });
    }
    steps
}

/// A free loopback port (bound and released: the tour binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_uuid(word: &[u8]) -> bool {
    word.len() == 36
        && word.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// `text` with each id (a UUID) and each secret (`enr_…`, `cs_…`) replaced by its number in
/// order of first appearance across the whole transcript (`names` is kept between calls).
fn by_identity(text: &str, names: &mut HashMap<String, usize>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let secret = ["enr_", "cs_"]
            .iter()
            .find(|p| bytes[i..].starts_with(p.as_bytes()) && (i == 0 || bytes[i - 1] == b'"'));
        let len = if i + 36 <= bytes.len() && is_uuid(&bytes[i..i + 36]) {
            36
        } else if let Some(prefix) = secret {
            prefix.len()
                + bytes[i + prefix.len()..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
                    .count()
        } else {
            0
        };
        if len == 0 {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let next = names.len() + 1;
        let n = *names.entry(text[i..i + len].to_owned()).or_insert(next);
        out.push_str(&format!("<id {n}>"));
        i += len;
    }
    out
}

fn lines(text: &str) -> Vec<String> {
    text.trim_end()
        .lines()
        .map(|l| l.trim_end().to_owned())
        .collect()
}

#[test]
fn the_readme_tour_runs_and_prints_what_the_readme_shows() {
    // The tour enrolls with `scepclient`.
    if require(Need::ScepClients, || on_path("scepclient")).is_none() {
        return;
    }
    for (program, package) in [("curl", "curl"), ("jq", "jq"), ("openssl", "openssl")] {
        if let Err(why) = on_path(program) {
            panic!("the README tour needs {program}: {why}. Install the Debian package {package} (tests/run installs it)");
        }
    }
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let steps = steps(&readme);
    assert!(
        steps.len() >= 10,
        "the tour has {} shell blocks",
        steps.len()
    );
    let (service, scep) = (free_port(), free_port());
    let ports = |text: &str| {
        text.replace("127.0.0.1:8080", &format!("127.0.0.1:{service}"))
            .replace("127.0.0.1:8081", &format!("127.0.0.1:{scep}"))
    };
    let mut script = String::from("set -euo pipefail\n");
    for (i, step) in steps.iter().enumerate() {
        script.push_str(&format!("printf '\\n{MARK}{i}\\n'\n"));
        script.push_str(&ports(&step.script));
    }

    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_intune-mock-under-test"),
        bin.join("intune-mock"),
    )
    .unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut bash = Command::new("timeout");
    bash.args(["300", "bash", "-c", &script])
        .current_dir(&home)
        .env("PATH", path)
        .env("NO_PROXY", "*")
        .env_remove("INTUNE_MOCK_OPERATOR_TOKEN")
        .env_remove("INTUNE_MOCK_ENROLLMENT_SECRET")
        .env_remove("INTUNE_MOCK_LOG")
        .stdin(Stdio::null())
        .process_group(0);
    let child = bash
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let group = format!("-{}", child.id());
    let out = child.wait_with_output().unwrap();
    // Whatever the tour left running (it stops both itself when it gets to its end).
    let _ = Command::new("kill").args(["-KILL", "--", &group]).output();
    let stdout = String::from_utf8_lossy(&out.stdout)
        .replace(&format!("127.0.0.1:{service}"), "127.0.0.1:8080")
        .replace(&format!("127.0.0.1:{scep}"), "127.0.0.1:8081");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut printed: Vec<&str> = stdout.split(&format!("\n{MARK}")).skip(1).collect();
    let ran = printed.len();
    assert!(
        out.status.success() && ran == steps.len(),
        "the tour stopped in block {ran} of {} (exit {:?}).\nstdout:\n{stdout}\nstderr:\n{stderr}",
        steps.len(),
        out.status.code()
    );
    let (mut shown_names, mut run_names) = (HashMap::new(), HashMap::new());
    for (i, step) in steps.iter().enumerate() {
        let output = printed[i].split_once('\n').map_or("", |(_, o)| o);
        printed[i] = output;
        let actual = lines(&by_identity(output, &mut run_names));
        match &step.shown {
            Some(shown) => assert_eq!(
                lines(&by_identity(shown, &mut shown_names)),
                actual,
                "block {} of the tour printed something else than the README shows:\n{}\n\
                 (ids numbered by first appearance)",
                i + 1,
                step.script
            ),
            None => assert_eq!(
                actual,
                Vec::<String>::new(),
                "block {} of the tour printed something the README does not show:\n{}",
                i + 1,
                step.script
            ),
        }
    }
}
