//! `scep_poll = { connector, target, expect }`: the device of `target` polls (CertPoll) for the
//! request its last `scep_enroll` left PENDING; `expect` is `issued`, `pending` or `failed`.

use connector_sim::scep::message::MessageType;
use serde::Deserialize;

use super::kind::{Check, StepKind};
use super::scep_device::{self, ENROLL_OUTCOMES};
use crate::runner::world::{mismatch, StepError, World};
use crate::spec::values::one_of;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScepPollSpec {
    pub connector: String,
    pub target: String,
    pub expect: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScepPoll {
    connector: String,
    target: String,
    expect: String,
}

pub(crate) struct ScepPoll;

impl StepKind for ScepPoll {
    type Raw = RawScepPoll;
    type Spec = ScepPollSpec;

    fn check(r: RawScepPoll, cx: &mut Check) -> Result<ScepPollSpec, String> {
        cx.installed(&r.connector)?;
        cx.target("scep_poll", &r.target)?;
        one_of("expect", &r.expect, ENROLL_OUTCOMES).map_err(|m| format!("scep_poll: {m}"))?;
        Ok(ScepPollSpec {
            connector: r.connector,
            target: r.target,
            expect: r.expect,
        })
    }

    /// The device polls under its last enrollment's transaction.
    async fn run(spec: &ScepPollSpec, world: &mut World) -> Result<String, StepError> {
        let transaction_id = world
            .scep_targets
            .get(&spec.target)
            .and_then(|t| t.last_transaction.clone())
            .ok_or_else(|| {
                StepError::Invalid(format!(
                    "scep_poll: `{}` has not enrolled yet (no scep_enroll before this step)",
                    spec.target
                ))
            })?;
        // messageData of a CertPoll: IssuerAndSubject; the endpoint goes by the transaction.
        let subject = openssl::x509::X509Name::builder()
            .and_then(|mut b| {
                b.append_entry_by_text("CN", &spec.target)?;
                Ok(b.build())
            })
            .and_then(|n| n.to_der())
            .map_err(anyhow::Error::from)?;
        let (actual, detail) = scep_device::send(
            world,
            &spec.connector,
            &spec.target,
            MessageType::CertPoll,
            &subject,
            &transaction_id,
        )
        .await?;
        if actual != spec.expect {
            return Err(mismatch(
                format!(
                    "the SCEP poll of `{}` through {} came out otherwise: {detail}",
                    spec.target, spec.connector
                ),
                spec.expect.clone(),
                actual,
            ));
        }
        Ok(format!(
            "{} polled {}: {detail}",
            spec.target, spec.connector
        ))
    }
}
