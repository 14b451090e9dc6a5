//! `scep_validate = { connector, challenge | target, spoil, expect }`: a connector's SCEP module
//! asks the service to validate a device's certificate request: a P-256 CSR with `challenge` as
//! its challengePassword (none when absent), or the request `target`'s profile asks for, spoiled
//! as `spoil` says. `expect` is the code of the answer: a SCEP wire code
//! (`ChallengePasswordMissing`, …) or the error code of a refusal (`FeatureNotInstalled`,
//! `LegacyVersionCannotIssue`, …).

use serde::Deserialize;

use super::kind::{Check, StepKind};
use crate::runner::profiles;
use crate::runner::world::{mismatch, StepError, World};
use crate::spec::values::one_of;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScepValidateSpec {
    pub connector: String,
    pub challenge: Option<String>,
    /// A `scep_target` name: the CSR then carries that challenge and matches its profile, except
    /// for what `spoil` names.
    pub target: Option<String>,
    pub spoil: Option<String>,
    pub expect: String,
}

/// What a CSR may get wrong on purpose in `scep_validate` and `scep_enroll`.
pub const SPOILS: &[&str] = &[
    "subject",
    "san",
    "key_usage",
    "key_size",
    "eku",
    "extension",
];

/// What a SCEP validation can answer: the 25 wire codes (docs/behaviour.md, "SCEP and the
/// third-party CA surface") and the refusals.
pub const SCEP_VALIDATE_CODES: &[&str] = &[
    "Unknown",
    "Success",
    "CertificateRequestDecodingFailed",
    "ChallengePasswordMissing",
    "ChallengeDeserializationError",
    "ChallengeDecryptionError",
    "ChallengeDecodingError",
    "ChallengeInvalidTimestamp",
    "ChallengeExpired",
    "SubjectNameMissing",
    "SubjectNameMismatch",
    "SubjectAltNameMissing",
    "SubjectAltNameMismatch",
    "KeyUsageMismatch",
    "KeyLengthMismatch",
    "EnhancedKeyUsageMissing",
    "EnhancedKeyUsageMismatch",
    "AadKeyIdentifierListMissing",
    "RegisteredKeyMismatch",
    "SigningCertThumbprintMismatch",
    "ScepProfileNoLongerTargetedToTheClient",
    "SignatureValidationFailed",
    "BadCertificateRequestIdInChallenge",
    "BadDeviceIdInChallenge",
    "BadUserIdInChallenge",
    "FeatureNotInstalled",
    "LegacyVersionCannotIssue",
    "ConnectorVersionRetired",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScepValidate {
    connector: String,
    challenge: Option<String>,
    target: Option<String>,
    spoil: Option<String>,
    expect: String,
}

pub(crate) struct ScepValidate;

impl StepKind for ScepValidate {
    type Raw = RawScepValidate;
    type Spec = ScepValidateSpec;

    fn check(r: RawScepValidate, cx: &mut Check) -> Result<ScepValidateSpec, String> {
        cx.installed(&r.connector)?;
        one_of("expect", &r.expect, SCEP_VALIDATE_CODES)
            .map_err(|m| format!("scep_validate: {m}"))?;
        if r.target.is_some() && r.challenge.is_some() {
            return Err("scep_validate: give `target` or `challenge`, not both".into());
        }
        if let Some(target) = &r.target {
            cx.target("scep_validate", target)?;
        }
        if let Some(spoil) = &r.spoil {
            if r.target.is_none() {
                return Err("scep_validate: `spoil` needs a `target`".into());
            }
            one_of("spoil", spoil, SPOILS).map_err(|m| format!("scep_validate: {m}"))?;
        }
        Ok(ScepValidateSpec {
            connector: r.connector,
            challenge: r.challenge,
            target: r.target,
            spoil: r.spoil,
            expect: r.expect,
        })
    }

    /// The connector's SCEP module sends the CSR for validation; the answer's code (or the
    /// refusal's error code) must be the one expected.
    async fn run(spec: &ScepValidateSpec, world: &mut World) -> Result<String, StepError> {
        use connector_sim::pki;
        let der = match &spec.target {
            None => {
                let key = pki::KeyPool::new()
                    .generate(pki::KeyAlgorithm::P256)
                    .map_err(anyhow::Error::from)?;
                pki::certificate_request_with_challenge(
                    &key,
                    "CN=scep-device-0001",
                    spec.challenge.as_deref(),
                    vec![],
                )
                .map_err(anyhow::Error::from)?
            }
            Some(name) => {
                let target = world
                    .scep_targets
                    .get(name)
                    .ok_or_else(|| StepError::Invalid(format!("no scep_target `{name}`")))?;
                profiles::scep_request(
                    &target.spec,
                    &target.key,
                    &target.challenge,
                    spec.spoil.as_deref(),
                )?
            }
        };
        let transaction_id = format!("scep-{}", spec.connector);
        let connector = world.connector_mut(&spec.connector)?;
        let actual = match connector.scep_validate(&transaction_id, &der).await {
            Ok(answer) => answer.code,
            Err(connector_sim::ClientError::Http { code, .. }) if !code.is_empty() => code,
            Err(e) => return Err(StepError::Harness(anyhow::anyhow!("validateRequest: {e}"))),
        };
        if actual != spec.expect {
            return Err(mismatch(
                format!(
                    "the SCEP validation by {} answered otherwise",
                    spec.connector
                ),
                spec.expect.clone(),
                actual,
            ));
        }
        Ok(format!(
            "{} validated a SCEP request: {actual}",
            spec.connector
        ))
    }
}
