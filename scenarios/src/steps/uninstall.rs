//! `uninstall = "NAME"`: the connector is uninstalled (and unregistered); a manual update is an
//! uninstall and an install.

use super::kind::{Check, StepKind};
use crate::runner::world::{emitted, StepError, World};

pub(crate) struct Uninstall;

impl StepKind for Uninstall {
    type Raw = String;
    type Spec = String;

    fn check(name: String, cx: &mut Check) -> Result<String, String> {
        cx.installed(&name)?;
        cx.uninstall(&name);
        Ok(name)
    }

    async fn run(name: &String, world: &mut World) -> Result<String, StepError> {
        let connector = world
            .connectors
            .remove(name)
            .ok_or_else(|| StepError::Invalid(format!("connector `{name}` is not installed")))?;
        world.emitted.extend(emitted(&connector));
        world
            .keep_log(name, &connector)
            .map_err(StepError::Harness)?;
        connector
            .uninstall()
            .await
            .map_err(|e| StepError::Harness(anyhow::anyhow!("uninstalling `{name}`: {e}")))?;
        Ok(format!("{name} uninstalled"))
    }
}
