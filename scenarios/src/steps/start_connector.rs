//! `start_connector = "NAME"`: a stopped connector's service starts again, polls at once and
//! works what it finds.

use super::kind::{Check, StepKind};
use crate::runner::world::{StepError, World};

pub(crate) struct StartConnector;

impl StepKind for StartConnector {
    type Raw = String;
    type Spec = String;

    fn check(name: String, cx: &mut Check) -> Result<String, String> {
        cx.installed(&name)?;
        Ok(name)
    }

    async fn run(name: &String, world: &mut World) -> Result<String, StepError> {
        let now = world.app.now();
        let connector = world.connector_mut(name)?;
        connector.start(now);
        let polled = connector.poll(now).await;
        world.hungry.insert(name.clone());
        world.work(name, now).await;
        Ok(match polled {
            Ok(()) => format!("{name} started"),
            Err(e) => format!("{name} started; first poll failed: {e}"),
        })
    }
}
