//! `scep_untarget = "NAME"`: the SCEP profile no longer targets the device; the service deletes
//! its challenge, so a later validation of it is refused.

use reqwest::Method;

use super::kind::{Check, StepKind};
use crate::runner::world::{StepError, World};

pub(crate) struct ScepUntarget;

impl StepKind for ScepUntarget {
    type Raw = String;
    type Spec = String;

    fn check(name: String, cx: &mut Check) -> Result<String, String> {
        cx.target("scep_untarget", &name)?;
        Ok(name)
    }

    async fn run(name: &String, world: &mut World) -> Result<String, StepError> {
        let target = world
            .scep_targets
            .get(name)
            .ok_or_else(|| StepError::Invalid(format!("no scep_target `{name}`")))?;
        let id = target.id.clone();
        let tenant = world.tenant(&target.spec.tenant)?.id.clone();
        let answer = world
            .app
            .admin::<()>(
                Method::DELETE,
                &format!("/admin/tenants/{tenant}/scep/challenges/{id}"),
                None,
            )
            .await?;
        if answer.status != 204 {
            return Err(StepError::Harness(anyhow::anyhow!(
                "un-targeting `{name}` answered {}: {}",
                answer.status,
                answer.body
            )));
        }
        Ok(format!("the SCEP profile no longer targets `{name}`"))
    }
}
