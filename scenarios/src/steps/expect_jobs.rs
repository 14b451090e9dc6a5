//! `expect_jobs = { tenant, kind, state, count }`: how many of the tenant's jobs (of `kind`, when
//! given) are in `state`.

use serde::Deserialize;
use service::domain::{JobKind, JobState};

use super::kind::{Check, StepKind};
use crate::runner::world::{mismatch, StepError, World};
use crate::spec::values::one_of_typed;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectJobs {
    pub tenant: String,
    pub kind: Option<JobKind>,
    pub state: JobState,
    pub count: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectJobs {
    tenant: String,
    kind: Option<String>,
    state: String,
    count: u32,
}

pub(crate) struct Expect;

impl StepKind for Expect {
    type Raw = RawExpectJobs;
    type Spec = ExpectJobs;

    fn check(r: RawExpectJobs, cx: &mut Check) -> Result<ExpectJobs, String> {
        cx.tenant(&r.tenant)?;
        let kind = r
            .kind
            .as_deref()
            .map(|kind| one_of_typed("kind", kind, &JobKind::ALL, JobKind::as_str))
            .transpose()
            .map_err(|m| format!("expect_jobs: {m}"))?;
        let state = one_of_typed("state", &r.state, &JobState::ALL, JobState::as_str)
            .map_err(|m| format!("expect_jobs: {m}"))?;
        Ok(ExpectJobs {
            tenant: r.tenant,
            kind,
            state,
            count: r.count,
        })
    }

    async fn run(expect: &ExpectJobs, world: &mut World) -> Result<String, StepError> {
        let tenant = world.tenant(&expect.tenant)?.id.clone();
        let mut path = format!("/admin/tenants/{tenant}/jobs?top=1&state={}", expect.state);
        if let Some(kind) = &expect.kind {
            path.push_str(&format!("&kind={}", kind.as_str()));
        }
        let answer = world.app.admin_get(&path).await?;
        let count = answer.body["count"].as_u64().ok_or_else(|| {
            StepError::Harness(anyhow::anyhow!(
                "GET {path} answered {}: {}",
                answer.status,
                answer.body
            ))
        })?;
        let what = format!(
            "{} jobs{} in state {}",
            expect.tenant,
            expect
                .kind
                .map(|k| format!(" of kind {}", k.as_str()))
                .unwrap_or_default(),
            expect.state
        );
        if count == u64::from(expect.count) {
            Ok(format!("{what}: {count}"))
        } else {
            Err(mismatch(
                format!("count of {what}"),
                expect.count.to_string(),
                count.to_string(),
            ))
        }
    }
}
