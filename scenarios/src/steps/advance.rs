//! `advance = "P6M"`: the clock moves on by an ISO 8601 duration (months are calendar months),
//! and everything due on the way happens (see `runner::world`).

use super::kind::{Check, StepKind};
use crate::runner::world::{stamp, StepError, World};
use crate::spec::values::{duration, DurationSpec};

pub(crate) struct Advance;

impl StepKind for Advance {
    type Raw = String;
    type Spec = DurationSpec;

    fn check(raw: String, _cx: &mut Check) -> Result<DurationSpec, String> {
        duration(&raw).map_err(|m| format!("advance: {m}"))
    }

    async fn run(spec: &DurationSpec, world: &mut World) -> Result<String, StepError> {
        let target = spec.add_to(world.app.now());
        world.drive_to(target).await?;
        Ok(format!("{} → {}", spec.text, stamp(target)))
    }
}
