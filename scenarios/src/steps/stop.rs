//! `stop = "NAME"`: the connector's service stops polling; it stays registered, and the service
//! sees it go inactive.

use super::kind::{Check, StepKind};
use crate::runner::world::{StepError, World};

pub(crate) struct Stop;

impl StepKind for Stop {
    type Raw = String;
    type Spec = String;

    fn check(name: String, cx: &mut Check) -> Result<String, String> {
        cx.installed(&name)?;
        Ok(name)
    }

    async fn run(name: &String, world: &mut World) -> Result<String, StepError> {
        let now = world.app.now();
        world.connector_mut(name)?.stop(now);
        Ok(format!("{name} stopped"))
    }
}
