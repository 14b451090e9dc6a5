//! `intune-mock run --keep-logs DIR` keeps every connector's channel files (issue #22):
//! `DIR/<scenario>/<connector>/Admin.jsonl` and `Operational.jsonl`, one record a line
//! with the ten fields of the connector's own files, and together they hold every catalog event
//! the scenario's connectors wrote in memory.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use scenarios::runner::{self, kept, Verdict};
use scenarios::spec;
use serde_json::Value;

const FIELDS: [&str; 10] = [
    "time",
    "channel",
    "level",
    "event_id",
    "name",
    "task",
    "connector_id",
    "correlation_id",
    "message",
    "data",
];

fn suite_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/conformance")
}

/// Every record of every `.jsonl` file under `dir` (recursively), and the file names seen.
fn read_records(dir: &Path, records: &mut Vec<Value>, files: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_records(&path, records, files);
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.insert(
                name.split('-')
                    .next()
                    .unwrap()
                    .trim_end_matches(".jsonl")
                    .to_owned(),
            );
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let record: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{}: {e}: {line}", path.display()));
                let keys: BTreeSet<&str> = record
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(|k| k.as_str())
                    .collect();
                assert_eq!(keys, BTreeSet::from(FIELDS), "{}", path.display());
                records.push(record);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_logs_keeps_every_event_of_every_connector() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_intune-mock-under-test"))
        .args(["run", "--jobs", "2", "--keep-logs"])
        .arg(dir.path())
        .arg(suite_dir())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut scenarios = 0;
    for entry in std::fs::read_dir(suite_dir()).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let scenario = spec::parse_file(&file).unwrap();
        let in_memory = runner::run(&scenario, &file.display().to_string(), None).await;
        assert_eq!(in_memory.verdict, Verdict::Passed, "{}", file.display());
        let folder = dir.path().join(kept::file_name(&scenario.name));
        let (mut records, mut files) = (Vec::new(), BTreeSet::new());
        if folder.is_dir() {
            read_records(&folder, &mut records, &mut files);
        }
        let in_files: BTreeSet<(u16, String, String, String)> = records
            .iter()
            .filter(|r| r["event_id"] != 0)
            .map(|r| {
                let text = |k: &str| r[k].as_str().unwrap().to_owned();
                (
                    r["event_id"].as_u64().unwrap() as u16,
                    text("name"),
                    text("channel"),
                    text("task"),
                )
            })
            .collect();
        assert_eq!(in_files, in_memory.events, "{}", scenario.name);
        if !in_memory.events.is_empty() {
            assert!(
                files.is_superset(&BTreeSet::from([
                    "Admin".to_owned(),
                    "Operational".to_owned()
                ])),
                "{files:?}"
            );
        }
        scenarios += 1;
    }
    assert_eq!(scenarios, 25);
}
