//! `expect_jobs = { tenant, kind, state, count, attempts }`: how many of the tenant's jobs (of
//! `kind`, when given) are in `state`, and, when `attempts` is given, how many of those were
//! attempted exactly that many times. A redelivered job's attempt count grows by one each time a
//! connector leases it again (docs/behaviour.md, "Request queues and routing"), so `attempts`
//! is how a scenario says "nothing was redelivered" (`attempts = 1`) or "each was redelivered
//! once" (`attempts = 2`).

use serde::Deserialize;
use service::domain::{JobKind, JobState};

use super::kind::{Check, StepKind};
use crate::runner::world::{mismatch, StepError, World};
use crate::spec::values::one_of_typed;

/// The largest page the jobs listing answers; counting by attempts walks the pages.
const PAGE: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectJobs {
    pub tenant: String,
    pub kind: Option<JobKind>,
    pub state: JobState,
    pub count: u32,
    /// Count only the jobs with exactly this many attempts.
    pub attempts: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectJobs {
    tenant: String,
    kind: Option<String>,
    state: String,
    count: u32,
    attempts: Option<u32>,
}

/// One page of `GET /admin/tenants/{id}/jobs`: the count of every match and the page's jobs.
#[derive(Debug, Deserialize)]
struct JobPage {
    count: u64,
    value: Vec<wire::jobs::JobView>,
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
            attempts: r.attempts,
        })
    }

    async fn run(expect: &ExpectJobs, world: &mut World) -> Result<String, StepError> {
        let tenant = world.tenant(&expect.tenant)?.id.clone();
        let mut path = format!(
            "/admin/tenants/{tenant}/jobs?state={}",
            expect.state.as_str()
        );
        if let Some(kind) = &expect.kind {
            path.push_str(&format!("&kind={}", kind.as_str()));
        }
        let count = match expect.attempts {
            None => page(world, &format!("{path}&top=1")).await?.count,
            Some(attempts) => with_attempts(world, &path, attempts).await?,
        };
        let what = format!(
            "{} jobs{} in state {}{}",
            expect.tenant,
            expect
                .kind
                .map(|k| format!(" of kind {}", k.as_str()))
                .unwrap_or_default(),
            expect.state.as_str(),
            expect
                .attempts
                .map(|n| format!(" with {n} attempt{}", if n == 1 { "" } else { "s" }))
                .unwrap_or_default(),
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

/// Reads one page of the listing at `path`.
async fn page(world: &World, path: &str) -> Result<JobPage, StepError> {
    let answer = world.app.admin_get(path).await?;
    if answer.status != 200 {
        return Err(StepError::Harness(anyhow::anyhow!(
            "GET {path} answered {}: {}",
            answer.status,
            answer.body
        )));
    }
    serde_json::from_value(answer.body)
        .map_err(|e| StepError::Harness(anyhow::anyhow!("GET {path}: {e}")))
}

/// Walks every page of the listing at `path` and counts the jobs attempted `attempts` times.
async fn with_attempts(world: &World, path: &str, attempts: u32) -> Result<u64, StepError> {
    let mut matching = 0u64;
    let mut skip = 0u64;
    loop {
        let page = page(world, &format!("{path}&top={PAGE}&skip={skip}")).await?;
        let seen = page.value.len() as u64;
        matching += page.value.iter().filter(|j| j.attempts == attempts).count() as u64;
        skip += seen;
        if seen == 0 || skip >= page.count {
            return Ok(matching);
        }
    }
}
