//! The scenario file format (TOML) and its validation.
//!
//! Parsing is strict: unknown keys, bad values and dangling references are errors that name the
//! file and line. Versions, durations, features and reason codes are checked with the same parsers
//! the service uses, so a scenario cannot say something the service would not understand; the
//! *expected values* stay what the file says. The format is documented in `scenarios/README.md`.
//!
//! This module reads the top level (`name`, `start`, `[[tenant]]`, `[[connector]]`) and hands
//! each `[[step]]` to its kind in `crate::steps`. Lines come from the spans the TOML parser
//! records (`toml::Spanned`).

pub(crate) mod setup;
pub(crate) mod values;

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use toml::Spanned;

use crate::steps::kind::Check;
use crate::steps::RawStep;
use setup::RawConnector;
use values::{instant, Source};

pub use crate::steps::*;
pub use setup::{ConnectorSpec, LogSpec, TenantSpec};
pub use values::{DurationSpec, SpecError};

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub seed: u64,
    pub start: DateTime<Utc>,
    pub tenants: Vec<TenantSpec>,
    pub connectors: Vec<ConnectorSpec>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    description: Option<String>,
    seed: Option<u64>,
    start: Spanned<toml::Value>,
    #[serde(default)]
    tenant: Vec<Spanned<RawTenant>>,
    #[serde(default)]
    connector: Vec<Spanned<RawConnector>>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    name: String,
    rollout_delay_days: Option<u32>,
}

pub fn parse_file(path: &Path) -> Result<Scenario, SpecError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SpecError {
        file: label.clone(),
        line: None,
        message: format!("cannot read the file: {e}"),
    })?;
    parse_str(&label, &text)
}

pub fn parse_str(file_label: &str, text: &str) -> Result<Scenario, SpecError> {
    let source = Source::new(file_label, text);
    let raw: RawScenario = toml::from_str(text).map_err(|e| source.toml_err(&e))?;
    let start = instant(raw.start.get_ref(), false)
        .map_err(|m| source.err(source.line(raw.start.span()), format!("start: {m}")))?;
    if raw.name.get_ref().trim().is_empty() {
        return Err(source.err(source.line(raw.name.span()), "name must not be empty"));
    }
    let tenants = tenants(raw.tenant, &source)?;
    let names = tenants.iter().map(|t| t.name.clone()).collect();
    let mut cx = Check::new(start, names);
    let connectors = connectors(raw.connector, &source, &mut cx)?;
    let steps = raw
        .step
        .into_iter()
        .map(|step| {
            let header = source.line(step.span());
            crate::steps::read(step.into_inner(), header, &source, &mut cx)
        })
        .collect::<Result<_, _>>()?;
    Ok(Scenario {
        name: raw.name.into_inner(),
        description: raw.description,
        seed: raw.seed.unwrap_or(0),
        start,
        tenants,
        connectors,
        steps,
    })
}

/// The `[[tenant]]` tables, each at the line of its header.
fn tenants(
    raw: Vec<Spanned<RawTenant>>,
    source: &Source<'_>,
) -> Result<Vec<TenantSpec>, SpecError> {
    let mut tenants: Vec<TenantSpec> = Vec::new();
    for t in raw {
        let line = source.line(t.span());
        let t = t.into_inner();
        if tenants.iter().any(|x| x.name == t.name) {
            return Err(source.err(line, format!("tenant `{}` is declared twice", t.name)));
        }
        tenants.push(TenantSpec {
            name: t.name,
            rollout_delay_days: t.rollout_delay_days.unwrap_or(7),
            line,
        });
    }
    Ok(tenants)
}

/// The `[[connector]]` tables (installed at `start`), each at the line of its header.
fn connectors(
    raw: Vec<Spanned<RawConnector>>,
    source: &Source<'_>,
    cx: &mut Check,
) -> Result<Vec<ConnectorSpec>, SpecError> {
    let mut connectors = Vec::new();
    for c in raw {
        let line = source.line(c.span());
        let c = c.into_inner();
        cx.tenant(&c.tenant).map_err(|m| source.err(line, m))?;
        let spec = c
            .check(line)
            .map_err(|m| source.err(line, format!("connector: {m}")))?;
        if !cx.install(&spec.name) {
            return Err(source.err(line, format!("connector `{}` is declared twice", spec.name)));
        }
        connectors.push(spec);
    }
    Ok(connectors)
}

#[cfg(test)]
mod tests;
