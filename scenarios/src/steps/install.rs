//! `install = { name, tenant, features, version, … }`: a connector is installed (every
//! `[[connector]]` key is accepted), or `count` of them (`name-1`… on `machine-1`…); with
//! `expect_error`, the install must be refused with that code and nothing is added.

use super::kind::{Check, StepKind};
use crate::runner::world::{mismatch, StepError, World};
use crate::spec::setup::{connector_keys, ConnectorSpec, RawConnector};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallSpec {
    pub connector: ConnectorSpec,
    pub count: Option<u32>,
    pub expect_error: Option<String>,
}

connector_keys! {
    /// An `install` table: a connector's keys, then `count` and `expect_error`.
    pub(crate) struct RawInstall {
        count: Option<u32>,
        expect_error: Option<String>,
    }
}

pub(crate) struct Install;

impl StepKind for Install {
    type Raw = RawInstall;
    type Spec = Box<InstallSpec>;

    fn check(raw: RawInstall, cx: &mut Check) -> Result<Box<InstallSpec>, String> {
        cx.tenant(&raw.tenant)?;
        if raw.count.is_some_and(|n| n == 0 || n > 1000) {
            return Err("install: count must be from 1 to 1000".into());
        }
        let (count, expect_error) = (raw.count, raw.expect_error.clone());
        let connector =
            RawConnector::check(raw.connector(), cx.line()).map_err(|m| format!("install: {m}"))?;
        if expect_error.is_none() {
            let names: Vec<String> = match count {
                None => vec![connector.name.clone()],
                Some(n) => (1..=n).map(|k| format!("{}-{k}", connector.name)).collect(),
            };
            for name in names {
                if !cx.install(&name) {
                    return Err(format!(
                        "install: connector `{name}` is already installed; uninstall it first"
                    ));
                }
            }
        }
        Ok(Box::new(InstallSpec {
            connector,
            count,
            expect_error,
        }))
    }

    async fn run(spec: &Box<InstallSpec>, world: &mut World) -> Result<String, StepError> {
        let base = &spec.connector;
        let specs: Vec<ConnectorSpec> = match spec.count {
            None => vec![base.clone()],
            Some(n) => (1..=n)
                .map(|i| ConnectorSpec {
                    name: format!("{}-{i}", base.name),
                    machine: format!("{}-{i}", base.machine),
                    display_name: format!("{}-{i}", base.display_name),
                    ..base.clone()
                })
                .collect(),
        };
        let expect_error = spec.expect_error.as_deref();
        for one in &specs {
            match (world.install(one).await, expect_error) {
                (Ok(()), None) => {}
                (Ok(()), Some(code)) => {
                    return Err(mismatch(
                        format!("installing `{}` was expected to be refused", one.name),
                        code.to_owned(),
                        "installed (201)",
                    ))
                }
                (Err(e), Some(code)) if e.code() == Some(code) => {
                    world.log(format!("install of {} refused as expected: {e}", one.name));
                }
                (Err(e), Some(code)) => {
                    return Err(mismatch(
                        format!("installing `{}` was refused differently", one.name),
                        code.to_owned(),
                        e.to_string(),
                    ))
                }
                (Err(e), None) => {
                    return Err(StepError::Harness(anyhow::anyhow!(
                        "installing `{}` failed: {e}",
                        one.name
                    )))
                }
            }
        }
        Ok(match (spec.count, expect_error) {
            (_, Some(code)) => format!("{} refused with {code}", base.name),
            (Some(n), None) => {
                format!("{n} connectors {}-1…{}-{n} installed", base.name, base.name)
            }
            (None, None) => format!("{} installed", base.name),
        })
    }
}
