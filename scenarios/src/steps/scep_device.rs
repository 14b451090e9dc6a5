//! A SCEP device talking to a connector's SCEP endpoint, shared by `scep_enroll` and
//! `scep_poll` (not a step kind of its own).

use connector_sim::scep::message::{self, ClientRequest, ContentCipher, Digest, MessageType};
use connector_sim::scep::Outcome as Enrolled;

use crate::runner::world::{mismatch, StepError, World};

/// What came of a SCEP enrollment or poll, besides a refusing validation code.
pub(super) const ENROLL_OUTCOMES: &[&str] = &["issued", "pending", "failed"];

/// Sends one device pkiMessage (RSA-2048 signer, AES-256-CBC, SHA-256) to the connector's
/// endpoint; returns what came of it (`issued`, `pending`, `failed` or the refusing code) and
/// a detail, after checking that the CertRep's pkiStatus says the same.
pub(super) async fn send(
    world: &mut World,
    connector: &str,
    target_name: &str,
    message_type: MessageType,
    content: &[u8],
    transaction_id: &str,
) -> Result<(String, String), StepError> {
    let endpoint = world.scep_endpoint(connector).await?;
    let target = world
        .scep_targets
        .get(target_name)
        .ok_or_else(|| StepError::Invalid(format!("no scep_target `{target_name}`")))?;
    if target.spec.key_size != 2048 {
        return Err(StepError::Invalid(format!(
            "SCEP devices sign with RSA; scep_target `{target_name}` has key_size {}",
            target.spec.key_size
        )));
    }
    let now = world.app.now();
    let signer = connector_sim::pki::self_signed(&target.key, "SCEP SIGNER", now)
        .map_err(anyhow::Error::from)?;
    let body = ClientRequest {
        message_type,
        content,
        transaction_id,
        signer: &signer,
        signer_key: &target.key,
        ra: endpoint.ra_certificate(),
        cipher: ContentCipher::Aes256Cbc,
        digest: Digest::Sha256,
    }
    .build()
    .map_err(|e| StepError::Harness(anyhow::anyhow!("building the pkiMessage: {e}")))?;
    let reply = endpoint.pki_operation(&body).await.map_err(|e| {
        StepError::Harness(anyhow::anyhow!(
            "the SCEP endpoint refused the message: {e}"
        ))
    })?;
    let rep = message::read_cert_rep(&reply)
        .map_err(|e| StepError::Harness(anyhow::anyhow!("the CertRep does not read: {e}")))?;
    let (actual, detail) = match endpoint.last_outcome() {
        Some(Enrolled::Issued { serial }) => ("issued".to_owned(), format!("certificate {serial}")),
        Some(Enrolled::Refused { code }) => (code.clone(), format!("refused: {code}")),
        Some(Enrolled::Failed { reason }) => ("failed".to_owned(), reason),
        Some(Enrolled::Pending { reason }) => ("pending".to_owned(), reason),
        None => ("nothing".to_owned(), "no outcome".to_owned()),
    };
    let status = match actual.as_str() {
        "issued" => "0",
        "pending" => "3",
        _ => "2",
    };
    if rep.status != status {
        return Err(mismatch(
            format!("the CertRep's pkiStatus for `{target_name}` ({detail})"),
            status,
            rep.status,
        ));
    }
    Ok((actual, detail))
}
