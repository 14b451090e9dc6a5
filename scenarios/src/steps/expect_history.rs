//! `expect_history = { connector, entries = [{ at, status, reasons }, …] }`: the connector's
//! recorded status changes, all of them, in order.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use service::domain::{ReasonCode, Status};

use super::expect_status::{names, read_connector, sorted, STATUSES};
use super::kind::{Check, StepKind};
use crate::runner::world::{mismatch, stamp, StepError, World};
use crate::spec::values::{instant, one_of_typed, reasons};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub status: Status,
    pub reasons: Vec<ReasonCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectHistory {
    pub connector: String,
    pub entries: Vec<HistoryEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHistoryEntry {
    at: toml::Value,
    status: String,
    reasons: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectHistory {
    connector: String,
    entries: Vec<RawHistoryEntry>,
}

pub(crate) struct Expect;

impl StepKind for Expect {
    type Raw = RawExpectHistory;
    type Spec = ExpectHistory;

    fn check(r: RawExpectHistory, cx: &mut Check) -> Result<ExpectHistory, String> {
        cx.installed(&r.connector)?;
        let mut entries = Vec::new();
        for (k, entry) in r.entries.into_iter().enumerate() {
            let at = instant(&entry.at, false)
                .map_err(|m| format!("expect_history: entries[{k}].at: {m}"))?;
            let status = one_of_typed("status", &entry.status, &STATUSES, Status::as_str)
                .map_err(|m| format!("expect_history: entries[{k}]: {m}"))?;
            let reason_list = reasons(&entry.reasons)
                .map_err(|m| format!("expect_history: entries[{k}]: {m}"))?;
            entries.push(HistoryEntry {
                at,
                status,
                reasons: reason_list,
            });
        }
        Ok(ExpectHistory {
            connector: r.connector,
            entries,
        })
    }

    async fn run(expect: &ExpectHistory, world: &mut World) -> Result<String, StepError> {
        let history: wire::admin::Collection<wire::admin::StatusChange> =
            read_connector(world, &expect.connector, "history").await?;
        let render = |at: &str, status: &str, reasons: Vec<String>| {
            format!("{at} {status} {:?}", sorted(reasons))
        };
        let actual: Vec<String> = history
            .value
            .iter()
            .map(|c| {
                render(
                    &stamp(c.date_time),
                    &format!("{:?}", c.status).to_lowercase(),
                    c.reasons.clone(),
                )
            })
            .collect();
        let expected: Vec<String> = expect
            .entries
            .iter()
            .map(|e| render(&stamp(e.at), e.status.as_str(), names(&e.reasons)))
            .collect();
        if actual == expected {
            Ok(format!(
                "{} has {} recorded changes as expected",
                expect.connector,
                actual.len()
            ))
        } else {
            Err(mismatch(
                format!("history of `{}` differs", expect.connector),
                expected.join("\n"),
                actual.join("\n"),
            ))
        }
    }
}
