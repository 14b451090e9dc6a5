//! `expect_log = { connector, channel, archives, debug_min }`: the connector's event-log files:
//! exactly `archives` archived files of `channel`, at least `debug_min` Debug records.

use serde::Deserialize;

use super::kind::{Check, StepKind};
use crate::runner::world::{mismatch, StepError, World};
use crate::spec::values::one_of;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectLog {
    pub connector: String,
    pub channel: String,
    pub archives: Option<u32>,
    pub debug_min: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectLog {
    connector: String,
    channel: String,
    archives: Option<u32>,
    debug_min: Option<u32>,
}

pub(crate) struct Expect;

impl StepKind for Expect {
    type Raw = RawExpectLog;
    type Spec = ExpectLog;

    fn check(r: RawExpectLog, cx: &mut Check) -> Result<ExpectLog, String> {
        cx.installed(&r.connector)?;
        one_of("channel", &r.channel, &["Admin", "Operational"])
            .map_err(|m| format!("expect_log: {m}"))?;
        if r.archives.is_none() && r.debug_min.is_none() {
            return Err("expect_log: give `archives` or `debug_min`".into());
        }
        Ok(ExpectLog {
            connector: r.connector,
            channel: r.channel,
            archives: r.archives,
            debug_min: r.debug_min,
        })
    }

    async fn run(expect: &ExpectLog, world: &mut World) -> Result<String, StepError> {
        let connector = world.connector(&expect.connector)?;
        let log = connector.log();
        let dir = log.dir().ok_or_else(|| {
            StepError::Invalid(format!(
                "connector `{}` keeps its log in memory; give it log_max_bytes, log_archives or log_debug",
                expect.connector
            ))
        })?;
        let mut said = Vec::new();
        if let Some(wanted) = expect.archives {
            let prefix = format!("Archive-{}-", expect.channel);
            let archives = std::fs::read_dir(dir)
                .map_err(anyhow::Error::from)?
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .count();
            if archives != wanted as usize {
                return Err(mismatch(
                    format!(
                        "archived {} log files of {}",
                        expect.channel, expect.connector
                    ),
                    wanted.to_string(),
                    archives.to_string(),
                ));
            }
            said.push(format!("{archives} archived {} files", expect.channel));
        }
        if let Some(min) = expect.debug_min {
            let channel = match expect.channel.as_str() {
                "Admin" => connector_sim::events::Channel::Admin,
                _ => connector_sim::events::Channel::Operational,
            };
            let count = log.count(0, Some(channel));
            if count < min as usize {
                return Err(mismatch(
                    format!(
                        "Debug records in the {} log of {}",
                        expect.channel, expect.connector
                    ),
                    format!("at least {min}"),
                    count.to_string(),
                ));
            }
            said.push(format!("{count} Debug records"));
        }
        Ok(format!("{}: {}", expect.connector, said.join(", ")))
    }
}
