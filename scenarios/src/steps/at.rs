//! `at = "2022-11-04T00:00:00Z"` (or a bare date, midnight UTC): the clock moves on to an
//! instant, never back.

use chrono::{DateTime, Utc};

use super::kind::{Check, StepKind};
use crate::runner::world::{stamp, StepError, World};
use crate::spec::values::instant;

pub(crate) struct At;

impl StepKind for At {
    type Raw = toml::Value;
    type Spec = DateTime<Utc>;

    fn check(raw: toml::Value, cx: &mut Check) -> Result<DateTime<Utc>, String> {
        let target = instant(&raw, true).map_err(|m| format!("at: {m}"))?;
        if target < cx.start() {
            return Err(format!(
                "at: {} is before the scenario's start",
                target.to_rfc3339()
            ));
        }
        Ok(target)
    }

    async fn run(target: &DateTime<Utc>, world: &mut World) -> Result<String, StepError> {
        let now = world.app.now();
        if *target < now {
            return Err(StepError::Invalid(format!(
                "`at` {} is earlier than the clock ({})",
                stamp(*target),
                stamp(now)
            )));
        }
        world.drive_to(*target).await?;
        Ok(stamp(*target))
    }
}
