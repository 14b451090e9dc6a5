//! `block_spool = "NAME"`: a file takes the place of the connector's SCEP spool folder, so later
//! notifications cannot be written (event 4010). Only an empty spool can be blocked, so nothing
//! waiting is lost.

use super::kind::{Check, StepKind};
use crate::runner::world::{StepError, World};

pub(crate) struct BlockSpool;

impl StepKind for BlockSpool {
    type Raw = String;
    type Spec = String;

    fn check(name: String, cx: &mut Check) -> Result<String, String> {
        cx.installed(&name)?;
        Ok(name)
    }

    async fn run(name: &String, world: &mut World) -> Result<String, StepError> {
        let endpoint = world.scep_endpoint(name).await?;
        let dir = endpoint.spool().dir().to_owned();
        if !endpoint.spool().is_empty() {
            return Err(StepError::Invalid(format!(
                "block_spool: {name}'s spool still holds notifications; block it when it is empty"
            )));
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(anyhow::Error::from)?;
        }
        std::fs::write(&dir, b"not a folder: block_spool").map_err(anyhow::Error::from)?;
        Ok(format!("{name}'s SCEP spool cannot be written"))
    }
}
