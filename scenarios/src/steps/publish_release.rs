//! `publish_release = { version, date }`: Microsoft publishes a connector release (its date may
//! be a bare date, midnight UTC); the version lifecycle counts from it.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use service::domain::Version;

use super::kind::{Check, StepKind};
use crate::runner::world::{stamp, StepError, World};
use crate::spec::values::instant;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSpec {
    pub version: String,
    pub date: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRelease {
    version: String,
    date: toml::Value,
}

pub(crate) struct PublishRelease;

impl StepKind for PublishRelease {
    type Raw = RawRelease;
    type Spec = ReleaseSpec;

    fn check(r: RawRelease, _cx: &mut Check) -> Result<ReleaseSpec, String> {
        Version::parse(&r.version).map_err(|err| format!("publish_release: {err}"))?;
        let date = instant(&r.date, true).map_err(|m| format!("publish_release: date: {m}"))?;
        Ok(ReleaseSpec {
            version: r.version,
            date,
        })
    }

    async fn run(release: &ReleaseSpec, world: &mut World) -> Result<String, StepError> {
        let body = wire::admin::PublishRelease {
            version: release.version.clone(),
            released_date_time: stamp(release.date),
        };
        let answer = world
            .app
            .admin(Method::POST, "/admin/releases", Some(&body))
            .await?;
        if answer.status != 201 {
            return Err(StepError::Harness(anyhow::anyhow!(
                "publishing {} answered {}: {}",
                release.version,
                answer.status,
                answer.body
            )));
        }
        Ok(format!(
            "{} released {}",
            release.version,
            stamp(release.date)
        ))
    }
}
