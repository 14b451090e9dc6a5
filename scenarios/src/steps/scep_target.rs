//! `scep_target = { name, tenant, subject, subject_alternative_names, key_usage, key_size,
//! extended_key_usage, validity }`: a device is targeted by a SCEP profile, and the service
//! issues a challenge for it. Its checked value, [`ScepTargetSpec`], lives in
//! `runner::profiles` because the world keeps it for the SCEP steps after this one, which build
//! their certificate requests from it.

use reqwest::Method;
use serde::Deserialize;

use super::kind::{Check, StepKind};
use crate::runner::profiles::ScepTargetSpec;
use crate::runner::world::{ScepTarget as Targeted, StepError, World};
use crate::spec::values::{duration, one_of};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSan {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScepTarget {
    name: String,
    tenant: String,
    subject: String,
    #[serde(default)]
    subject_alternative_names: Vec<RawSan>,
    #[serde(default)]
    key_usage: Vec<String>,
    key_size: u32,
    #[serde(default)]
    extended_key_usage: Vec<String>,
    validity: Option<String>,
}

pub(crate) struct ScepTarget;

impl StepKind for ScepTarget {
    type Raw = RawScepTarget;
    type Spec = ScepTargetSpec;

    fn check(r: RawScepTarget, cx: &mut Check) -> Result<ScepTargetSpec, String> {
        cx.tenant(&r.tenant)?;
        if !cx.add_target(&r.name) {
            return Err(format!("scep_target: `{}` is already a target", r.name));
        }
        if !r.subject.contains('=') {
            return Err(format!(
                "scep_target: subject `{}` is not a distinguished name (CN=…)",
                r.subject
            ));
        }
        for san in &r.subject_alternative_names {
            one_of("type", &san.kind, &["dns", "email", "uri", "upn"])
                .map_err(|m| format!("scep_target: subject_alternative_names: {m}"))?;
        }
        if r.key_size != 256 && r.key_size != 2048 {
            return Err(format!(
                "scep_target: key_size must be 256 (P-256) or 2048 (RSA), not {}",
                r.key_size
            ));
        }
        let validity = match r.validity {
            None => 60,
            Some(text) => {
                let d = duration(&text).map_err(|m| format!("scep_target: validity: {m}"))?;
                if d.months != 0 || d.millis <= 0 || d.millis % 60_000 != 0 {
                    return Err(format!(
                        "scep_target: validity `{text}` must be whole minutes (PT1H, PT90M)"
                    ));
                }
                (d.millis / 60_000).min(u32::MAX as i64) as u32
            }
        };
        Ok(ScepTargetSpec {
            name: r.name,
            tenant: r.tenant,
            subject: r.subject,
            subject_alternative_names: r
                .subject_alternative_names
                .into_iter()
                .map(|s| (s.kind, s.value))
                .collect(),
            key_usage: r.key_usage,
            key_size: r.key_size,
            extended_key_usage: r.extended_key_usage,
            validity_minutes: validity,
        })
    }

    /// The operator targets the device; the world keeps the challenge by the device's name.
    async fn run(spec: &ScepTargetSpec, world: &mut World) -> Result<String, StepError> {
        let tenant = world.tenant(&spec.tenant)?.id.clone();
        let body = wire::scep::CreateScepChallenge {
            device_id: spec.name.clone(),
            user_id: None,
            subject: spec.subject.clone(),
            subject_alternative_names: spec
                .subject_alternative_names
                .iter()
                .map(|(kind, value)| wire::scep::SanSpec {
                    kind: kind.clone(),
                    value: value.clone(),
                })
                .collect(),
            key_usage: spec.key_usage.clone(),
            key_size: spec.key_size,
            extended_key_usage: spec.extended_key_usage.clone(),
            validity_minutes: Some(spec.validity_minutes),
        };
        let answer = world
            .app
            .admin(
                Method::POST,
                &format!("/admin/tenants/{tenant}/scep/challenges"),
                Some(&body),
            )
            .await?;
        if answer.status != 201 {
            return Err(StepError::Invalid(format!(
                "scep_target `{}` was refused ({}): {}",
                spec.name, answer.status, answer.body
            )));
        }
        let id = answer.body["id"].as_str().unwrap_or_default().to_owned();
        let challenge = answer.body["challenge"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let expires = answer.body["expiresDateTime"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // The device's key pair, made once (RSA key generation is slow).
        let key = connector_sim::pki::KeyPool::new()
            .generate(if spec.key_size == 2048 {
                connector_sim::pki::KeyAlgorithm::Rsa2048
            } else {
                connector_sim::pki::KeyAlgorithm::P256
            })
            .map_err(anyhow::Error::from)?;
        world.scep_targets.insert(
            spec.name.clone(),
            Targeted {
                spec: spec.clone(),
                id,
                challenge,
                key,
                last_transaction: None,
            },
        );
        Ok(format!(
            "{} targeted by a SCEP profile; challenge expires {expires}",
            spec.name
        ))
    }
}
