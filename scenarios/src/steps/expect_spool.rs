//! `expect_spool = { connector, count }`: how many notifications wait in the connector's SCEP
//! spool.

use serde::Deserialize;

use super::kind::{Check, StepKind};
use crate::runner::world::{mismatch, StepError, World};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectSpool {
    pub connector: String,
    pub count: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectSpool {
    connector: String,
    count: u32,
}

pub(crate) struct Expect;

impl StepKind for Expect {
    type Raw = RawExpectSpool;
    type Spec = ExpectSpool;

    fn check(r: RawExpectSpool, cx: &mut Check) -> Result<ExpectSpool, String> {
        cx.installed(&r.connector)?;
        Ok(ExpectSpool {
            connector: r.connector,
            count: r.count,
        })
    }

    async fn run(expectation: &ExpectSpool, world: &mut World) -> Result<String, StepError> {
        let endpoint = world.scep_endpoint(&expectation.connector).await?;
        let count = endpoint.spool().len();
        if count != expectation.count as usize {
            return Err(mismatch(
                format!("notifications in {}'s SCEP spool", expectation.connector),
                expectation.count.to_string(),
                count.to_string(),
            ));
        }
        Ok(format!(
            "{} notification(s) wait in {}'s spool",
            count, expectation.connector
        ))
    }
}
