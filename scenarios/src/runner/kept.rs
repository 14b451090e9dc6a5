//! `run --keep-logs DIR`: every connector's event log, kept after the scenario is over, as
//! `DIR/<scenario>/<connector>/Admin.jsonl` and `Operational.jsonl`: one record a line, as the
//! connector writes its own files (docs/behaviour.md, "Event log"), every record it wrote (the
//! kept copy is not archived: it is for reading a run afterwards, whole).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use connector_sim::events::Channel;
use connector_sim::Connector;

/// Connector name → file name → the file's bytes.
pub type KeptLogs = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// Adds `connector`'s records to `kept` under `name`, as the lines of its channel files. They
/// come from the log in memory, which holds every record: the files of a connector whose
/// scenario gives it a small log folder have lost their oldest archives, and miss the records
/// written before the folder was set. A second life under the same name is appended to the
/// first.
pub(crate) fn keep(kept: &mut KeptLogs, name: &str, connector: &Connector) -> anyhow::Result<()> {
    let log = connector.log();
    let mine = kept.entry(name.to_owned()).or_default();
    for channel in [Channel::Admin, Channel::Operational] {
        let bytes = mine
            .entry(format!("{}.jsonl", channel.as_str()))
            .or_default();
        for record in log.records().iter().filter(|r| r.channel == channel) {
            serde_json::to_writer(&mut *bytes, record)?;
            bytes.push(b'\n');
        }
    }
    Ok(())
}

/// Writes `logs` under `dir/<scenario>/`: one folder per connector.
pub fn write(dir: &Path, scenario: &str, logs: &KeptLogs) -> anyhow::Result<()> {
    for (connector, files) in logs {
        let folder = dir.join(scenario).join(file_name(connector));
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        for (file, bytes) in files {
            let path = folder.join(file);
            std::fs::write(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

/// A name as a file name: letters, digits and `-` kept, anything else `_`.
pub fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
