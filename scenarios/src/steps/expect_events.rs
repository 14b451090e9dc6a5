//! `expect_events = { connector, event_id, channel, count | min }`: how many records of an event
//! the connector wrote (exactly `count`, or at least `min`); `channel`, when given, is checked
//! against the channel the docs give the event.

use connector_sim::events::{lookup, Channel};
use serde::Deserialize;

use super::kind::{Check, StepKind};
use crate::runner::world::{mismatch, StepError, World};
use crate::spec::values::one_of_typed;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectEvents {
    pub connector: String,
    pub event_id: u32,
    pub channel: Option<Channel>,
    pub count: Option<u32>,
    pub min: Option<u32>,
}

/// The event log's channels, as a scenario names them.
pub(super) const CHANNELS: [Channel; 2] = [Channel::Admin, Channel::Operational];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectEvents {
    connector: String,
    event_id: u32,
    channel: Option<String>,
    count: Option<u32>,
    min: Option<u32>,
}

pub(crate) struct Expect;

impl StepKind for Expect {
    type Raw = RawExpectEvents;
    type Spec = ExpectEvents;

    fn check(r: RawExpectEvents, cx: &mut Check) -> Result<ExpectEvents, String> {
        cx.installed(&r.connector)?;
        let channel = r
            .channel
            .as_deref()
            .map(|channel| one_of_typed("channel", channel, &CHANNELS, Channel::as_str))
            .transpose()
            .map_err(|m| format!("expect_events: {m}"))?;
        if r.count.is_some() == r.min.is_some() {
            return Err("expect_events: give exactly one of count or min".into());
        }
        if r.event_id > 9999 {
            return Err(format!(
                "expect_events: event_id {} is above 9999",
                r.event_id
            ));
        }
        Ok(ExpectEvents {
            connector: r.connector,
            event_id: r.event_id,
            channel,
            count: r.count,
            min: r.min,
        })
    }

    /// Counts the connector's event-log records with the event ID (and channel).
    async fn run(expect: &ExpectEvents, world: &mut World) -> Result<String, StepError> {
        let id = u16::try_from(expect.event_id)
            .ok()
            .filter(|id| lookup(*id).is_some())
            .ok_or_else(|| {
                StepError::Invalid(format!(
                    "event {} is not an event the docs list",
                    expect.event_id
                ))
            })?;
        if let (Some(wanted), Some(def)) = (expect.channel, lookup(id)) {
            if def.channel != wanted {
                return Err(StepError::Invalid(format!(
                    "event {id} ({}) is written to the {} channel, not {}",
                    def.name,
                    def.channel.as_str(),
                    wanted.as_str()
                )));
            }
        }
        let name = lookup(id).map(|d| d.name).unwrap_or_default();
        let count = world
            .connector(&expect.connector)?
            .log()
            .count(id, expect.channel);
        let what = format!("{} event {id} {name}", expect.connector);
        match (expect.count, expect.min) {
            (Some(n), _) if count != n as usize => Err(mismatch(
                format!("count of {what}"),
                n.to_string(),
                count.to_string(),
            )),
            (_, Some(n)) if count < n as usize => Err(mismatch(
                format!("count of {what}"),
                format!("at least {n}"),
                count.to_string(),
            )),
            _ => Ok(format!("{what}: {count}")),
        }
    }
}
