//! `scep_enroll = { connector, target, challenge, spoil, expect }`: a device enrolls through the
//! connector's SCEP endpoint (PKCSReq, RSA-2048, AES-256/SHA-256) with `target`'s profile and
//! challenge (or `challenge` instead), spoiled as `spoil` says. `expect`: `issued`, `pending`
//! (the CA could not be reached), `failed` (Intune could not be asked or the CA failed) or the
//! validation code that refused it (`ChallengeExpired`, …).

use connector_sim::scep::message::MessageType;
use serde::Deserialize;

use super::kind::{Check, StepKind};
use super::scep_device::{self, ENROLL_OUTCOMES};
use super::scep_validate::{SCEP_VALIDATE_CODES, SPOILS};
use crate::runner::profiles;
use crate::runner::world::{mismatch, PkiNeed, StepError, World};
use crate::spec::values::one_of;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScepEnrollSpec {
    pub connector: String,
    pub target: String,
    pub challenge: Option<String>,
    pub spoil: Option<String>,
    pub expect: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScep {
    connector: String,
    target: String,
    challenge: Option<String>,
    spoil: Option<String>,
    expect: String,
}

pub(crate) struct ScepEnroll;

impl StepKind for ScepEnroll {
    type Raw = RawScep;
    type Spec = ScepEnrollSpec;

    fn check(r: RawScep, cx: &mut Check) -> Result<ScepEnrollSpec, String> {
        cx.installed(&r.connector)?;
        cx.target("scep_enroll", &r.target)?;
        if !ENROLL_OUTCOMES.contains(&r.expect.as_str()) {
            one_of("expect", &r.expect, SCEP_VALIDATE_CODES)
                .map_err(|m| format!("scep_enroll: {m} (or issued, pending, failed)"))?;
        }
        if let Some(spoil) = &r.spoil {
            one_of("spoil", spoil, SPOILS).map_err(|m| format!("scep_enroll: {m}"))?;
        }
        Ok(ScepEnrollSpec {
            connector: r.connector,
            target: r.target,
            challenge: r.challenge,
            spoil: r.spoil,
            expect: r.expect,
        })
    }

    async fn run(spec: &ScepEnrollSpec, world: &mut World) -> Result<String, StepError> {
        let now = world.app.now();
        let target = world
            .scep_targets
            .get(&spec.target)
            .ok_or_else(|| StepError::Invalid(format!("no scep_target `{}`", spec.target)))?;
        let challenge = spec.challenge.as_deref().unwrap_or(&target.challenge);
        let csr =
            profiles::scep_request(&target.spec, &target.key, challenge, spec.spoil.as_deref())?;
        let transaction_id = format!("{}-{}", spec.target, now.timestamp_millis());
        if let Some(target) = world.scep_targets.get_mut(&spec.target) {
            target.last_transaction = Some(transaction_id.clone());
        }
        let (actual, detail) = scep_device::send(
            world,
            &spec.connector,
            &spec.target,
            MessageType::PkcsReq,
            &csr,
            &transaction_id,
        )
        .await?;
        if actual != spec.expect {
            return Err(mismatch(
                format!(
                    "the SCEP enrollment of `{}` through {} came out otherwise: {detail}",
                    spec.target, spec.connector
                ),
                spec.expect.clone(),
                actual,
            ));
        }
        Ok(format!(
            "{} enrolled through {}: {detail}",
            spec.target, spec.connector
        ))
    }

    fn pki(_spec: &ScepEnrollSpec) -> PkiNeed {
        PkiNeed::Cas
    }
}
