//! `enqueue = { tenant, kind, count, profile }`: certificate requests are queued for a tenant's
//! connectors, with the payloads a real profile of that kind carries (`runner::profiles`).

use reqwest::Method;
use serde::Deserialize;
use service::domain::JobKind;

use super::kind::{Check, StepKind};
use crate::runner::world::{PkiNeed, StepError, World};
use crate::spec::values::{one_of, one_of_typed};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueueSpec {
    pub tenant: String,
    pub kind: JobKind,
    pub count: u32,
    pub profile: Option<String>,
}

/// The built-in enqueue profiles.
pub const PROFILES: &[&str] = service::profiles::NAMES;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnqueue {
    tenant: String,
    kind: String,
    count: u32,
    profile: Option<String>,
}

pub(crate) struct Enqueue;

impl StepKind for Enqueue {
    type Raw = RawEnqueue;
    type Spec = EnqueueSpec;

    fn check(r: RawEnqueue, cx: &mut Check) -> Result<EnqueueSpec, String> {
        cx.tenant(&r.tenant)?;
        let kind = one_of_typed("kind", &r.kind, &JobKind::ALL, JobKind::as_str)
            .map_err(|m| format!("enqueue: {m}"))?;
        if r.count == 0 || r.count > 100_000 {
            return Err("enqueue: count must be from 1 to 100000".into());
        }
        if let Some(profile) = &r.profile {
            one_of("profile", profile, PROFILES).map_err(|m| format!("enqueue: {m}"))?;
        }
        Ok(EnqueueSpec {
            tenant: r.tenant,
            kind,
            count: r.count,
            profile: r.profile,
        })
    }

    /// Enqueues `count` jobs with the profile's payloads, in batches of 1,000. `pkcs_import`
    /// jobs first upload their user PFX through Graph, as the PowerShell module does.
    async fn run(spec: &EnqueueSpec, world: &mut World) -> Result<String, StepError> {
        let profile = spec.profile.clone().unwrap_or_else(|| "default".to_owned());
        let tenant = world.tenant(&spec.tenant)?.clone();
        let now = world.app.now();
        let token = if spec.kind == JobKind::PkcsImport {
            Some(world.app.graph_token(&tenant).await?)
        } else {
            None
        };
        let pki = world
            .pki
            .as_ref()
            .ok_or_else(|| StepError::Harness(anyhow::anyhow!("the scenario has no PKI")))?;
        let mut jobs = Vec::new();
        for index in 1..=spec.count {
            let mut pfx_id = None;
            if let Some(token) = &token {
                let body = pki.user_pfx_upload(&spec.tenant, &profile, index, now)?;
                let answer = world
                    .app
                    .request(
                        Method::POST,
                        "/beta/deviceManagement/userPfxCertificates",
                        Some(token),
                        Some(&body),
                    )
                    .await?;
                if answer.status != 201 {
                    return Err(StepError::Harness(anyhow::anyhow!(
                        "uploading the user PFX answered {}: {}",
                        answer.status,
                        answer.body
                    )));
                }
                pfx_id = answer.body["id"].as_str().map(str::to_owned);
            }
            jobs.push(wire::jobs::EnqueueJob {
                kind: spec.kind.as_str().to_owned(),
                payload: pki.payload(
                    &spec.tenant,
                    spec.kind,
                    &profile,
                    index,
                    now,
                    pfx_id.as_deref(),
                )?,
            });
        }
        #[derive(serde::Serialize)]
        struct Batch<'a> {
            jobs: &'a [wire::jobs::EnqueueJob],
        }
        for batch in jobs.chunks(1000) {
            let _: serde::de::IgnoredAny = world
                .app
                .call_as(
                    Method::POST,
                    &format!("/admin/tenants/{}/jobs", tenant.id),
                    crate::harness::OPERATOR_TOKEN,
                    &Batch { jobs: batch },
                    201,
                )
                .await
                .map_err(|e| StepError::Harness(e.context("enqueueing")))?;
        }
        world.hungry.extend(world.connectors.keys().cloned());
        Ok(format!(
            "{} {} jobs ({profile}) enqueued for {}",
            spec.count,
            spec.kind.as_str(),
            spec.tenant
        ))
    }

    fn pki(spec: &EnqueueSpec) -> PkiNeed {
        if spec.kind == JobKind::PkcsImport {
            PkiNeed::ImportKeys
        } else {
            PkiNeed::Cas
        }
    }
}
