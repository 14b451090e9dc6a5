//! `crash = "NAME"`: the connector's service dies holding what it downloaded and comes back; the
//! requests it held return to the queue when their leases run out.

use super::kind::{Check, StepKind};
use crate::runner::world::{PkiNeed, StepError, World};

pub(crate) struct Crash;

impl StepKind for Crash {
    type Raw = String;
    type Spec = String;

    fn check(name: String, cx: &mut Check) -> Result<String, String> {
        cx.installed(&name)?;
        Ok(name)
    }

    async fn run(name: &String, world: &mut World) -> Result<String, StepError> {
        let now = world.app.now();
        let abandoned = world.connector_mut(name)?.crash(now).await;
        world.hungry.remove(name);
        Ok(format!(
            "{name} crashed after downloading {abandoned} request(s)"
        ))
    }

    /// A crash drops downloaded requests, which the connectors work after it with the PKI.
    fn pki(_name: &String) -> PkiNeed {
        PkiNeed::Cas
    }
}
